// S3-FIFO with a TinyLFU gate and a size gate (the default policy): the gates on bare nodes, the
// ghost's size, and the policy's names. Scan resistance and byte accounting under concurrent use
// run in s3fifo_policy_test.cpp for every policy; the storage suite runs the store with it.
#include "edge/storage/s3tlfu_policy.hpp"

#include "edge/config.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/storage/s3fifo_policy.hpp"
#include "tests/unit/edge/test_objects.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::storage;

using cdn::edge::storage::test::hash_of;
using cdn::edge::storage::test::node_hash;
using cdn::edge::storage::test::Nodes;

namespace {

// Inserts `n` and lets the policy evict until at most `capacity` bytes are held, as the store
// does; returns the victims' hashes.
std::vector<std::uint64_t> admit(EvictionPolicy& p, PolicyNode& n, std::uint64_t capacity) {
    std::vector<std::uint64_t> victims;
    while (p.bytes() + n.charge > capacity)
        victims.push_back(hash_of(p.evict()));
    p.insert(n, nullptr);
    return victims;
}

}  // namespace

TEST_CASE("s3fifo-tlfu is the default and has a name", "[s3tlfu][eviction_policy]") {
    CHECK(parse_policy_kind("s3fifo-tlfu") == PolicyKind::s3fifo_tlfu);
    CHECK(to_string(PolicyKind::s3fifo_tlfu) == "s3fifo-tlfu");
    CHECK(make_eviction_policy(PolicyKind::s3fifo_tlfu, 100, node_hash)->kind() ==
          PolicyKind::s3fifo_tlfu);
    CHECK(MemoryStore(1 << 20).policy() == PolicyKind::s3fifo_tlfu);
    using cdn::ConfigSection;
    using cdn::edge::load_edge_config;
    CHECK(load_edge_config(ConfigSection::parse("", "t.toml")).cache_policy ==
          PolicyKind::s3fifo_tlfu);
    CHECK(load_edge_config(ConfigSection::parse("[cache]\npolicy = \"s3fifo\"\n", "t.toml"))
              .cache_policy == PolicyKind::s3fifo);
}

TEST_CASE("size gate: a large new object is the next victim unless hit or seen in the ghost",
          "[s3tlfu]") {
    // Small FIFO 50 bytes, gate at 20% of it: objects above 10 bytes are gated.
    S3TinyLfuPolicy p(node_hash, 100, {.small_fraction = 0.5, .size_gate = 0.2});
    Nodes n;
    PolicyNode& a = n.make(1, 5);
    PolicyNode& b = n.make(2, 10);  // at the gate, not above it
    PolicyNode& big = n.make(3, 20);
    p.insert(a, nullptr);
    p.insert(b, nullptr);
    p.insert(big, nullptr);
    CHECK(p.evict() == &big);  // the newest, yet first out
    CHECK(p.in_ghost(3));
    // Asked for again while remembered: straight to main, and it stays.
    PolicyNode& big_again = n.make(3, 20);
    p.insert(big_again, nullptr);
    CHECK(big_again.queue == S3TinyLfuPolicy::kMain);
    CHECK(big_again.reused == 1);
    CHECK(p.evict() == &a);  // small's oldest; the large object in main is not touched
    // A gated object hit before the next eviction is promoted like any other.
    PolicyNode& big2 = n.make(4, 20);
    p.insert(big2, nullptr);
    p.hit(big2);
    CHECK(p.evict() == &b);
    CHECK(big2.queue == S3TinyLfuPolicy::kMain);
    CHECK(p.main_bytes() == 40);

    SECTION("the gate off: the same object enters at the front") {
        S3TinyLfuPolicy off(node_hash, 100, {.small_fraction = 0.5, .size_gate = 0});
        Nodes m;
        PolicyNode& x = m.make(1, 5);
        PolicyNode& y = m.make(3, 20);
        off.insert(x, nullptr);
        off.insert(y, nullptr);
        CHECK(off.evict() == &x);
    }
}

