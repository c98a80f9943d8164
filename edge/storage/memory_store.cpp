#include "edge/storage/memory_store.hpp"

#include <xxhash.h>

namespace cdn::edge::storage {

MemoryStore::MemoryStore(std::uint64_t capacity_bytes, std::size_t shards)
    : capacity_(capacity_bytes),
      shard_capacity_(capacity_bytes / (shards == 0 ? 1 : shards)),
      shards_(shards == 0 ? 1 : shards) {}

MemoryStore::Shard& MemoryStore::shard_for(std::string_view key) {
    return shards_[XXH3_64bits(key.data(), key.size()) % shards_.size()];
}

ObjectPtr MemoryStore::lookup(std::string_view key) {
    Shard& s = shard_for(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    s.policy.touch(it->second.handle);
    return it->second.object;
}

void MemoryStore::erase_locked(Shard& s, std::unordered_map<std::string_view, Entry>::iterator it) {
    const std::uint64_t charge = it->second.object->charge();
    s.policy.remove(it->second.handle);
    s.bytes -= charge;
    bytes_.fetch_sub(charge, std::memory_order_relaxed);
    objects_.fetch_sub(1, std::memory_order_relaxed);
    s.map.erase(it);
}

bool MemoryStore::insert(ObjectPtr object) {
    const std::uint64_t charge = object->charge();
    if (charge > shard_capacity_) return false;
    Shard& s = shard_for(object->key);
    ObjectPtr displaced;  // released after the lock, so a large free does not stall the shard
    std::vector<ObjectPtr> evicted;
    {
        std::lock_guard lock(s.mu);
        if (auto it = s.map.find(object->key); it != s.map.end()) {
            displaced = it->second.object;
            erase_locked(s, it);
        }
        while (s.bytes + charge > shard_capacity_ && !s.policy.empty()) {
            auto victim = s.map.find(s.policy.victim());
            evicted.push_back(victim->second.object);
            erase_locked(s, victim);
            evictions_.fetch_add(1, std::memory_order_relaxed);
        }
        const std::string_view key = object->key;
        Entry e{std::move(object), s.policy.add(key)};
        s.map.emplace(key, std::move(e));
        s.bytes += charge;
    }
    bytes_.fetch_add(charge, std::memory_order_relaxed);
    objects_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool MemoryStore::remove(std::string_view key) {
    Shard& s = shard_for(key);
    ObjectPtr removed;
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return false;
    removed = it->second.object;
    erase_locked(s, it);
    return true;
}

}  // namespace cdn::edge::storage
