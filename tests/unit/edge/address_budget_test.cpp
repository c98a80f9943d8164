// AddressResetBudget: the rapid-reset budget per client address (edge/http/address_budget.hpp),
// with a manual clock.
#include "edge/http/address_budget.hpp"

#include "tests/support/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

using cdn::edge::http::AddressResetBudget;
using cdn::test::ManualClock;
using namespace std::chrono_literals;

boost::asio::ip::address ip(const char* s) {
    return boost::asio::ip::make_address(s);
}

int take_all(AddressResetBudget& b, const char* addr, int at_most) {
    int n = 0;
    while (n < at_most && b.take(ip(addr)))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("address budget: a burst, then the refill rate", "[address_budget]") {
    ManualClock clock;
    AddressResetBudget b({.burst = 10, .rate = 2, .slots = 64}, clock);
    CHECK(b.has_budget(ip("192.0.2.1")));
    CHECK(take_all(b, "192.0.2.1", 100) == 10);
    CHECK_FALSE(b.has_budget(ip("192.0.2.1")));
    CHECK(b.has_budget(ip("192.0.2.2")));  // another address has its own bucket
    clock.advance(1s);
    CHECK(b.has_budget(ip("192.0.2.1")));
    CHECK(take_all(b, "192.0.2.1", 100) == 2);
    clock.advance(1h);  // never more than the burst
    CHECK(take_all(b, "192.0.2.1", 100) == 10);
}

TEST_CASE("address budget: after the wall clock steps back a bucket refills from the new time",
          "[address_budget]") {
    ManualClock clock;
    AddressResetBudget b({.burst = 10, .rate = 2, .slots = 64}, clock);
    CHECK(take_all(b, "192.0.2.1", 100) == 10);
    clock.advance(-1h);  // an NTP step back: nothing refilled...
    CHECK(take_all(b, "192.0.2.1", 100) == 0);
    clock.advance(2s);  // ...but the rate applies from there, not an hour later
    CHECK(take_all(b, "192.0.2.1", 100) == 4);
}

TEST_CASE("address budget: an IPv6 /64 is one client, an IPv4-mapped address is its IPv4",
          "[address_budget]") {
    ManualClock clock;
    AddressResetBudget b({.burst = 5, .rate = 1, .slots = 64}, clock);
    CHECK(take_all(b, "2001:db8:1:2::1", 3) == 3);
    CHECK(take_all(b, "2001:db8:1:2:ffff::9", 100) == 2);  // same /64
    CHECK(take_all(b, "2001:db8:1:3::1", 100) == 5);       // the next /64
    CHECK(take_all(b, "::ffff:198.51.100.7", 4) == 4);
    CHECK(take_all(b, "198.51.100.7", 100) == 1);
    CHECK(take_all(b, "::", 100) == 5);  // the /64 of zeros is not an IPv4 address
    CHECK(take_all(b, "0.0.0.0", 100) == 5);
}

TEST_CASE("address budget: fixed memory, and a full table gives up its least used entries",
          "[address_budget]") {
    ManualClock clock;
    AddressResetBudget b({.burst = 3, .rate = 1, .slots = 16}, clock);
    // One abuser, then many addresses that each take one token.
    CHECK(take_all(b, "203.0.113.66", 100) == 3);
    for (int i = 0; i < 5000; ++i) {
        const std::string a = "10." + std::to_string(i >> 16) + "." +
                              std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
        CHECK(b.take(ip(a.c_str())));
    }
    // Every other entry has 2 tokens left: the set of the abuser's entry always evicted one of
    // those instead, so the abuser is still out of tokens.
    CHECK(take_all(b, "203.0.113.66", 100) == 0);
}

TEST_CASE("address budget: shared by threads, no token is handed out twice", "[address_budget]") {
    ManualClock clock;
    AddressResetBudget b({.burst = 1000, .rate = 1, .slots = 64}, clock);
    std::atomic<int> taken{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i)
                if (b.take(ip("192.0.2.50"))) ++taken;
        });
    for (auto& t : threads)
        t.join();
    CHECK(taken == 1000);
}
