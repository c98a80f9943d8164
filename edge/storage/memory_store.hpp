#pragma once
// The memory tier: key -> immutable CachedObject, bounded in bytes. Sharded by key hash; each
// shard has its own mutex held only for the index and policy update, never during I/O, and its
// own eviction policy (S3-FIFO by default, LRU on request) that chooses the victims.
// Thread-safe.
//
// Per object a shard keeps one Entry (the ObjectPtr plus the policy's intrusive node, 48 bytes)
// and one pointer slot in an open-addressing index; S3-FIFO adds a ghost of evicted key hashes.
#include "edge/storage/cached_object.hpp"
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/object_store.hpp"

#include <boost/unordered/unordered_flat_set.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace cdn::edge::storage {

class MemoryStore final : public ObjectStore {
  public:
    explicit MemoryStore(std::uint64_t capacity_bytes, std::size_t shards = 16,
                         PolicyKind policy = PolicyKind::s3fifo_tlfu);
    ~MemoryStore() override;
    MemoryStore(const MemoryStore&) = delete;
    MemoryStore& operator=(const MemoryStore&) = delete;

    ObjectPtr lookup(std::string_view key) override;
    // Like lookup, but not a use of the object: the eviction policy is not told.
    ObjectPtr peek(std::string_view key) override;
    // Inserts or replaces; the shard's policy evicts objects until the new one fits. Returns
    // false (and stores nothing) when the object alone exceeds a shard's budget.
    bool insert(ObjectPtr object) override;
    // The same, charging `charge` bytes instead of object->charge(): for a caller that accounts
    // the bytes itself (bench/trace_replay stands objects of a trace's sizes in for bodies it
    // never allocates). bytes() then sums these charges.
    bool insert(ObjectPtr object, std::uint64_t charge);
    bool remove(std::string_view key) override;

    // Called (outside the shard lock, on the inserting thread) for every object the policy
    // evicts, with whether it was asked for again while in memory. Set before use. The tiered
    // store hands evicted objects to the disk tier this way.
    using EvictionListener = std::function<void(ObjectPtr object, bool reused)>;
    void set_eviction_listener(EvictionListener listener) { listener_ = std::move(listener); }

    PolicyKind policy() const { return policy_; }
    std::uint64_t capacity() const { return capacity_; }
    // Largest object that can be stored.
    std::uint64_t min_seq() const override;
    std::uint64_t max_object_bytes() const override { return shard_capacity_; }
    std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    std::uint64_t objects() const override { return objects_.load(std::memory_order_relaxed); }
    std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  private:
    struct Entry : PolicyNode {
        ObjectPtr object;
    };
    // The index holds Entry pointers; lookups by key go through KeyRef without building one.
    struct KeyRef {
        std::string_view key;
        std::uint64_t hash;
    };
    struct EntryHash {
        using is_transparent = void;
        std::size_t operator()(const Entry* e) const { return e->hash; }
        std::size_t operator()(const KeyRef& k) const { return k.hash; }
    };
    struct EntryEq {
        using is_transparent = void;
        bool operator()(const Entry* a, const Entry* b) const { return a == b; }
        bool operator()(const KeyRef& k, const Entry* e) const {
            return k.hash == e->hash && k.key == e->object->key;
        }
        bool operator()(const Entry* e, const KeyRef& k) const { return (*this)(k, e); }
    };
    struct Shard {
        mutable std::mutex mu;
        boost::unordered_flat_set<Entry*, EntryHash, EntryEq> index;  // owns the entries
        std::unique_ptr<EvictionPolicy> policy;
        std::uint64_t bytes = 0;
    };
    static std::uint64_t hash_key(std::string_view key);
    Shard& shard_for(std::uint64_t hash);
    // Unindexes and unlinks an entry; the caller deletes it after releasing the lock.
    void detach_locked(Shard& s, Entry* e);
    void destroy(Entry* chain);  // tells the listener, deletes a chain linked through next

    PolicyKind policy_;
    std::uint64_t capacity_;
    std::uint64_t shard_capacity_;
    std::vector<Shard> shards_;
    EvictionListener listener_;
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> objects_{0};
    std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace cdn::edge::storage
