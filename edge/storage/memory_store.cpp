#include "edge/storage/memory_store.hpp"

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
        s.policy = make_eviction_policy(policy, shard_capacity_);
}

MemoryStore::~MemoryStore() {
    for (Shard& s : shards_)
        for (Entry* e : s.index)
            delete e;
}

std::uint64_t MemoryStore::hash_key(std::string_view key) {
    return XXH3_64bits(key.data(), key.size());
}

MemoryStore::Shard& MemoryStore::shard_for(std::uint64_t hash) {
    return shards_[hash % shards_.size()];
}

void MemoryStore::destroy(Entry* chain) {
    while (chain) {
        Entry* next = static_cast<Entry*>(chain->next);
        if (listener_) listener_(std::move(chain->object), chain->reused != 0);
        delete chain;
        chain = next;
    }
}

ObjectPtr MemoryStore::peek(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    std::lock_guard lock(s.mu);
    auto it = s.index.find(KeyRef{key, h});
    return it == s.index.end() ? nullptr : (*it)->object;
}

ObjectPtr MemoryStore::lookup(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    std::lock_guard lock(s.mu);
    auto it = s.index.find(KeyRef{key, h});
    if (it == s.index.end()) return nullptr;
    s.policy->hit(**it);
    (*it)->reused = 1;
    return (*it)->object;
}

void MemoryStore::detach_locked(Shard& s, Entry* e) {
    s.index.erase(e);
    s.bytes -= e->charge;
    bytes_.fetch_sub(e->charge, std::memory_order_relaxed);
    objects_.fetch_sub(1, std::memory_order_relaxed);
}

bool MemoryStore::insert(ObjectPtr object) {
    if (!object) return false;
    const std::uint64_t charge = object->charge();
    return insert(std::move(object), charge);
}

bool MemoryStore::insert(ObjectPtr object, std::uint64_t charge) {
    if (!object || charge > shard_capacity_ || charge > PolicyNode::kMaxCharge) return false;
    const std::uint64_t h = hash_key(object->key);
    Shard& s = shard_for(h);
    // Freed after the lock, so a large free does not stall the shard.
    ObjectPtr displaced;
    Entry* evicted = nullptr;  // chain through PolicyNode::next
    auto fresh = std::make_unique<Entry>();
    {
        std::lock_guard lock(s.mu);
        Entry* e = nullptr;
        PolicyNode previous;  // the replaced version's standing in the policy
        if (auto it = s.index.find(KeyRef{object->key, h}); it != s.index.end()) {
            e = *it;
            previous = *e;
            s.policy->erase(*e);  // out of the policy while victims are chosen
            s.bytes -= e->charge;
            bytes_.fetch_sub(e->charge, std::memory_order_relaxed);
            displaced = e->object;  // stays in the entry (the index reads its key) until swapped
        }
        while (s.bytes + charge > shard_capacity_) {
            PolicyNode* victim = s.policy->evict();
            if (!victim) break;  // cannot happen while s.bytes > 0: the policy holds them all
            Entry* v = static_cast<Entry*>(victim);
            detach_locked(s, v);
            v->next = evicted;
            evicted = v;
            evictions_.fetch_add(1, std::memory_order_relaxed);
        }
        if (!e) {
            e = fresh.get();
            e->hash = h;
            e->object = std::move(object);  // the index compares keys through the object
            s.index.insert(e);
            fresh.release();
            objects_.fetch_add(1, std::memory_order_relaxed);
        } else {
            e->object = std::move(object);
        }
        e->charge = charge;
        s.policy->insert(*e, displaced ? &previous : nullptr);
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
        for (const Entry* e : s.index) {
            m = std::min(m, e->object->seq);
            if (e->object->variants)
                for (const auto& [id, v] : e->object->variants->variants)
                    m = std::min(m, v->seq);
        }
    }
    return m;
}

bool MemoryStore::remove(std::string_view key) {
    const std::uint64_t h = hash_key(key);
    Shard& s = shard_for(h);
    std::unique_ptr<Entry> removed;
    {
        std::lock_guard lock(s.mu);
        auto it = s.index.find(KeyRef{key, h});
        if (it == s.index.end()) return false;
        removed.reset(*it);
        s.policy->erase(*removed);
        detach_locked(s, removed.get());
    }
    return true;
}

}  // namespace cdn::edge::storage
