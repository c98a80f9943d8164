// W-TinyLFU as an eviction policy: the frequency sketch, admission by frequency, the SLRU, the
// hill-climbing window (its scan resistance in the memory store: s3fifo_policy_test.cpp).
#include "edge/storage/wtinylfu_policy.hpp"

#include "edge/config.hpp"
#include "edge/storage/memory_store.hpp"
#include "tests/unit/edge/test_objects.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <string>

using namespace cdn::edge::storage;

using cdn::edge::storage::test::hash_of;
using cdn::edge::storage::test::node_hash;
using cdn::edge::storage::test::Nodes;
using cdn::edge::storage::test::object;

TEST_CASE("W-TinyLFU sketch: counts, saturates at 15 plus the doorkeeper, halves", "[wtinylfu]") {
    FrequencySketch s(64);
    CHECK(s.sample_size() == 640);
    CHECK(s.frequency(42) == 0);
    s.increment(42);  // absorbed by the doorkeeper
    CHECK(s.frequency(42) == 1);
    for (int i = 0; i < 5; ++i)
        s.increment(42);
    CHECK(s.frequency(42) == 6);
    for (int i = 0; i < 30; ++i)
        s.increment(42);
    CHECK(s.frequency(42) == 16);  // 15 in the sketch + 1 in the doorkeeper
    CHECK(s.resets() == 0);
    // Fill the sample with other keys: one reset halves the counters and clears the doorkeeper.
    for (std::uint64_t k = 1000; s.resets() == 0; ++k)
        s.increment(k);
    CHECK(s.frequency(42) == 7);
    FrequencySketch plain(64, false);
    plain.increment(7);
    CHECK(plain.frequency(7) == 1);
}

TEST_CASE("W-TinyLFU: new objects enter the window, a frequent one wins admission", "[wtinylfu]") {
    Nodes ns;
    WTinyLfuSettings settings;
    settings.window_fraction = 0.1;
    settings.climb = false;
    WTinyLfuPolicy p(node_hash, 10, settings);  // window: 1 byte, main: 9
    CHECK(p.window_target() == 1);
    for (std::uint64_t h = 1; h <= 10; ++h)
        p.insert(ns.make(h), nullptr);
    CHECK(ns.nodes[9].queue == WTinyLfuPolicy::kWindow);
    // Filling: the window's overflow goes to probation while main has room; 10 stays.
    CHECK(ns.nodes[0].queue == WTinyLfuPolicy::kProbation);
    CHECK(ns.nodes[9].queue == WTinyLfuPolicy::kWindow);
    CHECK(p.probation_bytes() == 9);
    // Main is full: the window's candidate (seen once) ties with main's victim and loses.
    CHECK(p.evict() == &ns.nodes[9]);
    CHECK(p.size() == 9);
    // A candidate seen more often than main's victim replaces it.
    PolicyNode& hot = ns.make(100);
    p.insert(hot, nullptr);
    p.hit(hot);
    p.hit(hot);
    PolicyNode& next = ns.make(300);
    p.insert(next, nullptr);  // hot is now the window's LRU, over its share
    CHECK(p.frequency(hash_of(&hot)) > p.frequency(1));
    CHECK(p.evict() == &ns.nodes[0]);
    CHECK(hot.queue == WTinyLfuPolicy::kProbation);
    CHECK(hot.reused == 1);
    // A hit in probation moves to protected.
    p.hit(hot);
    CHECK(hot.queue == WTinyLfuPolicy::kProtected);
    // Cold candidates lose against a victim that is at least as frequent.
    PolicyNode& cold = ns.make(400);
    p.insert(cold, nullptr);
    CHECK(p.evict() == &next);
    CHECK(p.evict() == &cold);
    CHECK(cold.queue == 0);
    CHECK(p.size() == 9);
}

