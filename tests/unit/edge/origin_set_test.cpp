// OriginSet: balancing policies, exclusion, active/passive health, leases and concurrency.
// No connection is made: servers are addresses only.
#include "edge/upstream/origin_set.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <thread>
#include <vector>

using namespace cdn;
using namespace cdn::edge::upstream;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{std::chrono::seconds(1'700'000'000)};

std::vector<OriginServer> servers(std::size_t n) {
    std::vector<OriginServer> out;
    for (std::size_t i = 0; i < n; ++i) {
        const auto port = static_cast<std::uint16_t>(8001 + i);
        OriginServer s;
        s.url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/").value();
        s.endpoint = tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), port);
        out.push_back(std::move(s));
    }
    return out;
}

BreakerSettings breaker(unsigned threshold = 2, std::chrono::milliseconds reset = 10s) {
    BreakerSettings b;
    b.failure_threshold = threshold;
    b.reset_timeout = reset;
    return b;
}

// Picks n times (each lease released at once) and counts the chosen indexes.
std::map<std::size_t, int> distribution(OriginSet& set, int n,
                                        std::span<const std::size_t> exclude = {}) {
    std::map<std::size_t, int> counts;
    for (int i = 0; i < n; ++i) {
        const double r = (static_cast<double>(i) + 0.5) / static_cast<double>(n);
        auto lease = set.pick(t0, exclude, r);
        REQUIRE(lease);
        ++counts[lease->index()];
    }
    return counts;
}

void open_breaker(OriginSet& set, std::size_t index, TimePoint at = t0) {
    set.report(index, false, at);
    set.report(index, false, at);
    REQUIRE(set.breaker_state(index, at) == CircuitBreaker::State::open);
}

}  // namespace

TEST_CASE("OriginSet: balance policy names", "[origin_set]") {
    CHECK(parse_balance_policy("round_robin") == BalancePolicy::round_robin);
    CHECK(parse_balance_policy("least_outstanding") == BalancePolicy::least_outstanding);
    CHECK(parse_balance_policy("random") == BalancePolicy::random);
    CHECK_FALSE(parse_balance_policy("Random"));
    CHECK_FALSE(parse_balance_policy(""));
    CHECK_FALSE(parse_balance_policy("round-robin"));
    for (auto p :
         {BalancePolicy::round_robin, BalancePolicy::least_outstanding, BalancePolicy::random})
        CHECK(parse_balance_policy(balance_policy_name(p)) == p);
}

TEST_CASE("OriginSet: round robin rotates over the servers", "[origin_set]") {
    OriginSet set(servers(3), BalancePolicy::round_robin, breaker());
    CHECK(set.size() == 3);
    std::vector<std::size_t> order;
    for (int i = 0; i < 6; ++i)
        order.push_back(set.pick(t0, {}, 0.0)->index());
    CHECK(order == std::vector<std::size_t>{0, 1, 2, 0, 1, 2});
    const auto counts = distribution(set, 300);
    CHECK(counts.at(0) == 100);
    CHECK(counts.at(1) == 100);
    CHECK(counts.at(2) == 100);
}

TEST_CASE("OriginSet: round robin spreads evenly over the servers still eligible", "[origin_set]") {
    OriginSet set(servers(4), BalancePolicy::round_robin, breaker());
    set.set_healthy(1, false);
    const auto counts = distribution(set, 300);
    CHECK(counts.count(1) == 0);
    CHECK(counts.at(0) == 100);
    CHECK(counts.at(2) == 100);
    CHECK(counts.at(3) == 100);
}

