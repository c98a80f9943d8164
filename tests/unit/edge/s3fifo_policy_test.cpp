// S3-FIFO and LRU as eviction policies: pure policy behaviour on bare nodes, then what it means
// for the memory store (scan resistance, exact byte accounting under concurrent use).
#include "edge/storage/s3fifo_policy.hpp"

#include "edge/config.hpp"
#include "edge/storage/lru_policy.hpp"
#include "edge/storage/memory_store.hpp"
#include "tests/unit/edge/test_objects.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <deque>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::edge::storage;

using cdn::edge::storage::test::hash_of;
using cdn::edge::storage::test::node_hash;
using cdn::edge::storage::test::Nodes;
using cdn::edge::storage::test::object;

TEST_CASE("S3-FIFO: new objects enter small, one hit there earns main", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 10);  // small target: 1 byte
    PolicyNode& a = ns.make(1);
    PolicyNode& b = ns.make(2);
    p.insert(a, nullptr);
    p.insert(b, nullptr);
    CHECK(a.queue == S3FifoPolicy::kSmall);
    CHECK(p.small_size() == 2);
    p.hit(a);
    // Small is over its target: a (oldest, hit) moves to main, b (never hit) is the victim.
    CHECK(p.evict() == &b);
    CHECK(a.queue == S3FifoPolicy::kMain);
    CHECK(a.freq == 0);  // reset on the move
    CHECK(p.in_ghost(2));
    CHECK(p.size() == 1);
    CHECK(p.bytes() == 1);
}

TEST_CASE("S3-FIFO: a key in the ghost is readmitted straight into main", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 10);
    for (std::uint64_t h = 1; h <= 10; ++h)
        p.insert(ns.make(h), nullptr);
    PolicyNode* victim = p.evict();
    REQUIRE(victim);
    CHECK(hash_of(victim) == 1);  // FIFO: the oldest, never hit
    CHECK(victim->queue == 0);
    CHECK(p.in_ghost(1));
    CHECK(p.ghost_size() == 1);

    PolicyNode& again = ns.make(1);
    p.insert(again, nullptr);
    CHECK(again.queue == S3FifoPolicy::kMain);
    CHECK_FALSE(p.in_ghost(1));  // readmission takes it out of the ghost
    PolicyNode& stranger = ns.make(99);
    p.insert(stranger, nullptr);
    CHECK(stranger.queue == S3FifoPolicy::kSmall);
}

TEST_CASE("S3-FIFO: frequency saturates at 3, main gives a hit object freq more passes",
          "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 100);
    // Put a, b, c in main through the ghost: insert, evict from small, insert again.
    std::vector<PolicyNode*> in_main;
    for (std::uint64_t h : {1, 2, 3}) {
        PolicyNode& first = ns.make(h);
        p.insert(first, nullptr);
        REQUIRE(p.evict() == &first);
        PolicyNode& n = ns.make(h);
        p.insert(n, nullptr);
        REQUIRE(n.queue == S3FifoPolicy::kMain);
        in_main.push_back(&n);
    }
    PolicyNode& a = *in_main[0];  // the oldest in main
    for (int i = 0; i < 10; ++i)
        p.hit(a);
    CHECK(a.freq == S3FifoPolicy::kMaxFreq);
    // a is at the back but has freq 3: it goes to the front with 2, b and c (freq 0) go first.
    CHECK(p.evict() == in_main[1]);
    CHECK(a.freq == 2);
    CHECK(p.evict() == in_main[2]);
    CHECK(p.evict() == &a);  // two more passes use up its freq, then it goes
    CHECK(p.evict() == nullptr);
    CHECK(p.size() == 0);
    CHECK(p.bytes() == 0);
}

TEST_CASE("S3-FIFO: small is bounded at 10% of the bytes, not of the count", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 1000);
    CHECK(p.small_target() == 100);
    PolicyNode& hot = ns.make(1, 500);
    PolicyNode& cold = ns.make(2, 50);
    p.insert(hot, nullptr);
    p.insert(cold, nullptr);
    p.hit(hot);
    REQUIRE(p.evict() == &cold);  // hot was hit: it moves to main on the way
    CHECK(hot.queue == S3FifoPolicy::kMain);
    CHECK(p.main_bytes() == 500);
    // 450 bytes of one-hit wonders in small: above the target, so small is evicted first.
    for (std::uint64_t h = 10; h < 19; ++h)
        p.insert(ns.make(h, 50), nullptr);
    CHECK(p.small_bytes() == 450);
    for (int i = 0; i < 7; ++i) {
        PolicyNode* v = p.evict();
        REQUIRE(v);
        CHECK(hash_of(v) == 10 + static_cast<std::uint64_t>(i));
    }
    CHECK(p.small_bytes() == 100);
    CHECK(hot.queue == S3FifoPolicy::kMain);
    CHECK(p.ghost_size() <= p.size() + 1);  // bounded by what the shard held at the eviction
}

