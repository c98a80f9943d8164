#include "edge/cache/conditional.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;

TEST_CASE("If-None-Match uses weak comparison over a list", "[conditional]") {
    CHECK(if_none_match_matches(R"("a")", R"("a")"));
    CHECK(if_none_match_matches(R"(W/"a")", R"("a")"));
    CHECK(if_none_match_matches(R"("x", W/"a")", R"(W/"a")"));
    CHECK(if_none_match_matches("*", R"("a")"));
    CHECK_FALSE(if_none_match_matches(R"("b")", R"("a")"));
    CHECK_FALSE(if_none_match_matches(R"("a")", ""));
    CHECK_FALSE(if_none_match_matches("", R"("a")"));
}

TEST_CASE("If-Modified-Since applies only without If-None-Match", "[conditional]") {
    const char* lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    CHECK(not_modified("", lm, "", lm));
    CHECK(not_modified("", "Mon, 07 Nov 1994 08:49:37 GMT", "", lm));
    CHECK_FALSE(not_modified("", "Sat, 05 Nov 1994 08:49:37 GMT", "", lm));
    // If-None-Match present and not matching: If-Modified-Since is ignored.
    CHECK_FALSE(not_modified(R"("other")", lm, R"("a")", lm));
    // Garbage dates never match.
    CHECK_FALSE(not_modified("", "yesterday", "", lm));
    CHECK_FALSE(not_modified("", lm, "", ""));
}
