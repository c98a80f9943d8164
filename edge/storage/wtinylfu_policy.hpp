#pragma once
// Eviction policy: W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM ToS 2017) with Caffeine's hill-climbing window, byte-aware, for one
// memory shard.
//
//   window     an LRU of new objects, at first 1% of the shard's bytes.
//   main       an SLRU: probation (objects admitted from the window, or demoted) and protected
//              (objects hit while in probation, at most 80% of main's bytes).
//   admission  when the window is over its share, its LRU object (the candidate) goes to main if
//              main has room; otherwise it meets main's victim (probation's LRU, else
//              protected's) and the one with the higher estimated frequency stays. Ties keep the
//              victim; a warm candidate (estimate > 6) wins a lost duel 1 time in 128 (Caffeine's
//              defence against hash flooding).
//   frequency  a count-min sketch of 4-bit counters (4 probes, 16 counters per expected object)
//              behind a doorkeeper bloom filter that absorbs each key's first access. Every
//              insert and hit counts; after 10x the expected object count of counted accesses
//              all counters halve and the doorkeeper clears (the "reset" that ages history).
//              Expected objects: the shard's bytes / 4 KiB, at least 64; the sketch grows (keeping
//              its counts) when the shard holds more objects than that, up to 2^22 (32 MiB + 8
//              MiB).
//   climbing   every sample (the reset period by default) the hit ratio of the sample is
//              compared with the previous one; the window's share moves by a step in the
//              direction that helped (the first step shrinks it), the step decays by 0.98 per
//              sample and restarts at 6.25% of the bytes when the hit ratio jumps by 5 points.
//              The share stays within 0..80% of the shard.
//
// Per object: only the PolicyNode (queue = window / probation / protected; freq is unused).
// Per shard: the sketch and doorkeeper (about 9 bytes per expected object).
// Not thread-safe: one instance per shard under the shard's lock. Pure: no clock, no I/O
// (the admission coin is a seeded xorshift).
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/frequency_sketch.hpp"

#include <cstdint>
#include <vector>

namespace cdn::edge::storage {

struct WTinyLfuSettings {
    double window_fraction = 0.01;          // the window's initial share of the shard's bytes
    double protected_fraction = 0.8;        // protected's share of main's bytes
    double max_window_fraction = 0.8;       // the climber's upper bound
    std::uint64_t bytes_per_object = 4096;  // sizes the sketch: expected objects = bytes / this
    std::uint64_t climb_sample = 0;         // requests per climber sample; 0 = the reset period
    bool climb = true;
    bool doorkeeper = true;
};

class WTinyLfuPolicy final : public EvictionPolicy {
  public:
    static constexpr std::uint64_t kWindow = 1;
    static constexpr std::uint64_t kProbation = 2;
    static constexpr std::uint64_t kProtected = 3;

    WTinyLfuPolicy(NodeHash hasher, std::uint64_t capacity_bytes, WTinyLfuSettings settings = {});

    using EvictionPolicy::hit;
    using EvictionPolicy::insert;
    void insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) override;
    void hit(PolicyNode& node, std::uint64_t hash) override;
    void prefetch(std::uint64_t hash) const override { sketch_.prefetch(hash); }
    void erase(PolicyNode& node) override;
    PolicyNode* evict() override;

    PolicyKind kind() const override { return PolicyKind::wtinylfu; }
    std::size_t size() const override {
        return window_.size() + probation_.size() + protected_.size();
    }
    std::uint64_t bytes() const override {
        return window_.bytes() + probation_.bytes() + protected_.bytes();
    }

    // Introspection for tests and measurements.
    std::uint64_t window_target() const { return window_target_; }
    std::uint64_t protected_target() const { return protected_target_; }
    std::uint64_t window_bytes() const { return window_.bytes(); }
    std::uint64_t probation_bytes() const { return probation_.bytes(); }
    std::uint64_t protected_bytes() const { return protected_.bytes(); }
    std::size_t window_size() const { return window_.size(); }
    unsigned frequency(std::uint64_t hash) const { return sketch_.frequency(hash); }
    const FrequencySketch& sketch() const { return sketch_; }
    std::uint64_t climbs() const { return climbs_; }

  private:
    void record(std::uint64_t hash);
    void set_window_target(double bytes);
    void demote_protected_overflow();
    void spill_window();
    void climb();
    PolicyNode* main_victim() const;
    PolicyNode* detach(PolicyNode& n);
    bool admit(const PolicyNode& candidate, const PolicyNode& victim);

    std::uint64_t capacity_;
    WTinyLfuSettings settings_;
    std::uint64_t window_target_ = 0;
    std::uint64_t protected_target_ = 0;
    PolicyList window_;
    PolicyList probation_;
    PolicyList protected_;
    FrequencySketch sketch_;
    std::uint64_t random_ = 0x9e3779b97f4a7c15ull;

    // The hill climber.
    std::uint64_t sample_hits_ = 0;
    std::uint64_t sample_misses_ = 0;
    double previous_hit_ratio_ = 0;
    double step_ = 0;  // bytes; signed
    double window_exact_ = 0;
    std::uint64_t climbs_ = 0;
};

}  // namespace cdn::edge::storage
