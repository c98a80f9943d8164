// Response rate limiting (geodns/server/rrl.hpp) on a manual clock: burst then rate, slip order,
// prefix grouping, answers counted apart, exemptions, a bounded table and clock steps.
#include "geodns/server/rrl.hpp"

#include "tests/support/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <string>
#include <vector>

using namespace cdn::geodns;
using namespace std::chrono_literals;
using boost::asio::ip::make_address;
using cdn::test::ManualClock;

namespace {

constexpr std::uint16_t kA = 1, kTxt = 16, kNoError = 0, kNxDomain = 3;

RrlOptions options(unsigned rate, unsigned burst, unsigned slip) {
    RrlOptions o;
    o.responses_per_second = rate;
    o.burst = burst;
    o.slip = slip;
    return o;
}

// One flow: a source asking for one name and type, answered NOERROR.
struct Flow {
    Rrl& rrl;
    const ManualClock& clock;
    std::string source = "192.0.2.7";
    std::uint64_t name = 1001;
    std::uint16_t qtype = kA;
    std::uint16_t rcode = kNoError;
    RrlVerdict ask() const {
        return rrl.check(make_address(source), rcode, qtype, name, clock.now()).verdict;
    }
    // How many of n asks are sent.
    int sent_of(int n) const {
        int sent = 0;
        for (int i = 0; i < n; ++i)
            sent += ask() == RrlVerdict::send ? 1 : 0;
        return sent;
    }
};

}  // namespace

TEST_CASE("rrl: a flow gets its burst at once, then the rate", "[geodns][rrl]") {
    Rrl rrl(options(10, 5, 0), 42);
    ManualClock clock;
    Flow f{rrl, clock};
    CHECK(f.sent_of(5) == 5);
    CHECK(f.ask() == RrlVerdict::drop);
    clock.advance(100ms);  // one interval at 10/s
    CHECK(f.ask() == RrlVerdict::send);
    CHECK(f.ask() == RrlVerdict::drop);
    clock.advance(10s);  // the bucket refills to the burst, not beyond
    CHECK(f.sent_of(20) == 5);
    // Sustained: 1000 asks a second for 10 s get the rate (10/s) and nothing more.
    int sent = 0;
    for (int ms = 0; ms < 10000; ++ms) {
        clock.advance(1ms);
        sent += f.ask() == RrlVerdict::send ? 1 : 0;
    }
    CHECK(sent >= 99);
    CHECK(sent <= 101);
}

TEST_CASE("rrl: every slip-th response over the limit goes out truncated", "[geodns][rrl]") {
    ManualClock clock;
    auto over_limit = [&](unsigned slip) {
        Rrl rrl(options(1, 1, slip), 42);
        Flow f{rrl, clock};
        REQUIRE(f.ask() == RrlVerdict::send);
        std::string out;
        for (int i = 0; i < 6; ++i)
            out += f.ask() == RrlVerdict::slip ? 'S' : 'd';
        return out;
    };
    CHECK(over_limit(2) == "dSdSdS");  // BIND's default: every other one
    CHECK(over_limit(3) == "ddSddS");
    CHECK(over_limit(1) == "SSSSSS");  // Knot's default: all of them
    CHECK(over_limit(0) == "dddddd");  // never
}

TEST_CASE("rrl: clients are grouped by prefix", "[geodns][rrl]") {
    ManualClock clock;
    Rrl rrl(options(1, 1, 0), 42);
    auto first_ok = [&](const char* source) {
        return rrl.check(make_address(source), kNoError, kA, 1, clock.now()).verdict ==
               RrlVerdict::send;
    };
    // IPv4 /24: one bucket for the whole block, IPv4-mapped IPv6 included.
    CHECK(first_ok("192.0.2.7"));
    CHECK_FALSE(first_ok("192.0.2.200"));
    CHECK_FALSE(first_ok("::ffff:192.0.2.9"));
    CHECK(first_ok("192.0.3.7"));
    // IPv6 /56.
    CHECK(first_ok("2001:db8:0:ff::1"));
    CHECK_FALSE(first_ok("2001:db8:0:1::2"));
    CHECK(first_ok("2001:db8:0:100::1"));

    RrlOptions exact = options(1, 1, 0);
    exact.ipv4_prefix = 32;
    exact.ipv6_prefix = 128;
    Rrl per_address(exact, 42);
    auto ok = [&](const char* source) {
        return per_address.check(make_address(source), kNoError, kA, 1, clock.now()).verdict ==
               RrlVerdict::send;
    };
    CHECK(ok("192.0.2.7"));
    CHECK(ok("192.0.2.8"));
    CHECK_FALSE(ok("192.0.2.7"));
    CHECK(ok("2001:db8::1"));
    CHECK(ok("2001:db8::2"));
}

