#include "common/units.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace std::chrono_literals;

TEST_CASE("durations parse with units", "[units]") {
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("30s") == 30s);
    CHECK(parse_duration("5m") == 5min);
    CHECK(parse_duration("1h30m") == 90min);
    CHECK(parse_duration("2d") == 48h);
    CHECK(parse_duration("45") == 45s);
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("abc"));
    CHECK_FALSE(parse_duration("5x"));
    CHECK_FALSE(parse_duration("-5s"));
    CHECK_FALSE(parse_duration("99999999999999999999d"));
}

TEST_CASE("sizes parse with binary and decimal units", "[units]") {
    CHECK(parse_size("512") == 512u);
    CHECK(parse_size("64KiB") == 65536u);
    CHECK(parse_size("256MiB") == 256u << 20);
    CHECK(parse_size("1GiB") == 1u << 30);
    CHECK(parse_size("10MB") == 10'000'000u);
    CHECK_FALSE(parse_size("ten"));
    CHECK_FALSE(parse_size("5 parsecs"));
    CHECK_FALSE(parse_size("99999999999TiB"));
    CHECK(format_size(256u << 20) == "256MiB");
    CHECK(format_size(1000) == "1000B");
}
