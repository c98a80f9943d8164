#pragma once
// The Early Hints the edge learned per cache key: the Link fields of a 103 to send before asking
// the origin on the next miss or revalidation of that URL. Bounded (entries and bytes, least
// recently used out first), each entry for a lifetime; thread-safe (one mutex: a lookup is a
// hash probe, taken only on misses and revalidations).
#include "common/clock.hpp"

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cdn::edge::cache {

class HintTable {
  public:
    struct Limits {
        std::size_t max_entries = 4096;
        std::size_t max_bytes = 4 * 1024 * 1024;  // keys and fields together
        Seconds lifetime{24 * 3600};
    };
    HintTable() : HintTable(Limits{}) {}
    explicit HintTable(Limits limits) : limits_(limits) {}

    // Remembers `fields` (a 103's "Link: ...\r\n" lines) for key from now on; empty fields
    // forget the key.
    void put(const std::string& key, std::string fields, TimePoint now);
    // The fields for key, unless absent or expired (an expired entry is dropped).
    std::optional<std::string> get(const std::string& key, TimePoint now);
    void erase(const std::string& key);
    void clear();
    std::size_t size() const;
    std::size_t bytes() const;

  private:
    struct Entry {
        std::string key;
        std::string fields;
        TimePoint expires;
    };
    using List = std::list<Entry>;
    static std::size_t cost(const Entry& e) { return e.key.size() + e.fields.size() + 64; }
    void erase_locked(List::iterator it);

    Limits limits_;
    mutable std::mutex mu_;
    List lru_;                                                    // most recently used first
    std::unordered_map<std::string_view, List::iterator> index_;  // views into lru_'s keys
    std::size_t bytes_ = 0;
};

}  // namespace cdn::edge::cache