TEST_CASE(
    "size gate: gated objects leave oldest first, so a full cache of large objects turns over",
    "[s3tlfu]") {
    // Every object is over the gate (small FIFO 5 bytes, gate 1 byte); room for three.
    S3TinyLfuPolicy p(node_hash, 30, {.small_fraction = 0.5, .size_gate = 0.2});
    Nodes n;
    std::vector<std::uint64_t> victims;
    for (std::uint64_t k = 1; k <= 6; ++k)
        for (auto v : admit(p, n.make(k, 10), 30))
            victims.push_back(v);
    CHECK(victims == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(p.gated_size() == 3);
    CHECK(p.bytes() == 30);
}

TEST_CASE("TinyLFU gate: an unhit object the sketch counts often goes to main, not the ghost",
          "[s3tlfu]") {
    S3TinyLfuPolicy p(node_hash, 100, {.small_fraction = 0.1, .size_gate = 0});
    Nodes n;
    // m reaches main (hit while small); x, never hit and with no history, goes to the ghost.
    PolicyNode& m = n.make(10);
    PolicyNode& x = n.make(11);
    p.insert(m, nullptr);
    p.insert(x, nullptr);
    p.hit(m);
    CHECK(p.evict() == &x);
    CHECK(p.in_ghost(11));
    CHECK(m.queue == S3TinyLfuPolicy::kMain);
    // Key 7 was asked for five times before (stored, then dropped by the store: no ghost entry),
    // more often than m (twice).
    for (int i = 0; i < 5; ++i) {
        PolicyNode& earlier = n.make(7);
        p.insert(earlier, nullptr);
        p.erase(earlier);
    }
    CHECK(p.frequency(7) > p.frequency(10));
    PolicyNode& popular = n.make(7);
    p.insert(popular, nullptr);
    CHECK(popular.queue == S3TinyLfuPolicy::kSmall);
    // Unhit at small's back, it wins the duel with main's next victim (m) and moves to main; m
    // is evicted instead.
    CHECK(p.evict() == &m);
    CHECK(popular.queue == S3TinyLfuPolicy::kMain);
    CHECK_FALSE(p.in_ghost(7));
    // A key with less history than main's victim loses the duel.
    PolicyNode& rare = n.make(12);
    p.insert(rare, nullptr);
    CHECK(p.evict() == &rare);
    CHECK(p.in_ghost(12));

    SECTION("the gate off: S3-FIFO's rule, the unhit object is evicted") {
        S3TinyLfuPolicy off(node_hash, 100,
                            {.small_fraction = 0.1, .size_gate = 0, .tinylfu_gate = false});
        Nodes k;
        for (int i = 0; i < 5; ++i) {
            PolicyNode& earlier = k.make(7);
            off.insert(earlier, nullptr);
            off.erase(earlier);
        }
        PolicyNode& mm = k.make(10);
        off.insert(mm, nullptr);
        off.hit(mm);
        PolicyNode& pop = k.make(7);
        off.insert(pop, nullptr);
        CHECK(off.evict() == &pop);  // mm is promoted first (hit), then pop goes
    }
}

TEST_CASE("the ghost remembers 1.25x what S3-FIFO's does", "[s3tlfu]") {
    S3TinyLfuPolicy tlfu(node_hash, 1000, {.size_gate = 0});
    S3FifoPolicy s3(node_hash, 1000);
    Nodes a, b;
    for (std::uint64_t k = 0; k < 5000; ++k) {
        admit(tlfu, a.make(k * 7919 + 1), 1000);
        admit(s3, b.make(k * 7919 + 1), 1000);
    }
    INFO("ghost " << tlfu.ghost_size() << " vs " << s3.ghost_size());
    CHECK(s3.ghost_size() >= 890);
    CHECK(tlfu.ghost_size() * 4 >= s3.ghost_size() * 5 - 8);
    CHECK(tlfu.ghost_size() * 4 <= s3.ghost_size() * 5 + 8);
    CHECK(tlfu.bytes() <= 1000);
}

TEST_CASE("hits are counted in the sketch in batches, before anything reads it", "[s3tlfu]") {
    S3TinyLfuPolicy p(node_hash, 1000, {.small_fraction = 0.1, .size_gate = 0});
    Nodes n;
    PolicyNode& a = n.make(1, 10);
    PolicyNode& b = n.make(2, 10);
    p.insert(a, nullptr);  // the first access only sets the doorkeeper's bits
    p.insert(b, nullptr);
    CHECK(p.frequency(1) == 1);
    // Fewer hits than a batch: still counted once the sketch is read.
    for (int i = 0; i < 3; ++i)
        p.hit(a);
    CHECK(p.frequency(1) == 4);
    // More than a batch, interleaved with another key's hits: each counted once, in order.
    for (int i = 0; i < 40; ++i) {
        p.hit(a);
        if (i % 4 == 0) p.hit(b);
    }
    CHECK(p.frequency(1) == 16);  // saturated: 15 in the counters + the doorkeeper
    CHECK(p.frequency(2) == 11);
    // An insert counts after the hits before it, as if each had been counted at once.
    PolicyNode& c = n.make(3, 10);
    p.hit(b);
    p.insert(c, nullptr);
    CHECK(p.frequency(2) == 12);
    CHECK(p.frequency(3) == 1);
}
