// Tests for common/http_range (kept with origin_sim, its first user, until common's suite takes
// it).
#include "common/http_range.hpp"

#include <catch2/catch.hpp>

using namespace cdn::http_range;
using R = std::vector<ByteRange>;

TEST_CASE("single ranges: closed, open-ended, suffix, clipped", "[http_range]") {
    auto ok = [](std::string_view h, std::uint64_t size) {
        const RangeSet s = parse_range(h, size);
        REQUIRE(s.status == RangeStatus::satisfiable);
        return s.ranges;
    };
    CHECK(ok("bytes=0-99", 1000) == R{{0, 99}});
    CHECK(ok("bytes=500-", 1000) == R{{500, 999}});
    CHECK(ok("bytes=-100", 1000) == R{{900, 999}});
    CHECK(ok("bytes=-5000", 1000) == R{{0, 999}});       // suffix longer than the size
    CHECK(ok("bytes=900-5000", 1000) == R{{900, 999}});  // last clipped to the size
    CHECK(ok("bytes=999-999", 1000) == R{{999, 999}});
    CHECK(ok("BYTES=0-0", 1) == R{{0, 0}});  // the unit is case-insensitive
    CHECK(ok("bytes=0-18446744073709551615", 10) == R{{0, 9}});
    CHECK(ByteRange{10, 19}.length() == 10);
}

TEST_CASE("several ranges keep their order and unsatisfiable members are dropped", "[http_range]") {
    const RangeSet s = parse_range("bytes=0-9, 20-29 ,-5,5000-6000", 100);
    REQUIRE(s.status == RangeStatus::satisfiable);
    CHECK(s.ranges == R{{0, 9}, {20, 29}, {95, 99}});
    CHECK(parse_range("bytes=50-59,0-9", 100).ranges == R{{50, 59}, {0, 9}});
    CHECK(parse_range("bytes=0-1,,2-3", 100).ranges == R{{0, 1}, {2, 3}});
}

TEST_CASE("malformed headers are ignored", "[http_range]") {
    for (const char* h :
         {"", "bytes", "bytes=", "bytes=,", "items=0-1", "bytes 0-1", "bytes=a-b", "bytes=1-0",
          "bytes=-", "bytes=0-1,x", "bytes= 0-1;", "bytes=--1", "bytes=0--1", "bytes=+1-2",
          "bytes=0-99999999999999999999999", "bytes=1-2-3"}) {
        INFO(h);
        CHECK(parse_range(h, 1000).status == RangeStatus::ignore);
    }
}

TEST_CASE("unsatisfiable sets", "[http_range]") {
    CHECK(parse_range("bytes=1000-", 1000).status == RangeStatus::unsatisfiable);
    CHECK(parse_range("bytes=1000-2000,5000-", 1000).status == RangeStatus::unsatisfiable);
    CHECK(parse_range("bytes=-0", 1000).status == RangeStatus::unsatisfiable);
    CHECK(parse_range("bytes=0-0", 0).status == RangeStatus::unsatisfiable);
    // A zero-length representation: a non-zero suffix is "satisfiable" but selects nothing.
    CHECK(parse_range("bytes=-10", 0).status == RangeStatus::ignore);
}

TEST_CASE("too many or heavily overlapping ranges are ignored", "[http_range]") {
    std::string many = "bytes=";
    for (int i = 0; i < 101; ++i)
        many += std::to_string(i * 10) + "-" + std::to_string(i * 10) + ",";
    CHECK(parse_range(many, 100000).status == RangeStatus::ignore);
    CHECK(parse_range(many, 100000, 200).status == RangeStatus::satisfiable);
    CHECK(parse_range("bytes=0-10,5-15", 100).status == RangeStatus::satisfiable);
    CHECK(parse_range("bytes=0-10,5-15,8-20", 100).status == RangeStatus::ignore);
    CHECK(parse_range("bytes=0-,0-,0-", 100).status == RangeStatus::ignore);
}

TEST_CASE("Content-Range formatting and parsing", "[http_range]") {
    CHECK(format_content_range({0, 99}, 1000) == "bytes 0-99/1000");
    CHECK(format_unsatisfied_range(1000) == "bytes */1000");
    auto cr = parse_content_range("bytes 0-99/1000");
    REQUIRE(cr);
    CHECK(cr->range == ByteRange{0, 99});
    CHECK(cr->size == 1000u);
    cr = parse_content_range("bytes 5-9/*");
    REQUIRE(cr);
    CHECK(cr->range == ByteRange{5, 9});
    CHECK_FALSE(cr->size);
    cr = parse_content_range("bytes */1000");
    REQUIRE(cr);
    CHECK_FALSE(cr->range);
    CHECK(cr->size == 1000u);
    for (const char* bad : {"bytes */*", "bytes 9-5/10", "bytes 0-10/10", "items 0-1/2",
                            "bytes 0-1", "bytes a-1/2", "bytes -1/2"}) {
        INFO(bad);
        CHECK_FALSE(parse_content_range(bad));
    }
}
