// Parent selection by weighted rendezvous hashing (OriginSet::pick_hashed): the same owner
// whatever the configured order, an even (or weighted) spread, ~1/N of the keys moving when one of
// N members leaves, failover in the key's order, and the ramp-up of a member that comes back.
#include "edge/upstream/hrw.hpp"
#include "edge/upstream/origin_set.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace cdn;
using namespace cdn::edge::upstream;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{std::chrono::seconds(1'700'000'000)};

OriginServer server(std::uint16_t port) {
    OriginServer s;
    s.url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/").value();
    s.endpoint = tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), port);
    return s;
}

std::vector<OriginServer> servers(std::vector<std::uint16_t> ports) {
    std::vector<OriginServer> out;
    for (auto p : ports)
        out.push_back(server(p));
    return out;
}

OriginSet parent_set(std::vector<std::uint16_t> ports, std::vector<double> weights = {},
                     std::chrono::milliseconds ramp = 0ms) {
    return OriginSet(
        servers(std::move(ports)), BalancePolicy::round_robin, BreakerSettings{2, 10s},
        SetOptions{.breakers_always = true, .weights = std::move(weights), .ramp_up = ramp});
}

// The owner's port for a key.
std::uint16_t owner(OriginSet& set, std::uint64_t key_hash, TimePoint now = t0) {
    auto lease = set.pick_hashed(key_hash, now, {});
    REQUIRE(lease);
    return lease->server().url.port;
}

std::uint64_t key(int i) {
    return hrw_key_hash("http|cdn.example|/obj/" + std::to_string(i));
}

}  // namespace

TEST_CASE("hrw: the owner does not depend on the order members are listed in", "[hrw]") {
    auto a = parent_set({8001, 8002, 8003, 8004});
    auto b = parent_set({8004, 8002, 8001, 8003});
    for (int i = 0; i < 2000; ++i)
        REQUIRE(owner(a, key(i)) == owner(b, key(i)));
}

TEST_CASE("hrw: keys spread evenly, and by weight", "[hrw]") {
    constexpr int kKeys = 30000;
    auto even = parent_set({8001, 8002, 8003});
    std::map<std::uint16_t, int> n;
    for (int i = 0; i < kKeys; ++i)
        ++n[owner(even, key(i))];
    for (const auto& [port, count] : n) {
        INFO(port << ": " << count);
        CHECK(std::abs(count - kKeys / 3) < kKeys / 3 / 20);  // within 5 %
    }
    auto weighted = parent_set({8001, 8002, 8003}, {2, 1, 1});
    n.clear();
    for (int i = 0; i < kKeys; ++i)
        ++n[owner(weighted, key(i))];
    INFO(n[8001] << " " << n[8002] << " " << n[8003]);
    CHECK(std::abs(n[8001] - kKeys / 2) < kKeys / 2 / 20);
    CHECK(std::abs(n[8002] - kKeys / 4) < kKeys / 4 / 10);
}

TEST_CASE("hrw: when one of N members leaves, only its keys move, each to its next member",
          "[hrw]") {
    constexpr int kKeys = 20000;
    auto four = parent_set({8001, 8002, 8003, 8004});
    auto three = parent_set({8001, 8002, 8004});  // 8003 left
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
        const auto before = owner(four, key(i));
        const auto after = owner(three, key(i));
        if (before != 8003) {
            REQUIRE(after == before);  // nobody else's keys move
        } else {
            ++moved;
            // Its keys go where the failover order said they would.
            auto first = four.pick_hashed(key(i), t0, {});
            const std::size_t excluded[] = {first->index()};
            auto next = four.pick_hashed(key(i), t0, excluded);
            REQUIRE(next);
            CHECK(next->server().url.port == after);
        }
    }
    // About a quarter of the keys.
    CHECK(moved > kKeys / 4 - kKeys / 40);
    CHECK(moved < kKeys / 4 + kKeys / 40);
}

