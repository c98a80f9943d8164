#include "common/http_date.hpp"

#include <catch2/catch.hpp>

using namespace cdn;

TEST_CASE("IMF-fixdate round trips", "[http_date]") {
    const TimePoint t{std::chrono::seconds(784111777)};  // Sun, 06 Nov 1994 08:49:37 GMT
    CHECK(format_http_date(t) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == t);
    const TimePoint y2k{std::chrono::seconds(951782400)};  // leap day 2000
    CHECK(format_http_date(y2k) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(parse_http_date(format_http_date(y2k)) == y2k);
}

TEST_CASE("obsolete date formats are accepted", "[http_date]") {
    const TimePoint t{std::chrono::seconds(784111777)};
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == t);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == t);
}

TEST_CASE("invalid dates are rejected", "[http_date]") {
    CHECK_FALSE(parse_http_date(""));
    CHECK_FALSE(parse_http_date("0"));
    CHECK_FALSE(parse_http_date("-1"));
    CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
}

TEST_CASE("dates outside what a time_point holds are clamped, not overflowed", "[http_date]") {
    // system_clock counts nanoseconds: years after 2262 or before 1677 used to overflow (UB).
    const auto far = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT");
    REQUIRE(far);
    CHECK(format_http_date(*far) == "Wed, 01 Jan 2200 00:00:00 GMT");
    const auto old = parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT");
    REQUIRE(old);
    CHECK(format_http_date(*old) == "Mon, 01 Jan 1900 00:00:00 GMT");
}
