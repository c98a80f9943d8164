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

TEST_CASE("entity-tags hold commas and obs-text, and are compared weakly or strongly",
          "[conditional]") {
    // A comma inside an opaque-tag is part of it, not a list separator.
    CHECK(if_none_match_matches(R"("x", "a,b")", R"("a,b")"));
    CHECK_FALSE(if_none_match_matches(R"("a", "b")", R"("a,b")"));
    // obs-text (bytes 0x80-0xFF) is allowed in etagc.
    const std::string utf8 = "\"caf\xc3\xa9\"";
    CHECK(if_none_match_matches(utf8, utf8));
    CHECK(if_none_match_matches("W/" + utf8, utf8));
    // A backslash is an ordinary etagc: no escaping in entity-tags.
    CHECK(if_none_match_matches(R"("a\", "b")", R"("a\")"));
    // Empty list elements and whitespace are allowed.
    CHECK(if_none_match_matches(R"( , "q" ,, "a" )", R"("a")"));
    // Malformed lists and stored values match nothing.
    CHECK_FALSE(if_none_match_matches(R"(a)", R"(a)"));
    CHECK_FALSE(if_none_match_matches(R"("a" "b")", R"("a")"));
    CHECK_FALSE(if_none_match_matches(R"("a)", R"("a")"));
    CHECK_FALSE(if_none_match_matches(R"("a")", "a"));
    CHECK_FALSE(if_none_match_matches("\"a\x7f\"", "\"a\x7f\""));
    // Section 8.8.3.2's table.
    const auto w1 = *parse_entity_tag(R"(W/"1")");
    const auto w2 = *parse_entity_tag(R"(W/"2")");
    const auto s1 = *parse_entity_tag(R"("1")");
    CHECK_FALSE(strong_match(w1, w1));
    CHECK(weak_match(w1, w1));
    CHECK_FALSE(strong_match(w1, w2));
    CHECK_FALSE(weak_match(w1, w2));
    CHECK_FALSE(strong_match(w1, s1));
    CHECK(weak_match(w1, s1));
    CHECK(strong_match(s1, s1));
    CHECK_FALSE(parse_entity_tag(R"(w/"1")"));
    CHECK_FALSE(parse_entity_tag(R"("1" x)"));
}
