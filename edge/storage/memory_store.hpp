#pragma once
// The memory tier: key -> immutable CachedObject, bounded in bytes. Sharded by key hash; each
// shard has its own mutex held only for the index and policy update, never during I/O, and its
// own eviction policy (S3-FIFO by default, LRU on request) that chooses the victims.
// Thread-safe.
//
// Per object a shard keeps nothing but one pointer slot in an open-addressing index: the policy's
// intrusive node lives in the object itself (StoreHook, in cached_object.hpp) and the store's
// reference is one count in the object's own (CachedObject::stored() says it holds one), so a
// cached object with its key and head is one heap block. S3-FIFO adds a ghost of evicted key
// hashes. An object is held by at most one MemoryStore: inserting an object another store holds
// stores a copy of it (the edge has one memory store; inserting the same object into two stores
// from two threads at once is not supported).
#include "edge/storage/cached_object.hpp"
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/object_store.hpp"

#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
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
    // Slots of the shards' indexes (for tests and measurements).
    std::size_t index_slots() const;

  private:
    // The index holds the objects themselves; lookups by key go through KeyRef without
    // building one.
    struct KeyRef {
        std::string_view key;
        std::uint64_t hash;
    };
    struct ObjectHash {
        using is_transparent = void;
        // The object's key hashed again (rehash, insert, erase): the object keeps no hash.
        std::size_t operator()(const CachedObject* o) const { return hash_key(o->key()); }
        std::size_t operator()(const KeyRef& k) const { return k.hash; }
    };
    struct ObjectEq {
        using is_transparent = void;
        bool operator()(const CachedObject* a, const CachedObject* b) const { return a == b; }
        bool operator()(const KeyRef& k, const CachedObject* o) const { return k.key == o->key(); }
        bool operator()(const CachedObject* o, const KeyRef& k) const { return (*this)(k, o); }
    };
    struct Shard {
        mutable std::mutex mu;
        // The store holds one reference to every object here (insert() takes it, release()
        // gives it back); CachedObject::stored() says so.
        boost::unordered_flat_set<const CachedObject*, ObjectHash, ObjectEq> index;
        std::unique_ptr<EvictionPolicy> policy;
        std::uint64_t bytes = 0;
    };
    // The object's hook: mutable state of an immutable object, touched under the shard's lock.
    static StoreHook& hook(const CachedObject* o) {
        return const_cast<CachedObject&>(*o);  // objects are made non-const (CachedObject::make)
    }
    static PolicyNode& node(const CachedObject* o) { return hook(o); }
    static const CachedObject* object_of(const PolicyNode* n) {
        return static_cast<const CachedObject*>(static_cast<const StoreHook*>(n));
    }
    static std::uint64_t hash_key(std::string_view key) noexcept;
    // The policies' NodeHash: the key of the node's object, hashed.
    static std::uint64_t node_hash(const PolicyNode& n) noexcept {
        return hash_key(object_of(&n)->key());
    }
    Shard& shard_for(std::uint64_t hash);
    // The store's reference to an object it no longer indexes (the caller unindexed it).
    static ObjectPtr release(const CachedObject* o);
    // Unindexes an object the policy no longer holds; the store's reference stays.
    void detach_locked(Shard& s, const CachedObject* o);
    // Objects an insert evicted, with their reused bits, released under the lock and handed to the
    // listener (or freed) after it.
    using Evicted = boost::container::small_vector<std::pair<ObjectPtr, bool>, 4>;
    void destroy(Evicted& evicted);

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