TEST_CASE("W-TinyLFU: protected is bounded at 80% of main's bytes", "[wtinylfu]") {
    Nodes ns;
    WTinyLfuSettings settings;
    settings.window_fraction = 0;
    settings.climb = false;
    WTinyLfuPolicy p(node_hash, 100, settings);
    CHECK(p.protected_target() == 80);
    for (std::uint64_t h = 1; h <= 10; ++h) {
        PolicyNode& n = ns.make(h, 10);
        p.insert(n, nullptr);  // window target 0: straight into probation (main has room)
        CHECK(n.queue == WTinyLfuPolicy::kProbation);
        p.hit(n);
    }
    CHECK(p.protected_bytes() == 80);
    CHECK(p.probation_bytes() == 20);
    CHECK(ns.nodes[0].queue == WTinyLfuPolicy::kProbation);  // demoted, the oldest
    CHECK(ns.nodes[9].queue == WTinyLfuPolicy::kProtected);
}

TEST_CASE("W-TinyLFU: erase is not an eviction, a replaced version keeps its queue", "[wtinylfu]") {
    Nodes ns;
    WTinyLfuPolicy p(node_hash, 100);
    PolicyNode& a = ns.make(1, 10);
    p.insert(a, nullptr);  // spills into probation: main has room
    p.hit(a);
    REQUIRE(a.queue == WTinyLfuPolicy::kProtected);
    const PolicyNode previous = a;
    p.erase(a);
    CHECK(p.size() == 0);
    CHECK(p.bytes() == 0);
    PolicyNode& a2 = ns.make(1, 20);
    p.insert(a2, &previous);
    CHECK(a2.queue == WTinyLfuPolicy::kProtected);
    CHECK(a2.reused == 1);
    CHECK(p.bytes() == 20);
    CHECK(p.evict() == &a2);
    CHECK(p.evict() == nullptr);
}

TEST_CASE("W-TinyLFU: the climber steps the window, reverses when hits fall, stays in 0..80%",
          "[wtinylfu]") {
    WTinyLfuSettings settings;
    settings.climb_sample = 100;
    WTinyLfuPolicy p(node_hash, 1000, settings);
    CHECK(p.window_target() == 10);
    Nodes ns;
    // A sample of 100 misses: the first step shrinks the window (Caffeine starts downwards),
    // clamped at 0.
    auto sample = [&](int hits) {
        for (int i = 0; i < 100; ++i) {
            PolicyNode& n = ns.make(ns.nodes.size() + 1);
            if (i < hits) {
                p.insert(n, nullptr);
                p.hit(n);  // one insert (a miss) and one hit: two requests
                ++i;
            } else {
                p.insert(n, nullptr);
            }
            while (p.bytes() > 1000)
                p.evict();
        }
    };
    sample(0);
    CHECK(p.climbs() == 1);
    CHECK(p.window_target() == 0);
    // Now the hit ratio falls: the climber reverses and grows the window.
    sample(100);  // 50% hits
    sample(0);
    CHECK(p.climbs() == 3);
    CHECK(p.window_target() > 0);
    const std::uint64_t grown = p.window_target();
    CHECK(grown <= 800);
    // Keeps growing while it does not hurt, and never past 80%.
    for (int i = 0; i < 100; ++i)
        sample(0);
    CHECK(p.window_target() >= grown);
    CHECK(p.window_target() <= 800);
}

TEST_CASE("W-TinyLFU names and config", "[wtinylfu][eviction_policy]") {
    CHECK(parse_policy_kind("w-tinylfu") == PolicyKind::wtinylfu);
    CHECK(to_string(PolicyKind::wtinylfu) == "w-tinylfu");
    CHECK(make_eviction_policy(PolicyKind::wtinylfu, 100, node_hash)->kind() ==
          PolicyKind::wtinylfu);
    using cdn::ConfigSection;
    using cdn::edge::load_edge_config;
    CHECK(load_edge_config(ConfigSection::parse("[cache]\npolicy = \"w-tinylfu\"\n", "t.toml"))
              .cache_policy == PolicyKind::wtinylfu);
}