TEST_CASE("OriginSet: least outstanding prefers the server with the fewest requests in flight",
          "[origin_set]") {
    OriginSet set(servers(3), BalancePolicy::least_outstanding, breaker());
    auto a = set.pick(t0, {}, 0.0);
    auto b = set.pick(t0, {}, 0.0);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->index() != b->index());
    const std::size_t free_one = 3 - a->index() - b->index();
    // Two in flight elsewhere: the idle server wins every time.
    for (int i = 0; i < 5; ++i) {
        auto c = set.pick(t0, {}, 0.0);
        REQUIRE(c);
        CHECK(c->index() == free_one);
    }
    // Hold two on one server, one on another: the third gets the next two.
    auto c = set.pick(t0, {}, 0.0);
    REQUIRE(c->index() == free_one);
    auto d = set.pick(t0, {}, 0.0);  // all at 1: any, held
    REQUIRE(d);
    auto e = set.pick(t0, {}, 0.0);
    REQUIRE(e);
    CHECK(e->index() != d->index());
    CHECK(set.outstanding(0) + set.outstanding(1) + set.outstanding(2) == 5);
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(set.outstanding(i) <= 2);
}

TEST_CASE("OriginSet: least outstanding rotates among equals", "[origin_set]") {
    OriginSet set(servers(3), BalancePolicy::least_outstanding, breaker());
    const auto counts = distribution(set, 300);  // nothing held: always a tie
    CHECK(counts.at(0) == 100);
    CHECK(counts.at(1) == 100);
    CHECK(counts.at(2) == 100);
}

TEST_CASE("OriginSet: random maps random01 onto the eligible servers", "[origin_set]") {
    OriginSet set(servers(4), BalancePolicy::random, breaker());
    CHECK(set.pick(t0, {}, 0.0)->index() == 0);
    CHECK(set.pick(t0, {}, 0.24)->index() == 0);
    CHECK(set.pick(t0, {}, 0.25)->index() == 1);
    CHECK(set.pick(t0, {}, 0.6)->index() == 2);
    CHECK(set.pick(t0, {}, 0.999)->index() == 3);
    // Out of range values are clamped.
    CHECK(set.pick(t0, {}, 1.0)->index() == 3);
    CHECK(set.pick(t0, {}, 7.0)->index() == 3);
    CHECK(set.pick(t0, {}, -1.0)->index() == 0);
    CHECK(set.pick(t0, {}, std::nan(""))->index() == 0);
    const auto counts = distribution(set, 400);  // evenly spread random01 values
    for (std::size_t i = 0; i < 4; ++i)
        CHECK(counts.at(i) == 100);
    // Over the eligible servers only.
    set.set_healthy(0, false);
    CHECK(set.pick(t0, {}, 0.0)->index() == 1);
    CHECK(set.pick(t0, {}, 0.5)->index() == 2);
    CHECK(set.pick(t0, {}, 0.9)->index() == 3);
}

TEST_CASE("OriginSet: excluded servers are not picked", "[origin_set]") {
    for (auto policy :
         {BalancePolicy::round_robin, BalancePolicy::least_outstanding, BalancePolicy::random}) {
        OriginSet set(servers(3), policy, breaker());
        const std::array<std::size_t, 1> tried{1};
        const auto counts = distribution(set, 100, tried);
        CHECK(counts.count(1) == 0);
        CHECK(counts.at(0) + counts.at(2) == 100);
        const std::array<std::size_t, 3> all{2, 0, 1};
        CHECK_FALSE(set.pick(t0, all, 0.5));
        const std::array<std::size_t, 2> two{2, 0};
        CHECK(set.pick(t0, two, 0.5)->index() == 1);
    }
}

TEST_CASE("OriginSet: unhealthy servers are skipped until marked healthy again", "[origin_set]") {
    OriginSet set(servers(2), BalancePolicy::round_robin, breaker());
    CHECK(set.healthy(0));
    set.set_healthy(0, false);
    CHECK_FALSE(set.healthy(0));
    for (int i = 0; i < 10; ++i)
        CHECK(set.pick(t0, {}, 0.0)->index() == 1);
    set.set_healthy(0, true);
    const auto counts = distribution(set, 10);
    CHECK(counts.at(0) == 5);
}

