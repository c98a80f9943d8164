#include "edge/storage/memory_store.hpp"

#include "edge/storage/flat_table.hpp"

// Inlined (xxhash.h's header-only mode): a lookup hashes its key once, and the library call
// cost more than the hash of a short key.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <utility>

namespace cdn::edge::storage {

MemoryStore::MemoryStore(std::uint64_t capacity_bytes, std::size_t shards, PolicyKind policy)
    : policy_(policy),
      capacity_(capacity_bytes),
      shard_capacity_(capacity_bytes / (shards == 0 ? 1 : shards)),
      shards_(shards == 0 ? 1 : shards) {
    for (Shard& s : shards_)
        s.policy = make_eviction_policy(policy, shard_capacity_, &MemoryStore::node_hash);
}

MemoryStore::~MemoryStore() {
    for (Shard& s : shards_)
        for (const CachedObject* o : s.index)
            release(o);  // may free o: read nothing after
}

ObjectPtr MemoryStore::release(const CachedObject* o) {
    const_cast<CachedObject*>(o)->set_stored(false);
    return ObjectPtr(o, false);  // adopts the reference insert() detached
}

std::uint64_t MemoryStore::hash_key(std::string_view key) noexcept {
    return XXH3_64bits(key.data(), key.size());
}

MemoryStore::Shard& MemoryStore::shard_for(std::uint64_t hash) {
    return shards_[hash % shards_.size()];
}

void MemoryStore::destroy(Evicted& evicted) {
    for (auto& [object, reused] : evicted)
        if (listener_) listener_(std::move(object), reused);
    evicted.clear();
}

ObjectPtr MemoryStore::peek(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    std::lock_guard lock(s.mu);
    auto it = s.index.find(KeyRef{key, h});
    return it == s.index.end() ? nullptr : ObjectPtr(*it);
}

ObjectPtr MemoryStore::lookup(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    std::lock_guard lock(s.mu);
    s.policy->prefetch(h);  // the sketch's lines load while the index is searched
    auto it = s.index.find(KeyRef{key, h});
    if (it == s.index.end()) return nullptr;
    PolicyNode& n = node(*it);
    s.policy->hit(n, h);
    n.reused = 1;
    return ObjectPtr(*it);
}

void MemoryStore::detach_locked(Shard& s, const CachedObject* o) {
    const std::uint64_t charge = node(o).charge;
    s.index.erase(o);
    s.bytes -= charge;
    bytes_.fetch_sub(charge, std::memory_order_relaxed);
    objects_.fetch_sub(1, std::memory_order_relaxed);
}

bool MemoryStore::insert(ObjectPtr object) {
    if (!object) return false;
    const std::uint64_t charge = object->charge();
    return insert(std::move(object), charge);
}

bool MemoryStore::insert(ObjectPtr object, std::uint64_t charge) {
    if (!object || charge > shard_capacity_ || charge > PolicyNode::kMaxCharge) return false;
    const std::uint64_t h = hash_key(object->key());
    Shard& s = shard_for(h);
    // Freed after the lock, so a large free does not stall the shard.
    ObjectPtr displaced;
    Evicted evicted;
    {
        std::lock_guard lock(s.mu);
        const auto it = s.index.find(KeyRef{object->key(), h});
        const CachedObject* old = it == s.index.end() ? nullptr : *it;
        // Held by another store: this one keeps a copy (the copy's hook is fresh).
        if (old != object.get() && object->stored()) object = CachedObject::copy(*object);
        // The replaced version's standing in the policy, unlinked, as the new version starts.
        PolicyNode standing;
        PolicyNode previous;
        if (old) {
            previous = node(old);
            s.policy->erase(node(old));  // out of the policy while victims are chosen
            standing = node(old);
            detach_locked(s, old);
            displaced = release(old);  // may be `object` itself, stored again
        }
        while (s.bytes + charge > shard_capacity_) {
            PolicyNode* victim = s.policy->evict();
            if (!victim) break;  // cannot happen while s.bytes > 0: the policy holds them all
            const CachedObject* v = object_of(victim);
            detach_locked(s, v);
            evicted.emplace_back(release(v), victim->reused != 0);
            evictions_.fetch_add(1, std::memory_order_relaxed);
        }
        const CachedObject* o = object.get();
        PolicyNode& n = node(o);
        n = standing;
        n.charge = charge;
        const_cast<CachedObject*>(o)->set_stored(true);
        object.detach();  // the store's reference, given back by release()
        s.index.insert(o);
        if (!evicted.empty()) shrink_when_sparse(s.index);
        objects_.fetch_add(1, std::memory_order_relaxed);
        s.policy->insert(n, h, old ? &previous : nullptr);
        s.bytes += charge;
        bytes_.fetch_add(charge, std::memory_order_relaxed);
    }
    destroy(evicted);
    return true;
}

std::uint64_t MemoryStore::min_seq() const {
    std::uint64_t m = UINT64_MAX;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mu);
        for (const CachedObject* o : s.index) {
            m = std::min(m, o->seq);
            if (o->variants)
                for (const auto& [id, v] : o->variants->variants)
                    m = std::min(m, v->seq);
        }
    }
    return m;
}

bool MemoryStore::remove(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    ObjectPtr removed;  // freed after the lock
    {
        std::lock_guard lock(s.mu);
        auto it = s.index.find(KeyRef{key, h});
        if (it == s.index.end()) return false;
        const CachedObject* o = *it;
        s.policy->erase(node(o));
        detach_locked(s, o);
        removed = release(o);
        shrink_when_sparse(s.index);
    }
    return true;
}

std::size_t MemoryStore::index_slots() const {
    std::size_t n = 0;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.index.bucket_count();
    }
    return n;
}

}  // namespace cdn::edge::storage
