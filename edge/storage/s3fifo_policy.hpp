#pragma once
// Eviction policy: S3-FIFO (Yang et al., SOSP'23, "FIFO queues are all you need for cache
// eviction"), byte-aware, for one memory shard. Scan-resistant: a new object enters a small FIFO
// (10% of the shard's bytes) and only objects hit while there reach the main FIFO, so a burst of
// one-hit wonders passes through the small queue without flushing the popular objects in main.
//
//   insert   key hash in the ghost -> main (and leaves the ghost); else -> small. freq = 0.
//   hit      freq = min(freq + 1, 3); nothing moves (no list surgery on the hit path).
//   evict    from main when main holds more than its share (90%) or small is empty, else from
//            small.
//   small    back object with freq >= promote_threshold moves to main with freq 0; otherwise it
//            is the victim and its key hash goes to the ghost.
//   main     back object with freq > 0 goes back to the front with freq - 1; otherwise victim.
//
// promote_threshold is 1 ("hit at least once while in small", the paper's prose and libCacheSim's
// default setting of one hit); 2 is the stricter variant of the paper's pseudo-code (freq > 1).
// Moving to main resets freq to 0, as in libCacheSim, so an object must be hit again in main to
// survive its first pass there.
//
// The ghost (GhostFifo, ghost_fifo.hpp) is a FIFO of key-hash fingerprints (no keys, no
// objects) holding as many as main holds objects, the paper's sizing; while main is still filling
// (cold start) it may hold up to 90% of the shard's resident objects, an estimate of main's
// eventual count. Hash collisions only make an object start in main; they never affect correctness.
//
// Not thread-safe: one instance per shard under the shard's lock. Pure: no clock, no I/O.
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/ghost_fifo.hpp"

#include <cstdint>

namespace cdn::edge::storage {

struct S3FifoSettings {
    double small_fraction = 0.1;     // share of the shard's bytes for the small FIFO
    unsigned promote_threshold = 1;  // freq an object needs to move from small to main (1..3)
};

class S3FifoPolicy final : public EvictionPolicy {
  public:
    static constexpr std::uint64_t kSmall = 1;
    static constexpr std::uint64_t kMain = 2;
    static constexpr unsigned kMaxFreq = 3;

    S3FifoPolicy(NodeHash hasher, std::uint64_t capacity_bytes, S3FifoSettings settings = {});

    using EvictionPolicy::hit;
    using EvictionPolicy::insert;
    void insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) override;
    void hit(PolicyNode& node, std::uint64_t hash) override;
    void erase(PolicyNode& node) override;
    PolicyNode* evict() override;

    PolicyKind kind() const override { return PolicyKind::s3fifo; }
    std::size_t size() const override { return small_.size() + main_.size(); }
    std::uint64_t bytes() const override { return small_.bytes() + main_.bytes(); }

    // Introspection for tests and measurements.
    std::uint64_t small_target() const { return small_target_; }
    std::size_t small_size() const { return small_.size(); }
    std::size_t main_size() const { return main_.size(); }
    std::uint64_t small_bytes() const { return small_.bytes(); }
    std::uint64_t main_bytes() const { return main_.bytes(); }
    std::size_t ghost_size() const { return ghost_.size(); }
    bool in_ghost(std::uint64_t hash) const { return ghost_.contains(hash); }

  private:
    PolicyNode* evict_small();
    PolicyNode* evict_main();
    std::size_t ghost_limit() const;

    std::uint64_t capacity_;
    std::uint64_t small_target_;
    unsigned promote_threshold_;
    PolicyList small_;
    PolicyList main_;
    GhostFifo ghost_;
};

}  // namespace cdn::edge::storage