TEST_CASE("OriginSet: a server whose breaker is open is skipped", "[origin_set]") {
    OriginSet set(servers(2), BalancePolicy::round_robin, breaker(2, 10s));
    set.report(0, false, t0);
    CHECK(set.breaker_state(0, t0) == CircuitBreaker::State::closed);
    set.report(0, false, t0);
    CHECK(set.breaker_state(0, t0) == CircuitBreaker::State::open);
    for (int i = 0; i < 10; ++i)
        CHECK(set.pick(t0 + 1s, {}, 0.0)->index() == 1);
    // An out-of-range report is ignored.
    set.report(7, false, t0);
}

TEST_CASE("OriginSet: nothing available gives nullopt", "[origin_set]") {
    OriginSet set(servers(3), BalancePolicy::least_outstanding, breaker());
    set.set_healthy(0, false);
    open_breaker(set, 1);
    const std::array<std::size_t, 1> tried{2};
    CHECK_FALSE(set.pick(t0, tried, 0.0));
    set.set_healthy(2, false);
    CHECK_FALSE(set.pick(t0, {}, 0.0));

    OriginSet empty({}, BalancePolicy::round_robin, breaker());
    CHECK(empty.size() == 0);
    CHECK_FALSE(empty.pick(t0, {}, 0.0));
}

TEST_CASE("OriginSet: a half-open server gets one probe, and its outcome decides", "[origin_set]") {
    OriginSet set(servers(2), BalancePolicy::round_robin, breaker(2, 10s));
    set.set_healthy(1, false);
    open_breaker(set, 0);
    CHECK_FALSE(set.pick(t0 + 9s, {}, 0.0));
    const TimePoint later = t0 + 10s;
    CHECK(set.breaker_state(0, later) == CircuitBreaker::State::half_open);
    {
        auto probe = set.pick(later, {}, 0.0);
        REQUIRE(probe);
        CHECK(probe->index() == 0);
        CHECK_FALSE(set.pick(later, {}, 0.0));  // the probe is out
        set.report(0, false, later + 1s);
    }
    CHECK(set.breaker_state(0, later + 1s) == CircuitBreaker::State::open);
    CHECK_FALSE(set.pick(later + 10s, {}, 0.0));
    auto probe = set.pick(later + 11s, {}, 0.0);
    REQUIRE(probe);
    set.report(0, true, later + 11s);
    CHECK(set.breaker_state(0, later + 11s) == CircuitBreaker::State::closed);
    CHECK(set.pick(later + 11s, {}, 0.0));
    CHECK(set.pick(later + 11s, {}, 0.0));
}

TEST_CASE("OriginSet: servers that are not chosen keep their half-open probe slot",
          "[origin_set]") {
    for (auto policy :
         {BalancePolicy::round_robin, BalancePolicy::least_outstanding, BalancePolicy::random}) {
        OriginSet set(servers(3), policy, breaker(2, 10s));
        open_breaker(set, 1);
        open_breaker(set, 2);
        const TimePoint later = t0 + 10s;
        // All three are eligible; a fresh set's first pick (rotation at 0, random01 0) takes
        // server 0, looking at 1 and 2 on the way without taking their probe slots.
        auto first = set.pick(later, {}, 0.0);
        REQUIRE(first);
        CHECK(first->index() == 0);
        const std::array<std::size_t, 2> not1{0, 2};
        const std::array<std::size_t, 2> not2{0, 1};
        auto probe1 = set.pick(later, not1, 0.0);
        REQUIRE(probe1);
        CHECK(probe1->index() == 1);
        auto probe2 = set.pick(later, not2, 0.0);
        REQUIRE(probe2);
        CHECK(probe2->index() == 2);
        // Now both probes are out.
        CHECK_FALSE(set.pick(later, not1, 0.0));
        CHECK_FALSE(set.pick(later, not2, 0.0));
        const std::array<std::size_t, 1> not0{0};
        CHECK_FALSE(set.pick(later, not0, 0.0));
        for (int i = 0; i < 10; ++i)
            CHECK(set.pick(later, {}, 0.7)->index() == 0);
    }
}

