#pragma once
// The one list of cache outcomes. It feeds the access log, the metric labels and the X-Cache /
// Cache-Status (RFC 9211) response fields, so they always agree.
#include <array>
#include <cstddef>
#include <string_view>

namespace cdn::edge::cache {

enum class Outcome {
    hit,          // served from cache, fresh
    miss,         // not in cache; fetched (and stored if allowed)
    expired,      // in cache but stale; fetched again in full
    revalidated,  // in cache but stale; origin confirmed it with 304
    stale,        // served stale: while revalidating in the background, or the origin failed
    pass,         // request not cacheable (method, no-store); forwarded
    error,        // the edge answered with an error of its own
    synthetic,    // the edge answered itself (admin, redirects)
};
inline constexpr std::size_t kOutcomeCount = 8;

constexpr std::string_view x_cache(Outcome o) noexcept {
    switch (o) {
        case Outcome::hit: return "HIT";
        case Outcome::miss: return "MISS";
        case Outcome::expired: return "EXPIRED";
        case Outcome::revalidated: return "REVALIDATED";
        case Outcome::stale: return "STALE";
        case Outcome::pass: return "PASS";
        case Outcome::error: return "ERROR";
        case Outcome::synthetic: return "SYNTH";
    }
    return "UNKNOWN";
}

// Lower-case label for metrics and logs.
constexpr std::string_view label(Outcome o) noexcept {
    switch (o) {
        case Outcome::hit: return "hit";
        case Outcome::miss: return "miss";
        case Outcome::expired: return "expired";
        case Outcome::revalidated: return "revalidated";
        case Outcome::stale: return "stale";
        case Outcome::pass: return "pass";
        case Outcome::error: return "error";
        case Outcome::synthetic: return "synthetic";
    }
    return "unknown";
}

constexpr std::array<Outcome, kOutcomeCount> kAllOutcomes = {
    Outcome::hit,   Outcome::miss, Outcome::expired, Outcome::revalidated,
    Outcome::stale, Outcome::pass, Outcome::error,   Outcome::synthetic};

}  // namespace cdn::edge::cache
