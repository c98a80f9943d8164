#pragma once
// A FIFO of recently seen key hashes with membership tests: S3-FIFO's and s3fifo-tlfu's ghost of
// evicted keys, and the disk tier's doorkeeper of keys it turned away (tiered_store.hpp). Not
// thread-safe.
#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>

namespace cdn::edge::storage {

// The ghost FIFO: recently evicted key hashes, oldest first, bounded by count. Exact up to its
// 32-bit fingerprints of the hashes (two hashes sharing one are one entry; at a million entries
// a lookup matches a stranger with odds of 1 in 4000, which only starts that object in main): a
// fingerprint taken back out (readmitted) or remembered again is not dropped early by its older
// slot. About 4-8 bytes of ring and 10-20 of map per entry (a 64-bit map and ring took twice).
class GhostFifo {
  public:
    bool contains(std::uint64_t hash) const { return live_.contains(fingerprint(hash)); }
    // Forgets `hash`; true if it was remembered.
    bool take(std::uint64_t hash) { return live_.erase(fingerprint(hash)) > 0; }
    // Remembers `hash` as the newest entry, then forgets the oldest until at most `limit` remain.
    void remember(std::uint64_t hash, std::size_t limit);
    std::size_t size() const { return live_.size(); }
    // Slots of the map from fingerprints to places (for tests and measurements).
    std::size_t map_slots() const { return live_.bucket_count(); }

  private:
    static std::uint32_t fingerprint(std::uint64_t hash) {
        return static_cast<std::uint32_t>(hash ^ (hash >> 32));
    }
    void pop_front();
    void compact();

    std::deque<std::uint32_t> ring_;  // fingerprints in arrival order; some slots are stale
    std::uint64_t front_seq_ = 0;     // sequence number of ring_.front()
    // fingerprint -> its live slot's sequence number, modulo 2^32 (the ring spans far less)
    boost::unordered_flat_map<std::uint32_t, std::uint32_t> live_;
};

}  // namespace cdn::edge::storage