TEST_CASE("rrl: distinct answers are counted apart, errors together", "[geodns][rrl]") {
    ManualClock clock;
    Rrl rrl(options(1, 1, 0), 42);
    auto ok = [&](std::uint16_t rcode, std::uint16_t qtype, std::uint64_t name) {
        return rrl.check(make_address("198.51.100.1"), rcode, qtype, name, clock.now()).verdict ==
               RrlVerdict::send;
    };
    CHECK(ok(kNoError, kA, 1));
    CHECK_FALSE(ok(kNoError, kA, 1));
    CHECK(ok(kNoError, kA, 2));           // another name
    CHECK(ok(kNoError, kTxt, 1));         // another type
    CHECK(ok(kNxDomain, kA, 1));          // NXDOMAIN in that zone: its own bucket
    CHECK_FALSE(ok(kNxDomain, kTxt, 1));  // ... whatever the type (the name is the zone's)
    CHECK(ok(1, kA, 0));                  // FORMERR
    CHECK_FALSE(ok(5, kTxt, 7));          // REFUSED: every error shares the prefix's error bucket
    CHECK_FALSE(ok(4, 0, 0));             // NOTIMP
    CHECK(ok(2, kA, 0) == false);         // SERVFAIL
}

TEST_CASE("rrl: exempt prefixes are never limited", "[geodns][rrl]") {
    ManualClock clock;
    RrlOptions o = options(1, 1, 2);
    o.exempt = {"192.0.2.0/28", "2001:db8::/32"};
    Rrl rrl(o, 42);
    Flow inside{rrl, clock, "192.0.2.3"};
    CHECK(inside.sent_of(50) == 50);
    Flow v6{rrl, clock, "2001:db8:1::1"};
    CHECK(v6.sent_of(50) == 50);
    Flow outside{rrl, clock, "192.0.2.30"};  // same /24 bucket, but not exempt
    CHECK(outside.sent_of(50) == 0);         // the exempt neighbour spent the bucket
}

TEST_CASE("rrl: the table has a fixed size: spoofed sources churn it, never grow it",
          "[geodns][rrl]") {
    ManualClock clock;
    RrlOptions o = options(5, 5, 0);
    o.table_size = 100;  // rounded up to 128
    Rrl rrl(o, 42);
    CHECK(rrl.table_size() == 128);
    // A flow over its limit.
    Flow victim{rrl, clock, "203.0.113.1"};
    CHECK(victim.sent_of(10) == 5);
    // 20,000 one-shot spoofed sources at the same instant.
    int evicted = 0, sent = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::string src =
            "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".1";
        const RrlDecision d = rrl.check(make_address(src), kNoError, kA, 1, clock.now());
        sent += d.verdict == RrlVerdict::send ? 1 : 0;
        evicted += d.evicted ? 1 : 0;
    }
    // A newcomer gets its burst (but for the odd 16-bit tag that matches another flow's).
    CHECK(sent >= 19990);
    CHECK(rrl.used() <= 128);
    CHECK(evicted > 10000);  // the table was full: newcomers took others' slots
    // The bucket furthest over its limit is the last one taken: the victim is still limited.
    CHECK(victim.ask() == RrlVerdict::drop);
    clock.advance(1s);
    CHECK(victim.sent_of(10) == 5);
}

TEST_CASE("rrl: a clock that steps back does not lock a flow out", "[geodns][rrl]") {
    ManualClock clock;
    Rrl rrl(options(2, 2, 0), 42);
    Flow f{rrl, clock};
    CHECK(f.sent_of(5) == 2);
    clock.advance(-std::chrono::hours(1));
    CHECK(f.sent_of(5) == 2);                     // as if the bucket had refilled
    clock.advance(std::chrono::hours(24 * 400));  // past the 194-day wrap of the tick counter
    CHECK(f.sent_of(5) == 2);
}

TEST_CASE("rrl: a slip keeps the header and the question, sets TC and drops the rest",
          "[geodns][rrl]") {
    // id 0x1234, QR AA RD NXDOMAIN; 1 question (www.cdn.example A IN), 1 answer, 1 additional.
    std::vector<std::uint8_t> r = {0x12, 0x34, 0x85, 0x03, 0,   1,   0,   1,   0,   0, 0,
                                   1,    3,    'w',  'w',  'w', 3,   'c', 'd', 'n', 7, 'e',
                                   'x',  'a',  'm',  'p',  'l', 'e', 0,   0,   1,   0, 1};
    const std::size_t question_end = r.size();
    const std::vector<std::uint8_t> rest = {0xc0, 0x0c, 0, 1, 0,  1, 0,    0, 0, 20, 0, 4, 1, 2,
                                            3,    4,    0, 0, 41, 4, 0xd0, 0, 0, 0,  0, 0, 0};
    r.insert(r.end(), rest.begin(), rest.end());
    const std::size_t n = make_slip_response(r);
    REQUIRE(n == question_end);
    CHECK(r[0] == 0x12);
    CHECK(r[1] == 0x34);
    CHECK(r[2] == (0x85 | 0x02));  // TC added
    CHECK(r[3] == 0x03);           // RCODE kept
    CHECK(std::vector<std::uint8_t>(r.begin() + 4, r.begin() + 12) ==
          std::vector<std::uint8_t>{0, 1, 0, 0, 0, 0, 0, 0});

    // No question that can be kept: the header alone, QDCOUNT 0.
    std::vector<std::uint8_t> cut = {0xab, 0xcd, 0x81, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'a'};
    CHECK(make_slip_response(cut) == 12);
    CHECK(cut[5] == 0);
    CHECK(cut[2] == (0x81 | 0x02));
}
