#include "common/net.hpp"

#include <catch2/catch.hpp>

using namespace cdn;

TEST_CASE("endpoints parse", "[net]") {
    auto a = parse_endpoint("127.0.0.1:8080");
    REQUIRE(a.has_value());
    CHECK(to_string(*a) == "127.0.0.1:8080");
    auto b = parse_endpoint("[::1]:0");
    REQUIRE(b.has_value());
    CHECK(b->address().is_v6());
    CHECK(parse_endpoint("localhost:9")->address().to_string() == "127.0.0.1");
    CHECK(parse_endpoint(":80")->port() == 80);
    CHECK_FALSE(parse_endpoint("127.0.0.1").has_value());
    CHECK_FALSE(parse_endpoint("127.0.0.1:99999").has_value());
    CHECK_FALSE(parse_endpoint("example.com:80").has_value());
    CHECK_FALSE(parse_endpoint("[::1:80").has_value());
}

TEST_CASE("urls parse", "[net]") {
    auto u = parse_url("http://127.0.0.1:9000");
    REQUIRE(u.has_value());
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 9000);
    CHECK(u->path == "/");
    CHECK(u->authority() == "127.0.0.1:9000");
    auto v = parse_url("https://[::1]/x");
    REQUIRE(v.has_value());
    CHECK(v->host == "::1");
    CHECK(v->port == 443);
    CHECK(v->authority() == "[::1]");
    CHECK_FALSE(parse_url("ftp://x").has_value());
    CHECK_FALSE(parse_url("http://:80").has_value());
    CHECK_FALSE(parse_url("http://h:port").has_value());
}
