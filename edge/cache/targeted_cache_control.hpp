#pragma once
// Which response field sets the edge's caching policy (RFC 9213): the first field of the target
// list (e.g. [Acme-CDN-Cache-Control, CDN-Cache-Control]) with a valid, non-empty value; then
// Surrogate-Control (Edge Architecture 1.0, as Fastly and Akamai honour it); else Cache-Control
// and Expires as RFC 9111 says. A targeted field is a Structured Field Dictionary: a syntax
// error anywhere ignores it as a whole. Pure.
#include "edge/cache/cache_control.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

struct CacheControlSources {
    // The target list, most specific first ([cache] targeted_fields). Default: CDN-Cache-Control.
    std::vector<std::string> targeted{"CDN-Cache-Control"};
    // Surrogate-Control, after the targeted fields and before Cache-Control ([cache]
    // surrogate_control).
    bool surrogate_control = true;
    // Directives of Surrogate-Control aimed at a device ("max-age=60;edge1") apply when the
    // device is this name (the edge's name); untargeted directives always apply.
    std::string device;
    bool operator==(const CacheControlSources&) const = default;
};

// A targeted field's value (all its lines joined with ", ") as cache directives; nullopt when
// it is empty or not a valid Dictionary. Directives whose value has the wrong type (max-age=1.5,
// max-age="60", no-store=?0) are ignored, as RFC 9213 section 2.1 advises.
std::optional<CacheControl> parse_targeted_cache_control(std::string_view value);

// Surrogate-Control: max-age (ESI's "max-age=N+M" keeps N), no-store, stale-while-revalidate
// and stale-if-error, each optionally ";device". nullopt when no directive applies here.
std::optional<CacheControl> parse_surrogate_control(std::string_view value,
                                                    std::string_view device);

// Where the policy of one response came from, and the directives to use.
struct EffectiveCacheControl {
    CacheControl cc;
    // The field that decided: "" for Cache-Control; else the targeted field's name or
    // "Surrogate-Control". Expires is ignored unless it is "".
    std::string_view source;
};

// get(name) returns a response field's lines joined with ", " (empty when absent). The fields
// of the target list and Surrogate-Control are never passed on to end clients when the
// caller strips them; this function only chooses.
template <class Get>
EffectiveCacheControl effective_cache_control(const CacheControlSources& s, Get&& get) {
    for (const std::string& name : s.targeted) {
        const std::string value = get(name);
        if (auto cc = parse_targeted_cache_control(value)) return {*cc, name};
    }
    CacheControl cc = parse_cache_control(get("Cache-Control"));
    if (s.surrogate_control) {
        const std::string value = get("Surrogate-Control");
        if (auto sc = parse_surrogate_control(value, s.device)) {
            // As Fastly does: Surrogate-Control sets the lifetime (over max-age and s-maxage) and
            // may forbid storing; Cache-Control's private, no-store and no-cache still hold.
            if (sc->max_age) {
                cc.max_age = sc->max_age;
                cc.s_maxage.reset();
                cc.invalid_max_age = false;
            }
            if (sc->stale_while_revalidate) cc.stale_while_revalidate = sc->stale_while_revalidate;
            if (sc->stale_if_error) cc.stale_if_error = sc->stale_if_error;
            cc.no_store |= sc->no_store;
            return {cc, "Surrogate-Control"};
        }
    }
    return {cc, ""};
}

}  // namespace cdn::edge::cache
