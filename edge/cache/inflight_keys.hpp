#pragma once
// The set of keys with an origin fetch in flight that others should not duplicate (for now:
// background refreshes of stale-while-revalidate entries). Thread-safe; held only for a set
// insert or erase.
#include <mutex>
#include <string>
#include <unordered_set>

namespace cdn::edge::cache {

class InflightKeys {
  public:
    // True if the caller now owns key (and must call release); false if someone else does.
    bool try_acquire(const std::string& key) {
        std::lock_guard lock(mu_);
        return keys_.insert(key).second;
    }
    void release(const std::string& key) {
        std::lock_guard lock(mu_);
        keys_.erase(key);
    }
    std::size_t size() const {
        std::lock_guard lock(mu_);
        return keys_.size();
    }

  private:
    mutable std::mutex mu_;
    std::unordered_set<std::string> keys_;
};

}  // namespace cdn::edge::cache