TEST_CASE("S3-FIFO: the freq > 1 variant needs two hits in small", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 10, S3FifoSettings{0.1, 2});
    PolicyNode& once = ns.make(1);
    PolicyNode& twice = ns.make(2);
    p.insert(once, nullptr);
    p.insert(twice, nullptr);
    p.hit(once);
    p.hit(twice);
    p.hit(twice);
    CHECK(p.evict() == &once);
    CHECK(twice.queue == S3FifoPolicy::kSmall);
    p.insert(ns.make(3), nullptr);
    CHECK(hash_of(p.evict()) == 3);  // twice moved to main on the way
    CHECK(twice.queue == S3FifoPolicy::kMain);
}

TEST_CASE("S3-FIFO: erase is not an eviction, a replaced version keeps its standing", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 100);
    PolicyNode& a = ns.make(1);
    p.insert(a, nullptr);
    p.erase(a);
    CHECK_FALSE(p.in_ghost(1));
    CHECK(p.size() == 0);

    PolicyNode& first = ns.make(2);
    p.insert(first, nullptr);
    REQUIRE(p.evict() == &first);
    PolicyNode& v1 = ns.make(2, 5);
    p.insert(v1, nullptr);
    REQUIRE(v1.queue == S3FifoPolicy::kMain);
    p.hit(v1);
    const PolicyNode previous = v1;
    p.erase(v1);
    PolicyNode& v2 = ns.make(2, 7);
    p.insert(v2, &previous);
    CHECK(v2.queue == S3FifoPolicy::kMain);
    CHECK(v2.freq == 1);
    CHECK(p.main_bytes() == 7);
}

TEST_CASE("S3-FIFO: the ghost is bounded by the objects in the shard", "[s3fifo]") {
    Nodes ns;
    S3FifoPolicy p(node_hash, 100);
    for (std::uint64_t h = 1; h <= 20; ++h)
        p.insert(ns.make(h), nullptr);
    for (std::uint64_t h = 1000; h < 1100; ++h) {  // a stream of one-hit wonders
        p.insert(ns.make(h), nullptr);
        REQUIRE(p.evict());
    }
    CHECK(p.size() == 20);
    CHECK(p.ghost_size() <= 20);
    CHECK(p.ghost_size() >= 18);
    CHECK(p.in_ghost(1079));     // recent
    CHECK_FALSE(p.in_ghost(1));  // long gone
}

TEST_CASE("LRU: a hit moves to the front, the back is the victim", "[lru]") {
    Nodes ns;
    LruPolicy p(node_hash);
    PolicyNode& a = ns.make(1);
    PolicyNode& b = ns.make(2);
    PolicyNode& c = ns.make(3);
    p.insert(a, nullptr);
    p.insert(b, nullptr);
    p.insert(c, nullptr);
    p.hit(a);
    CHECK(p.evict() == &b);
    CHECK(p.evict() == &c);
    CHECK(p.evict() == &a);
    CHECK(p.evict() == nullptr);
}

TEST_CASE("policy names", "[eviction_policy]") {
    CHECK(parse_policy_kind("s3fifo") == PolicyKind::s3fifo);
    CHECK(parse_policy_kind("lru") == PolicyKind::lru);
    CHECK_FALSE(parse_policy_kind("LRU"));
    CHECK(to_string(PolicyKind::s3fifo) == "s3fifo");
    CHECK(make_eviction_policy(PolicyKind::lru, 100, node_hash)->kind() == PolicyKind::lru);
    CHECK(make_eviction_policy(PolicyKind::s3fifo, 100, node_hash)->kind() == PolicyKind::s3fifo);
}

TEST_CASE("cache.policy picks the memory tier's policy", "[eviction_policy]") {
    using cdn::ConfigSection;
    using cdn::edge::load_edge_config;
    CHECK(load_edge_config(ConfigSection::parse("[cache]\npolicy = \"lru\"\n", "t.toml"))
              .cache_policy == PolicyKind::lru);
    CHECK_THROWS_WITH(
        load_edge_config(ConfigSection::parse("[cache]\npolicy = \"arc\"\n", "t.toml")),
        Catch::Matchers::Contains("cache.policy"));
}

