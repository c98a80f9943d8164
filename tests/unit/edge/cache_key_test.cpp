#include "edge/cache/cache_key.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;

TEST_CASE("the key is scheme, normalised host, path and query", "[cache_key]") {
    const KeyPolicy p;
    CHECK(make_cache_key("http", "Example.COM:80", "/a/b?x=1", p) == "http://example.com/a/b?x=1");
    CHECK(make_cache_key("http", "example.com:8080", "/", p) == "http://example.com:8080/");
    CHECK(make_cache_key("https", "example.com:443", "/", p) == "https://example.com/");
}

TEST_CASE("versioned URLs are distinct objects", "[cache_key]") {
    const KeyPolicy p;
    CHECK(make_cache_key("http", "h", "/app.js?v=1", p) !=
          make_cache_key("http", "h", "/app.js?v=2", p));
    CHECK(make_cache_key("http", "h", "/v1/app.js", p) !=
          make_cache_key("http", "h", "/v2/app.js", p));
    CHECK(make_cache_key("http", "a", "/x", p) != make_cache_key("http", "b", "/x", p));
}

TEST_CASE("query parameters can be sorted and dropped", "[cache_key]") {
    KeyPolicy p;
    p.sort_query = true;
    p.drop_query_params = {"utm_*", "fbclid"};
    CHECK(make_cache_key("http", "h", "/p?b=2&utm_source=x&a=1&fbclid=z", p) ==
          "http://h/p?a=1&b=2");
    CHECK(make_cache_key("http", "h", "/p?utm_medium=y", p) == "http://h/p");
    // Only whole names match: "fbclidx" is kept.
    CHECK(make_cache_key("http", "h", "/p?fbclidx=1", p) == "http://h/p?fbclidx=1");
    // Without the options the query is untouched, order included.
    CHECK(make_cache_key("http", "h", "/p?b=2&a=1", {}) == "http://h/p?b=2&a=1");
}
