#pragma once
// Purges, applied lazily. A purge does not walk the cache: it becomes a rule that covers every
// object stored before it (objects carry the cache-wide insertion sequence, so "before" is
// exact), and the lookup path asks the rules about the object it found: hard (treat as a miss
// and drop it), soft (treat as stale: revalidate, and stale-if-error may still serve it), or
// none. Cost per purge is proportional to its values; cost per lookup is a few hash lookups
// (plus reading the object's tags, only while tag rules exist). Rules retire once no cached
// object is older than them (retire()). Thread-safe.
//
// Values are normalised by normalize(): files become cache keys (both http and https, since a
// user purges the URL they see), prefixes become host + path prefix, hosts are lower-cased
// without a default port, tags are kept as given (surrogate keys are case-sensitive).
#include "common/purge_event.hpp"
#include "edge/cache/cache_key.hpp"
#include "edge/storage/cached_object.hpp"

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

// The kinds are the wire format's (common/purge_event.hpp).
using purge::PurgeKind;

struct PurgeRequest {
    std::uint64_t seq = 0;  // in the purge log; 0 for a purge applied only here
    PurgeKind kind = PurgeKind::files;
    std::vector<std::string> values;  // empty for everything
    bool soft = false;
    std::int64_t time_ms = 0;  // when it was accepted
};

// Checks and normalises a request's values in place; an error message for the first bad one.
std::optional<std::string> normalize(PurgeRequest& r, const KeyPolicy& policy);

enum class PurgeVerdict { none, hard, soft };

// The tags an object carries: Surrogate-Key (space-separated) and Cache-Tag (comma-separated).
std::vector<std::string_view> object_tags(const storage::CachedObject& obj);

class PurgeRules {
  public:
    // Applies a normalised request to every object whose sequence is below `floor` (the next
    // object sequence when the purge arrives).
    void add(const PurgeRequest& r, std::uint64_t floor);
    // Every object inserted before `ms` (Unix milliseconds) is purged: the purge log was
    // compacted past what this edge applied, so it cannot know which purges it missed.
    void add_time_floor(std::int64_t ms);

    PurgeVerdict check(const storage::CachedObject& obj) const;

    // Drops rules that no cached object can match any more: `min_seq` is the smallest sequence
    // of any object still cached. Returns how many entries went.
    std::size_t retire(std::uint64_t min_seq);

    bool empty() const { return !active_.load(std::memory_order_acquire); }
    std::size_t size() const;

    // Every rule as normalised requests (one per kind and softness), with its floor: what a
    // restart must reload.
    struct Saved {
        PurgeRequest request;
        std::uint64_t floor = 0;
    };
    std::vector<Saved> snapshot() const;
    std::int64_t time_floor() const;

  private:
    struct Floors {
        std::uint64_t hard = 0;  // objects with seq below it are purged
        std::uint64_t soft = 0;  // ...or stale
        void raise(std::uint64_t floor, bool soft_purge) {
            auto& f = soft_purge ? soft : hard;
            if (floor > f) f = floor;
        }
        bool empty() const { return hard == 0 && soft == 0; }
    };
    struct PathRule {
        std::string prefix;
        Floors floors;
    };
    static void judge(const Floors& f, std::uint64_t seq, PurgeVerdict& v);
    void update_active();

    // Looked up by string_view (an object's key, a key's host) without building a string.
    struct TextHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return boost::hash<std::string_view>()(s);
        }
    };
    template <typename V>
    using TextMap = boost::unordered_flat_map<std::string, V, TextHash, std::equal_to<>>;

    mutable std::shared_mutex mu_;
    std::atomic<bool> active_{false};
    Floors everything_;
    std::int64_t time_floor_ms_ = 0;
    TextMap<Floors> keys_;
    TextMap<Floors> hosts_;
    TextMap<std::vector<PathRule>> prefixes_;  // by host
    TextMap<Floors> tags_;
};

}  // namespace cdn::edge::cache
