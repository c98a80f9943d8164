#pragma once
// What the edge keeps per cached response: the head pre-serialised for HTTP/1.1 (so a hit is
// little more than a write), the body, and the metadata freshness decisions need. Immutable
// once built; shared between the store and in-flight responses through ObjectPtr (counted in
// the object).
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
// Objects are counted intrusively (ResponseData's count): one heap block per object.
using ObjectPtr = boost::intrusive_ptr<const CachedObject>;
using MutableObjectPtr = boost::intrusive_ptr<CachedObject>;
class MemoryStore;

// The memory tier's bookkeeping, kept inside each object so that a cached object and its place
// in the store are one heap block instead of an object plus a store entry: the eviction
// policy's intrusive node (links, charge, queue and frequency bits). Only the
// MemoryStore holding the object touches it, under its shard's lock: mutable state inside an
// otherwise immutable object. A copy of an object starts outside every store.
class StoreHook : PolicyNode {
  public:
    StoreHook() = default;
    StoreHook(const StoreHook&) noexcept : PolicyNode() {}
    StoreHook& operator=(const StoreHook&) noexcept { return *this; }
    ~StoreHook() = default;

  private:
    friend class MemoryStore;
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
// ResponseData: a hit hands the sessions this object as it is.
//
// One heap block per object: the fixed part below, then the key and the head (the tail), so a
// lookup's key comparison reads the block it already has and a stored object costs one
// allocation besides its body. The key and head are given when the object is made (make, copy)
// and never change; the other fields are set by its maker before it is shared.
//
// Memory layout (x86-64): ResponseData (24 B: status, kind, the store flag, count, the head's
// offset and size, the body's intrusive pointer), the policy node (24 B: links, charge and bits;
// no key hash, the store hashes the key again when it needs one), seq, variants, meta (25 B)
// with the key's size in its tail padding: 96 B, then the tail (one malloc block: 104 B + key +
// head, rounded to 16). bench/trace_replay --metadata measures it with the store's index and policy
// (bench/README.md, "Memory per object").
struct CachedObject final : ResponseData, private StoreHook {
    friend class MemoryStore;

    // An object with this key and head, outside every store, the other fields at their defaults.
    static MutableObjectPtr make(std::string_view key, std::string_view head = {});
    // A copy of `o` (status, body, seq, meta, variants, key), outside every store; with `head`
    // instead of o's when given.
    static MutableObjectPtr copy(const CachedObject& o);
    static MutableObjectPtr copy(const CachedObject& o, std::string_view head);

    std::string_view key() const noexcept { return {tail(), key_size_}; }

    // Cache-wide insertion sequence (next_object_sequence()): orders every object this cache
    // ever stored, across restarts. With meta.response_time (when it was fetched, which is when
    // it was inserted) it tells the purge log what a missed purge covers.
    std::uint64_t seq = 0;
    // Set on the URL's entry when the response varies: the variants live here instead.
    VariantSetPtr variants;
    // Last of the public fields: the private ones below sit in its tail padding.
    [[no_unique_address]] ObjectMeta meta;

    // The value of a stored field (first occurrence, name case-insensitive), read from head:
    // the validators are not kept twice. Empty when absent.
    std::string_view field(std::string_view name) const noexcept;
    std::string_view etag() const noexcept { return field("etag"); }
    std::string_view last_modified() const noexcept { return field("last-modified"); }
    // Bytes this object costs the memory budget (its body's header and its variants included).
    std::size_t charge() const {
        std::size_t c = sizeof(CachedObject) + key_size_ + head().size();
        if (body) c += sizeof(Body) + body->size();
        if (variants)
            for (const auto& [id, v] : variants->variants)
                c += id.size() + v->charge();
        return c;
    }

  private:
    CachedObject(std::uint8_t kind, std::string_view key, std::string_view head) noexcept;
    ~CachedObject() = default;
    // Destroys the object and frees its block as make allocated it (ResponseData's deleter).
    static void destroy(const ResponseData* r) noexcept;
    const char* tail() const noexcept { return reinterpret_cast<const char*>(this + 1); }

    // A MemoryStore holds a reference (its index points here): ResponseData's spare byte.
    bool stored() const noexcept { return spare_flags_ != 0; }
    void set_stored(bool on) noexcept { spare_flags_ = on ? 1 : 0; }

    std::uint32_t key_size_ = 0;
};
static_assert(sizeof(CachedObject) == 96, "CachedObject grew: update the layout comment");

// The cache-wide insertion sequence: strictly increasing, thread-safe. A disk store that finds
// objects up to sequence N after a restart calls advance_object_sequence(N + 1); the edge
// starts it at the wall clock in microseconds, so it also increases across restarts when the
// disk cannot be read at start-up.
std::uint64_t next_object_sequence() noexcept;
void advance_object_sequence(std::uint64_t at_least) noexcept;

}  // namespace cdn::edge::storage
