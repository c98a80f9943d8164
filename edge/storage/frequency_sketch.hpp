#pragma once
// A count-min sketch of 4-bit counters with a doorkeeper (TinyLFU's frequency estimate), blocked
// as Caffeine 3's: a key's four counters lie in one 64-byte block, its doorkeeper bits in one
// word. Used by the W-TinyLFU and s3fifo-tlfu eviction policies and by the disk tier's
// "frequency" admission rule. Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cdn::edge::storage {

// A count-min sketch of 4-bit counters with a doorkeeper, halved every `sample_size` counted
// accesses.
class FrequencySketch {
  public:
    explicit FrequencySketch(std::size_t expected_objects, bool doorkeeper = true);

    // Counts an access to `hash`.
    void increment(std::uint64_t hash);
    // Starts loading the cache lines increment(hash) and frequency(hash) touch.
    void prefetch(std::uint64_t hash) const;
    // The estimated number of accesses to `hash` (0..16) since about the last reset.
    unsigned frequency(std::uint64_t hash) const;
    // Grows to `expected_objects` if it was sized for fewer, keeping every estimate.
    void ensure_capacity(std::size_t expected_objects);

    std::size_t expected_objects() const { return expected_; }
    std::uint64_t sample_size() const { return sample_size_; }
    std::uint64_t resets() const { return resets_; }

  private:
    void reset();
    std::size_t counter_index(std::uint64_t hash, unsigned probe) const;
    std::uint64_t door_mask(std::uint64_t hash, std::size_t& word) const;

    std::size_t expected_ = 0;
    std::vector<std::uint64_t> table_;  // 16 counters of 4 bits per word
    std::vector<std::uint64_t> door_;   // doorkeeper bits; empty when off
    bool use_door_;
    std::uint64_t sample_size_ = 0;
    std::uint64_t additions_ = 0;
    std::uint64_t resets_ = 0;
};

}  // namespace cdn::edge::storage
