#pragma once
// Eviction policy: S3-FIFO with a TinyLFU gate and a size gate ("s3fifo-tlfu", the edge's
// default), byte-aware, for one memory shard. S3-FIFO's queues (s3fifo_policy.hpp) with three
// changes, each measured on the shared traces and on synthetic CDN traces (bench/README,
// "Eviction policies"):
//
//   frequency  a count-min sketch with a doorkeeper (FrequencySketch, frequency_sketch.hpp)
//              counts every insert and hit (hits in batches, in order, before the sketch is
//              read: see count_hits), and remembers a key's popularity far longer than the
//              ghost does (until the sketch's periodic halving ages it).
//   TinyLFU    small's back object that was not hit (S3-FIFO would evict it) still moves to main
//   gate       when the sketch says it is asked for more often than main's next victim. This
//              gives the mid-popular objects of a Zipf workload, whose requests come further
//              apart than the ghost remembers, the place in main W-TinyLFU's admission gives them.
//   size gate  a new object larger than `size_gate` of the small queue's bytes enters a FIFO of
//              its own that is evicted before anything else (oldest first): it stays only if hit
//              before its turn comes, or when asked for again while its hash is in the ghost (then
//              it goes to main). A large one-hit wonder thus displaces nothing; a reused large
//              object pays one more miss.
//   ghost      remembers 1.25x as many hashes as main holds objects (S3-FIFO: 1x); the small
//              queue is 5% of the shard's bytes (S3-FIFO: 10%).
//
// The trade-off, measured: the size gate raises the object hit ratio on every trace and lowers
// the byte hit ratio where large objects are reused (web_sample); bench/README has the tables.
// Per object: only the PolicyNode. Per shard: the sketch (10 to 20 bytes per object held) and
// the ghost. Not thread-safe: one instance per shard under the shard's lock. Pure: no clock,
// no I/O.
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/frequency_sketch.hpp"
#include "edge/storage/ghost_fifo.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace cdn::edge::storage {

struct S3TinyLfuSettings {
    double small_fraction = 0.05;  // share of the shard's bytes for the small FIFO
    double ghost_factor = 1.25;    // ghost hashes per object in main
    double size_gate = 0.01;   // share of small's bytes above which a new object is gated; 0 off
    bool tinylfu_gate = true;  // small's unhit victims duel main's next victim
};

class S3TinyLfuPolicy final : public EvictionPolicy {
  public:
    static constexpr std::uint64_t kSmall = 1;
    static constexpr std::uint64_t kMain = 2;
    static constexpr std::uint64_t kGated = 3;
    static constexpr unsigned kMaxFreq = 3;

    S3TinyLfuPolicy(NodeHash hasher, std::uint64_t capacity_bytes, S3TinyLfuSettings settings = {});

    using EvictionPolicy::hit;
    using EvictionPolicy::insert;
    void insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) override;
    void hit(PolicyNode& node, std::uint64_t hash) override;
    void erase(PolicyNode& node) override;
    PolicyNode* evict() override;

    PolicyKind kind() const override { return PolicyKind::s3fifo_tlfu; }
    std::size_t size() const override { return gated_.size() + small_.size() + main_.size(); }
    std::uint64_t bytes() const override { return gated_.bytes() + small_.bytes() + main_.bytes(); }

    // Introspection for tests and measurements.
    std::uint64_t small_target() const { return small_target_; }
    std::uint64_t small_bytes() const { return small_.bytes(); }
    std::uint64_t main_bytes() const { return main_.bytes(); }
    std::size_t small_size() const { return small_.size(); }
    std::size_t gated_size() const { return gated_.size(); }
    std::size_t main_size() const { return main_.size(); }
    std::size_t ghost_size() const { return ghost_.size(); }
    bool in_ghost(std::uint64_t hash) const { return ghost_.contains(hash); }
    unsigned frequency(std::uint64_t hash) {
        count_hits();
        return sketch_.frequency(hash);
    }

  private:
    // Takes small's (or gated's) back objects: those hit, or counted more often than main's next
    // victim, move to main; the first other one is the victim (its hash goes to the ghost).
    PolicyNode* evict_from(PolicyList& list);
    PolicyNode* evict_main();
    // Main's next victim: turns main's clock past the objects hit since their last pass (as
    // evict_main would) and returns its back object, or nullptr when main is empty.
    PolicyNode* main_candidate();
    std::size_t ghost_limit() const;
    // Adds the batched hits to the sketch: every counter line prefetched first, then each hit
    // counted in the order it came.
    void count_hits();

    std::uint64_t capacity_;
    S3TinyLfuSettings settings_;
    std::uint64_t small_target_;
    std::uint64_t gate_bytes_;
    PolicyList gated_;  // new objects over the size gate, oldest at the back: evicted first
    PolicyList small_;
    PolicyList main_;
    GhostFifo ghost_;
    FrequencySketch sketch_;
    // Hits not yet counted in the sketch. A hit only records its key's hash here; the batch is
    // counted when full and before anything else reads or counts in the sketch (insert, evict,
    // frequency), so the sketch sees the same increments in the same order as if each hit were
    // counted at once, and makes the same decisions. With millions of objects a hit's counters
    // are a cache miss; counted in batches, those misses overlap instead of adding up.
    static constexpr std::size_t kHitBatch = 16;
    std::array<std::uint64_t, kHitBatch> hit_batch_{};
    std::size_t batched_hits_ = 0;
};

}  // namespace cdn::edge::storage
