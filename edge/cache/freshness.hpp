#pragma once
// Freshness and storability per RFC 9111 for a shared cache. Pure functions of the response
// facts, the request facts and `now`; no I/O, no clock.
#include "common/clock.hpp"
#include "edge/cache/cache_control.hpp"
#include "edge/storage/cached_object.hpp"

#include <optional>
#include <string_view>

namespace cdn::edge::cache {

struct FreshnessPolicy {
    double heuristic_fraction = 0.1;                // of (Date - Last-Modified), section 4.2.2
    Seconds heuristic_max{std::chrono::hours(24)};  // cap on a heuristic lifetime
    // Lifetime of a 404/405/410/414/501 that states none (negative caching); 0 turns it off.
    Seconds negative_ttl{10};
    // Lifetimes the edge assigns itself (heuristic, negative) are shortened by up to this
    // fraction at random, so entries filled together do not expire together.
    double jitter = 0.1;
    // How long past its lifetime a response may still be served when the origin fails, for
    // responses that state no stale-if-error (never with must-revalidate or no-cache).
    Seconds grace{std::chrono::hours(1)};
};

// What caching needs to know about an origin response, read once from its fields.
struct ResponseFacts {
    unsigned status = 0;
    CacheControl cc;
    std::optional<TimePoint> date;
    bool has_expires = false;
    std::optional<TimePoint> expires;  // empty with has_expires: invalid, i.e. already expired
    std::optional<TimePoint> last_modified;
    std::optional<std::int64_t> age;
    bool has_etag = false;
    bool has_set_cookie = false;
    std::string_view vary;  // raw Vary value; empty when absent
    // A targeted field (CDN-Cache-Control...) or Surrogate-Control is present, valid or not:
    // fields meant for the CDN, which end clients do not get (see CacheControlSources).
    bool has_cdn_fields = false;
};

struct RequestFacts {
    bool method_cacheable = false;  // GET or HEAD
    bool has_authorization = false;
    CacheControl cc;
};

// Why a response may or may not be stored; `store` is the only positive verdict.
enum class StoreVerdict {
    store,
    method,         // request method is not cacheable
    status,         // status code not final / not understood (1xx, 206, 304)
    no_store,       // no-store in the request or the response
    private_,       // private is for the browser's cache only
    authorization,  // request had Authorization and the response did not allow sharing
    set_cookie,     // Set-Cookie without public
    vary,           // Vary: * (the response varies on things a cache cannot see)
    no_lifetime,    // neither explicit freshness, nor a heuristic one, nor a validator
};
const char* to_string(StoreVerdict v) noexcept;

bool heuristically_cacheable(unsigned status) noexcept;
// The error statuses that are cacheable by default (negative caching).
bool negatively_cacheable(unsigned status) noexcept;

struct Lifetime {
    Seconds value{0};
    bool heuristic = false;
};
// Section 4.2.1 (explicit), 4.2.2 (heuristic), then the negative-caching default.
// response_time stands in for a missing Date. random01 in [0, 1) draws the jitter applied to
// lifetimes the edge assigns itself (explicit ones are never changed).
Lifetime freshness_lifetime(const ResponseFacts& r, TimePoint response_time,
                            const FreshnessPolicy& policy, double random01 = 0) noexcept;

// Section 4.2.3.
Seconds corrected_initial_age(const ResponseFacts& r, TimePoint request_time,
                              TimePoint response_time) noexcept;

StoreVerdict storability(const RequestFacts& req, const ResponseFacts& res, TimePoint response_time,
                         const FreshnessPolicy& policy) noexcept;

// Everything the store keeps for later freshness decisions.
storage::ObjectMeta make_meta(const ResponseFacts& r, TimePoint request_time,
                              TimePoint response_time, const FreshnessPolicy& policy,
                              double random01 = 0);

Seconds current_age(const storage::ObjectMeta& m, TimePoint now) noexcept;
// Seconds of freshness left (negative once stale).
std::int64_t ttl_left(const storage::ObjectMeta& m, TimePoint now) noexcept;
// True when the stored response may be served without contacting the origin.
bool usable_without_validation(const storage::ObjectMeta& m, TimePoint now) noexcept;

// What to do with a stored response on a request.
enum class Use {
    fresh,                   // serve it
    stale_while_revalidate,  // serve it now, refresh in the background (RFC 5861 section 3)
    revalidate,              // ask the origin first
};
Use decide_use(const storage::ObjectMeta& m, TimePoint now) noexcept;

// The client's own say (RFC 9111 section 5.2.1), when the host honours it: no-cache, max-age
// and min-fresh can only turn a use into a revalidation; max-stale lets a stale response be
// served without one (never when it says no-cache or must-revalidate). `stale_ok` is set when
// max-stale is what allows it.
Use decide_use(const storage::ObjectMeta& m, TimePoint now, const CacheControl& request,
               bool* stale_ok) noexcept;

// True when a stale response may stand in for a failed origin fetch: within its stale-if-error
// window (RFC 5861 section 4) or the configured grace, unless must-revalidate or no-cache
// forbid serving it stale.
bool may_serve_stale_on_error(const storage::ObjectMeta& m, TimePoint now,
                              const FreshnessPolicy& policy) noexcept;

// Origin statuses that count as errors for stale-if-error.
bool is_origin_error_status(unsigned status) noexcept;

}  // namespace cdn::edge::cache
