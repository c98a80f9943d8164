#pragma once
// The memory tier: key -> immutable CachedObject, bounded in bytes. Sharded by key hash; each
// shard has its own mutex held only for the map and policy update, never during I/O.
// Thread-safe.
#include "edge/storage/cached_object.hpp"
#include "edge/storage/lru_policy.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cdn::edge::storage {

class MemoryStore {
  public:
    explicit MemoryStore(std::uint64_t capacity_bytes, std::size_t shards = 16);

    ObjectPtr lookup(std::string_view key);
    // Inserts or replaces; evicts least valuable objects until the shard fits. Returns false
    // (and stores nothing) when the object alone exceeds a shard's budget.
    bool insert(ObjectPtr object);
    bool remove(std::string_view key);

    std::uint64_t capacity() const { return capacity_; }
    // Largest object that can be stored.
    std::uint64_t max_object_bytes() const { return shard_capacity_; }
    std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    std::uint64_t objects() const { return objects_.load(std::memory_order_relaxed); }
    std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  private:
    struct Entry {
        ObjectPtr object;
        LruPolicy::Handle handle;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<std::string_view, Entry> map;  // keys point into object->key
        LruPolicy policy;
        std::uint64_t bytes = 0;
    };
    Shard& shard_for(std::string_view key);
    void erase_locked(Shard& s, std::unordered_map<std::string_view, Entry>::iterator it);

    std::uint64_t capacity_;
    std::uint64_t shard_capacity_;
    std::vector<Shard> shards_;
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> objects_{0};
    std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace cdn::edge::storage