TEST_CASE("a hot set survives a long scan under S3-FIFO and W-TinyLFU, not under LRU",
          "[s3fifo][wtinylfu][memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::s3fifo_tlfu,
                                       PolicyKind::wtinylfu, PolicyKind::lru);
    INFO("policy: " << to_string(policy));
    const std::uint64_t one = object("hot00", 1000)->charge();
    MemoryStore s(one * 100, 1, policy);
    const auto hot = [](int i) { return "hot" + std::to_string(100 + i); };
    for (int i = 0; i < 50; ++i)
        REQUIRE(s.insert(object(hot(i), 1000)));
    // W-TinyLFU's sketch counts the hot set's accesses only after its doorkeeper: one more look.
    const int rounds = policy == PolicyKind::wtinylfu ? 3 : 2;
    for (int round = 0; round < rounds; ++round)
        for (int i = 0; i < 50; ++i)
            REQUIRE(s.lookup(hot(i)));
    // A scan ten times the cache, every object requested once (a miss, then stored).
    for (int i = 0; i < 1000; ++i) {
        const std::string key = "scan" + std::to_string(10000 + i);
        CHECK_FALSE(s.lookup(key));
        s.insert(object(key, 1000));
    }
    int survivors = 0;
    for (int i = 0; i < 50; ++i)
        survivors += s.lookup(hot(i)) ? 1 : 0;
    if (policy != PolicyKind::lru)
        CHECK(survivors == 50);
    else
        CHECK(survivors == 0);
    CHECK(s.bytes() <= s.capacity());
}

TEST_CASE("byte accounting stays exact under eviction pressure from 4 threads",
          "[s3fifo][memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru, PolicyKind::wtinylfu,
                                       PolicyKind::s3fifo_tlfu);
    INFO("policy: " << to_string(policy));
    // 400 keys of ~250-650 bytes each against 32 KiB in 4 shards: constant eviction, ghost
    // readmissions, replacements of cached keys and removals, all racing.
    MemoryStore s(32 << 10, 4, policy);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&s, t] {
            std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(t + 1);
            for (int i = 0; i < 20000; ++i) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                const std::uint64_t k = (x % 8 == 0) ? x % 400 : x % 40;  // a hot 10%
                const std::string key = "k" + std::to_string(k);
                switch ((x >> 20) % 8) {
                    case 0: s.remove(key); break;
                    case 1:
                    case 2: s.insert(object(key, 100 + (x >> 32) % 400)); break;
                    default:
                        if (!s.lookup(key)) s.insert(object(key, 100 + (x >> 32) % 400));
                }
            }
        });
    }
    for (auto& th : threads)
        th.join();
    CHECK(s.evictions() > 1000);
    std::uint64_t bytes = 0, count = 0;
    for (int i = 0; i < 400; ++i) {
        if (auto o = s.lookup(fmt::format("k{}", i))) {
            bytes += o->charge();
            ++count;
        }
    }
    CHECK(s.objects() == count);
    CHECK(s.bytes() == bytes);
    CHECK(s.bytes() <= s.capacity());
}

TEST_CASE("an explicit charge replaces the object's own", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru, PolicyKind::wtinylfu,
                                       PolicyKind::s3fifo_tlfu);
    INFO("policy: " << to_string(policy));
    MemoryStore s(10'000, 1, policy);
    auto o = CachedObject::make("synthetic");
    CHECK(s.insert(o, 4000));
    CHECK(s.bytes() == 4000);
    CHECK_FALSE(s.insert(o, 10'001));  // larger than the shard: refused, the old one stays
    CHECK(s.bytes() == 4000);
    CHECK(s.insert(o, 9000));  // replaces
    CHECK(s.bytes() == 9000);
    CHECK(s.objects() == 1);
    CHECK(s.remove("synthetic"));
    CHECK(s.bytes() == 0);
}

TEST_CASE("ghost: its map shrinks when its limit falls, and keeps the newest entries", "[s3fifo]") {
    GhostFifo g;
    for (std::uint64_t h = 1; h <= 5000; ++h)
        g.remember(h * 0x9e3779b97f4a7c15ull, 5000);
    CHECK(g.size() == 5000);
    const std::size_t grown = g.map_slots();
    CHECK(grown >= 5000);
    // The shard now holds few objects (a burst of small ones has left): the limit falls.
    for (std::uint64_t h = 5001; h <= 5100; ++h)
        g.remember(h * 0x9e3779b97f4a7c15ull, 20);
    CHECK(g.size() == 20);
    CHECK(g.map_slots() < grown / 8);
    for (std::uint64_t h = 5081; h <= 5100; ++h)
        CHECK(g.contains(h * 0x9e3779b97f4a7c15ull));
    CHECK_FALSE(g.contains(5080 * 0x9e3779b97f4a7c15ull));
    CHECK_FALSE(g.contains(1 * 0x9e3779b97f4a7c15ull));
}