TEST_CASE("hrw: a member whose breaker is open is skipped, its keys come back, ramped up",
          "[hrw]") {
    constexpr int kKeys = 20000;
    auto set = parent_set({8001, 8002}, {}, 30s);
    std::vector<int> owned_by_first;
    for (int i = 0; i < kKeys; ++i)
        if (owner(set, key(i)) == 8001) owned_by_first.push_back(i);
    // Two failures open 8001's breaker: every key goes to 8002.
    set.report(0, false, t0);
    set.report(0, false, t0);
    for (int i : owned_by_first)
        REQUIRE(owner(set, key(i), t0 + 1s) == 8002);
    // After the reset timeout one probe is let through, it succeeds and the breaker closes.
    TimePoint back = t0 + 11s;
    {
        auto probe = set.pick_hashed(key(owned_by_first.front()), back, {});
        REQUIRE(probe);
        REQUIRE(probe->index() == 0);
        set.report(0, true, back);
    }
    auto share_at = [&](TimePoint now) {
        int n = 0;
        for (int i : owned_by_first)
            if (owner(set, key(i), now) == 8001) ++n;
        return static_cast<double>(n) / static_cast<double>(owned_by_first.size());
    };
    // At first it takes back a slice (weight 10 %: about 10 % / 110 % of a half), then more,
    // and all of them once the ramp is over.
    const double early = share_at(back + 1s);
    const double middle = share_at(back + 15s);
    const double done = share_at(back + 31s);
    INFO(early << " " << middle << " " << done);
    CHECK(early > 0.02);
    CHECK(early < 0.3);
    CHECK(middle > early);
    CHECK(middle < 1.0);
    CHECK(done == 1.0);
    // A health check that marks it up again (with a time) ramps it too.
    set.set_healthy(0, false, back + 40s);
    set.set_healthy(0, true, back + 41s);
    CHECK(share_at(back + 42s) < 0.3);
    // A reload carrying marks over (no time) does not.
    set.set_healthy(0, false);
    set.set_healthy(0, true);
    CHECK(set.effective_weight(0, back + 42s) < 1.0);  // still the ramp from +41s
}

TEST_CASE("hrw: no eligible member means no pick", "[hrw]") {
    auto set = parent_set({8001});
    set.set_healthy(0, false);
    CHECK_FALSE(set.pick_hashed(key(1), t0, {}));
    set.set_healthy(0, true);
    const std::size_t all[] = {0};
    CHECK_FALSE(set.pick_hashed(key(1), t0, all));
    CHECK(set.pick_hashed(key(1), t0, {}));
}

TEST_CASE("hrw: bounded loads spread a hot key past its owner, never past this edge", "[hrw]") {
    auto set = parent_set({8001, 8002, 8003});
    const std::uint64_t k = key(7);
    bool spilled = true;
    auto first = set.pick_bounded(k, t0, 1.25, SIZE_MAX, &spilled);
    REQUIRE(first);
    CHECK_FALSE(spilled);
    const std::size_t owner = first->index();
    // The owner holds one request: cap = ceil(1.25 * 2 / 3) = 1, so the next goes elsewhere.
    auto second = set.pick_bounded(k, t0, 1.25, SIZE_MAX, &spilled);
    REQUIRE(second);
    CHECK(spilled);
    CHECK(second->index() != owner);
    // Leases held: the loads spread evenly, none above the cap.
    std::vector<OriginSet::Lease> held;
    for (int i = 0; i < 30; ++i)
        held.push_back(*set.pick_bounded(k, t0, 1.25, SIZE_MAX));
    for (std::size_t i = 0; i < 3; ++i) {
        INFO(i << ": " << set.outstanding(i));
        CHECK(set.outstanding(i) <= static_cast<std::size_t>(std::ceil(1.25 * 33 / 3.0)));
    }
    // This edge itself (self) is never over the cap: it takes what the others cannot.
    auto mine = set.pick_bounded(k, t0, 1.0, owner == 0 ? 1 : 0);
    REQUIRE(mine);
}
