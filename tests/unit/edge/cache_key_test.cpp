#include "edge/cache/cache_key.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;

TEST_CASE("the key is scheme, normalised host, path and query", "[cache_key]") {
    const KeyPolicy p;
    CHECK(make_cache_key("http", normalize_host("http", "Example.COM:80"), "/a/b?x=1", p) ==
          "http://example.com/a/b?x=1");
    CHECK(make_cache_key("http", normalize_host("http", "example.com:8080"), "/", p) ==
          "http://example.com:8080/");
    CHECK(make_cache_key("https", normalize_host("https", "example.com:443"), "/", p) ==
          "https://example.com/");
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

TEST_CASE("an authority is normalised to one spelling of a site", "[cache_key][authority]") {
    CHECK(parse_authority("http", "Example.COM") == "example.com");
    CHECK(parse_authority("http", "example.com.") == "example.com");  // the root label
    CHECK(parse_authority("http", "example.com.:8080") == "example.com:8080");
    CHECK(parse_authority("http", "example.com:80") == "example.com");
    CHECK(parse_authority("http", "example.com:080") == "example.com");
    CHECK(parse_authority("http", "example.com:") == "example.com");
    CHECK(parse_authority("http", "example.com:443") == "example.com:443");
    CHECK(parse_authority("https", "example.com:443") == "example.com");
    CHECK(parse_authority("https", "example.com:80") == "example.com:80");
    CHECK(parse_authority("http", "127.0.0.1:8080") == "127.0.0.1:8080");
    CHECK(parse_authority("http", "[::1]:8080") == "[::1]:8080");
    CHECK(parse_authority("http", "[2001:DB8::1]") == "[2001:db8::1]");
    CHECK(parse_authority("http", "under_score.example") == "under_score.example");
}

TEST_CASE("an authority that names no site is refused", "[cache_key][authority]") {
    for (const char* bad : {"",
                            ".",
                            "example.com:abc",
                            "example.com:0",
                            "example.com:65536",
                            "example.com:99999999",
                            "example.com:-1",
                            "example.com:80:80",
                            "user@example.com",
                            "exa mple.com",
                            "example..com",
                            ".example.com",
                            "example.com..",
                            "ex%41mple.com",
                            "example.com/",
                            "[::1",
                            "[]",
                            "[::1]x",
                            "[::1]:abc",
                            "[fe80::1%eth0]",
                            "example.com\t"}) {
        INFO("authority: \"" << bad << "\"");
        CHECK_FALSE(parse_authority("http", bad).has_value());
    }
    // normalize_host keeps its best effort for configuration and purge values.
    CHECK(normalize_host("http", "Example.COM.:80") == "example.com");
}

TEST_CASE("the unkeyed override fields are recognised in any case", "[cache_key]") {
    for (const char* f : {"X-Forwarded-Host", "x-original-url", "X-REWRITE-URL",
                          "X-HTTP-Method-Override", "Forwarded", "X-Forwarded-Proto"})
        CHECK(is_unkeyed_override(f));
    for (const char* f : {"X-Forwarded-For", "Host", "Accept", "X-Custom", "Via", "Cookie", ""})
        CHECK_FALSE(is_unkeyed_override(f));
}
