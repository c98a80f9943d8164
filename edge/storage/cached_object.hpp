#pragma once
// What the edge keeps per cached response: the head pre-serialised for HTTP/1.1 (so a hit is
// little more than a write), the body, and the metadata freshness decisions need. Immutable
// once built; shared between the store and in-flight responses through shared_ptr<const>.
// The status, head and body are a ResponseData (common/response_data.hpp), which is all the
// protocol sessions see: a hit hands them this object as it is.
#include "common/clock.hpp"
#include "common/response_data.hpp"
#include "edge/storage/eviction_policy.hpp"

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::edge::storage {

// Whole seconds in 32 bits: a stored lifetime or age never needs more (RFC 9111 caps delta-
// seconds at 2^31), and an object's metadata stays small. Use to_secs32 to narrow.
using Secs32 = std::chrono::duration<std::int32_t>;
constexpr Secs32 to_secs32(Seconds s) noexcept {
    return Secs32(
        static_cast<std::int32_t>(std::clamp<Seconds::rep>(s.count(), -2147483647, 2147483647)));
}

struct ObjectMeta {
    TimePoint response_time{};         // when the response was received (RFC 9111 section 4.2.3)
    Secs32 initial_age{0};             // corrected_initial_age
    Secs32 lifetime{0};                // freshness lifetime
    Secs32 stale_while_revalidate{0};  // RFC 5861 windows from the response
    Secs32 stale_if_error{0};
    bool heuristic : 1 = false;  // lifetime came from the Last-Modified heuristic
    bool no_cache : 1 = false;   // must be revalidated before each use
    bool must_revalidate : 1 = false;
    bool content_length_known : 1 = true;  // false while a body of unannounced length streams in
    // The head holds fields meant for CDNs only (CDN-Cache-Control, Surrogate-Control...): kept
    // for revalidation and for downstream caches, removed from what end clients get.
    bool cdn_fields : 1 = false;
};

struct CachedObject;
using ObjectPtr = std::shared_ptr<const CachedObject>;
class MemoryStore;

// The memory tier's bookkeeping, kept inside each object so that a cached object and its place
// in the store are one heap block (make_shared's: control block + object) instead of an object
// plus a store entry: the eviction policy's intrusive node (links, key hash, charge, queue and
// frequency bits) and the store's own reference, which keeps the object alive while a
// MemoryStore indexes it (the index holds plain pointers to the objects). Only the MemoryStore
// holding the object touches it, under its shard's lock: mutable state inside an otherwise
// immutable object. A copy of an object starts outside every store (copying copies none of it).
class StoreHook : PolicyNode {
  public:
    StoreHook() = default;
    StoreHook(const StoreHook&) noexcept : PolicyNode() {}
    StoreHook& operator=(const StoreHook&) noexcept { return *this; }
    ~StoreHook() = default;

  private:
    friend class MemoryStore;
    ObjectPtr self_;  // set while a MemoryStore holds the object
};

// The variants of a response that varies on request fields, kept together under the URL's key
// so that dropping the URL drops every variant. Shared by the versions of the URL's entry through
// VariantSetPtr, one pointer: the (thread-safe) count lives in the set.
struct VariantSet : boost::intrusive_ref_counter<VariantSet> {
    std::vector<std::string> fields;  // lower-case request field names from Vary
    std::vector<std::pair<std::string, ObjectPtr>> variants;  // variant id -> response

    ObjectPtr find(std::string_view id) const {
        for (const auto& [k, v] : variants)
            if (k == id) return v;
        return nullptr;
    }
};
using VariantSetPtr = boost::intrusive_ptr<const VariantSet>;
inline boost::intrusive_ptr<VariantSet> make_variant_set() {
    return boost::intrusive_ptr<VariantSet>(new VariantSet());
}

// status, head ("HTTP/1.1 200 OK\r\n" then the stored fields, Content-Length included; without
// the blank line and without per-request fields such as Age or X-Cache) and body come from
// ResponseData. No virtual functions: the derived-to-base conversion is free.
//
// Memory layout (x86-64, libstdc++): ResponseData (56 B), the store's hook (48 B: policy node
// 32, the store's reference 16), key (32 B), seq (8), meta (32 B), variants (8 B): 184 B, in
// one make_shared block with the 16-byte control block, 208 B as malloc rounds it; a key or
// head longer than 15 bytes has its own buffer. bench/trace_replay --metadata measures it with
// the store's index and policy (bench/README.md, "Memory per object").
struct CachedObject : ResponseData, private StoreHook {
    friend class MemoryStore;

    std::string key;
    // Cache-wide insertion sequence (next_object_sequence()): orders every object this cache
    // ever stored, across restarts. With meta.response_time (when it was fetched, which is when
    // it was inserted) it tells the purge log what a missed purge covers.
    std::uint64_t seq = 0;
    ObjectMeta meta;
    // Set on the URL's entry when the response varies: the variants live here instead.
    VariantSetPtr variants;

    // The value of a stored field (first occurrence, name case-insensitive), read from head:
    // the validators are not kept twice. Empty when absent.
    std::string_view field(std::string_view name) const noexcept;
    std::string_view etag() const noexcept { return field("etag"); }
    std::string_view last_modified() const noexcept { return field("last-modified"); }
    // Bytes this object costs the memory budget (its variants included).
    std::size_t charge() const {
        std::size_t c = sizeof(CachedObject) + key.size() + head.size() + body_size();
        if (variants)
            for (const auto& [id, v] : variants->variants)
                c += id.size() + v->charge();
        return c;
    }
};

// The cache-wide insertion sequence: strictly increasing, thread-safe. A disk store that finds
// objects up to sequence N after a restart calls advance_object_sequence(N + 1); the edge
// starts it at the wall clock in microseconds, so it also increases across restarts when the
// disk cannot be read at start-up.
std::uint64_t next_object_sequence() noexcept;
void advance_object_sequence(std::uint64_t at_least) noexcept;

}  // namespace cdn::edge::storage
