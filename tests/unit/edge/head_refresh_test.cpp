#include "edge/cache/head_refresh.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;

namespace {
constexpr const char* kLm = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char* kLater = "Mon, 07 Nov 1994 08:49:37 GMT";
}  // namespace

TEST_CASE("a strong stored ETag decides whether a HEAD response matches", "[head_refresh]") {
    const Validators stored{R"("a")", kLm, 1024};
    CHECK(head_matches_stored(stored, {R"("a")", kLm, 1024}));
    CHECK(head_matches_stored(stored, {R"("a")", kLater, std::nullopt}));  // ETag decides
    CHECK_FALSE(head_matches_stored(stored, {R"("b")", kLm, 1024}));
    CHECK_FALSE(head_matches_stored(stored, {R"(W/"a")", kLm, 1024}));  // not strongly equal
    CHECK_FALSE(head_matches_stored(stored, {"", kLm, 1024}));          // no ETag any more
}

TEST_CASE("without a strong ETag, Last-Modified decides, then a weak ETag", "[head_refresh]") {
    CHECK(head_matches_stored({"", kLm, std::nullopt}, {"", kLm, std::nullopt}));
    CHECK_FALSE(head_matches_stored({"", kLm, std::nullopt}, {"", kLater, std::nullopt}));
    CHECK_FALSE(head_matches_stored({"", kLm, std::nullopt}, {R"("a")", "", std::nullopt}));
    CHECK(head_matches_stored({R"(W/"a")", kLm, std::nullopt}, {R"(W/"b")", kLm, std::nullopt}));
    CHECK(head_matches_stored({R"(W/"a")", "", std::nullopt}, {R"(W/"a")", "", std::nullopt}));
    CHECK_FALSE(head_matches_stored({R"(W/"a")", "", std::nullopt}, {R"(W/"b")", "", 1}));
}

TEST_CASE("no validators match none, and Content-Length must agree when both have it",
          "[head_refresh]") {
    CHECK(head_matches_stored({"", "", 10}, {"", "", 10}));
    CHECK(head_matches_stored({"", "", 10}, {"", "", std::nullopt}));
    CHECK_FALSE(head_matches_stored({"", "", std::nullopt}, {R"("a")", "", std::nullopt}));
    CHECK_FALSE(head_matches_stored({R"("a")", kLm, 10}, {R"("a")", kLm, 11}));
}
