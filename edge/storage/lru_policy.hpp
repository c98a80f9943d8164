#pragma once
// Eviction policy: chooses victims, stores nothing. Plain LRU over keys (string_views owned by
// the store's objects). One instance per shard; the shard's lock protects it.
#include <list>
#include <string_view>

namespace cdn::edge::storage {

class LruPolicy {
  public:
    using Handle = std::list<std::string_view>::iterator;

    Handle add(std::string_view key) {
        order_.push_front(key);
        return order_.begin();
    }
    void touch(Handle h) { order_.splice(order_.begin(), order_, h); }
    void remove(Handle h) { order_.erase(h); }
    bool empty() const { return order_.empty(); }
    // The least recently used key; precondition: !empty().
    std::string_view victim() const { return order_.back(); }

  private:
    std::list<std::string_view> order_;
};

}  // namespace cdn::edge::storage