TEST_CASE("OriginSet: only one of many concurrent pickers gets the half-open probe",
          "[origin_set]") {
    OriginSet set(servers(2), BalancePolicy::round_robin, breaker(2, 10s));
    open_breaker(set, 1);
    const TimePoint later = t0 + 10s;
    const std::array<std::size_t, 1> not0{0};
    std::atomic<int> got{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            while (!go.load()) {
            }
            for (int i = 0; i < 100; ++i)
                if (auto lease = set.pick(later, not0, 0.0)) got.fetch_add(1);
        });
    }
    go = true;
    for (auto& th : threads)
        th.join();
    CHECK(got.load() == 1);
    CHECK(set.outstanding(1) == 0);
}

TEST_CASE("OriginSet: a lease holds the outstanding count until it is destroyed", "[origin_set]") {
    OriginSet set(servers(2), BalancePolicy::round_robin, breaker());
    {
        auto a = set.pick(t0, {}, 0.0);
        REQUIRE(a);
        CHECK(a->index() == 0);
        CHECK(a->server().endpoint.port() == 8001);
        CHECK(&a->server() == &set.server(0));
        CHECK(set.outstanding(0) == 1);

        // Moving keeps one count.
        OriginSet::Lease moved(std::move(*a));
        CHECK(set.outstanding(0) == 1);
        a.reset();  // the moved-from lease releases nothing
        CHECK(set.outstanding(0) == 1);
        CHECK(moved.index() == 0);

        auto b = set.pick(t0, {}, 0.0);
        REQUIRE(b);
        CHECK(b->index() == 1);
        CHECK(set.outstanding(1) == 1);

        // Move-assigning releases the lease being overwritten.
        moved = std::move(*b);
        CHECK(set.outstanding(0) == 0);
        CHECK(set.outstanding(1) == 1);
        CHECK(moved.index() == 1);
        b.reset();
        CHECK(set.outstanding(1) == 1);

        // Self-move-assignment keeps it.
        OriginSet::Lease& alias = moved;
        moved = std::move(alias);
        CHECK(set.outstanding(1) == 1);

        std::vector<OriginSet::Lease> v;
        for (int i = 0; i < 10; ++i)
            v.push_back(std::move(*set.pick(t0, {}, 0.0)));  // vector growth moves leases
        CHECK(set.outstanding(0) == 5);
        CHECK(set.outstanding(1) == 6);
    }
    CHECK(set.outstanding(0) == 0);
    CHECK(set.outstanding(1) == 0);
}

TEST_CASE("OriginSet: concurrent picks and releases leave nothing outstanding", "[origin_set]") {
    for (auto policy :
         {BalancePolicy::round_robin, BalancePolicy::least_outstanding, BalancePolicy::random}) {
        OriginSet set(servers(3), policy, breaker(1'000'000, 10s));
        std::atomic<int> picked{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&set, &picked, t] {
                std::vector<OriginSet::Lease> held;
                for (int i = 0; i < 5000; ++i) {
                    const double r = static_cast<double>((i * 7 + t) % 100) / 100.0;
                    auto lease = set.pick(t0, {}, r);
                    if (!lease) continue;
                    picked.fetch_add(1, std::memory_order_relaxed);
                    set.report(lease->index(), i % 3 != 0, t0);
                    if (i % 4 == 0) held.push_back(std::move(*lease));
                    if (held.size() > 8) held.clear();
                }
            });
        }
        for (auto& th : threads)
            th.join();
        CHECK(picked.load() == 4 * 5000);
        for (std::size_t i = 0; i < set.size(); ++i)
            CHECK(set.outstanding(i) == 0);
    }
}

TEST_CASE("a single origin has no breaker: there is nowhere else to go", "[origin_set]") {
    OriginSet set(servers(1), BalancePolicy::round_robin, breaker(2, 10s));
    const TimePoint now{};
    for (int i = 0; i < 10; ++i)
        set.report(0, false, now);
    CHECK(set.breaker_state(0, now) == CircuitBreaker::State::closed);
    CHECK(set.pick(now, {}, 0.0).has_value());
    // Health checks still apply: the operator asked for them.
    set.set_healthy(0, false);
    CHECK_FALSE(set.pick(now, {}, 0.0).has_value());
}
