#include "edge/cache/cache_control.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;

TEST_CASE("directives are parsed case-insensitively", "[cache_control]") {
    const auto cc = parse_cache_control("Public, MAX-AGE=60, s-maxage=30, must-revalidate");
    CHECK(cc.public_);
    CHECK(cc.max_age == 60);
    CHECK(cc.s_maxage == 30);
    CHECK(cc.must_revalidate);
    CHECK_FALSE(cc.no_store);
    CHECK_FALSE(cc.invalid_max_age);
}

TEST_CASE("qualified no-cache and private still count", "[cache_control]") {
    const auto cc = parse_cache_control(R"(no-cache="Set-Cookie, X-Foo", private="a")");
    CHECK(cc.no_cache);
    CHECK(cc.private_);
}

TEST_CASE("the first of duplicate directives wins", "[cache_control]") {
    CHECK(parse_cache_control("max-age=10, max-age=20").max_age == 10);
}

TEST_CASE("malformed delta-seconds are invalid, not zero or garbage", "[cache_control]") {
    auto cc = parse_cache_control("max-age=abc");
    CHECK_FALSE(cc.max_age);
    CHECK(cc.invalid_max_age);
    cc = parse_cache_control("max-age=-5");
    CHECK(cc.invalid_max_age);
    cc = parse_cache_control("max-age");
    CHECK(cc.invalid_max_age);
    CHECK(parse_cache_control(R"(max-age="60")").max_age == 60);
}

TEST_CASE("huge values are capped at 2^31", "[cache_control]") {
    CHECK(parse_cache_control("max-age=99999999999999999999999").max_age == 2147483648);
}

TEST_CASE("stale extensions and request directives", "[cache_control]") {
    const auto cc = parse_cache_control(
        "stale-while-revalidate=30, stale-if-error=600, max-stale, min-fresh=5, only-if-cached");
    CHECK(cc.stale_while_revalidate == 30);
    CHECK(cc.stale_if_error == 600);
    CHECK(cc.max_stale);
    CHECK(cc.min_fresh == 5);
    CHECK(cc.only_if_cached);
}

TEST_CASE("garbage does not crash and sets nothing", "[cache_control]") {
    const auto cc = parse_cache_control(",,, =, ==5, \"unterminated, no-store");
    CHECK_FALSE(cc.max_age);
    const auto empty = parse_cache_control("");
    CHECK_FALSE(empty.no_store);
}
