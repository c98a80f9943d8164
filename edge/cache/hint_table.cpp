#include "edge/cache/hint_table.hpp"

namespace cdn::edge::cache {

void HintTable::erase_locked(List::iterator it) {
    bytes_ -= cost(*it);
    index_.erase(std::string_view(it->key));
    lru_.erase(it);
}

void HintTable::put(const std::string& key, std::string fields, TimePoint now) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) erase_locked(it->second);
    if (fields.empty()) return;
    Entry e{key, std::move(fields), now + limits_.lifetime};
    if (cost(e) > limits_.max_bytes) return;
    lru_.push_front(std::move(e));
    bytes_ += cost(lru_.front());
    index_.emplace(std::string_view(lru_.front().key), lru_.begin());
    while (!lru_.empty() && (lru_.size() > limits_.max_entries || bytes_ > limits_.max_bytes))
        erase_locked(std::prev(lru_.end()));
}

std::optional<std::string> HintTable::get(const std::string& key, TimePoint now) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (it->second->expires <= now) {
        erase_locked(it->second);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return lru_.front().fields;
}

void HintTable::erase(const std::string& key) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) erase_locked(it->second);
}

void HintTable::clear() {
    std::lock_guard lock(mu_);
    index_.clear();
    lru_.clear();
    bytes_ = 0;
}

std::size_t HintTable::size() const {
    std::lock_guard lock(mu_);
    return lru_.size();
}

std::size_t HintTable::bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
}

}  // namespace cdn::edge::cache
