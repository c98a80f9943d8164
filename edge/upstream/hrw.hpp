#pragma once
// Weighted rendezvous hashing (HRW, Thaler and Ravishankar 1998; weighted as in Schindelhauer and
// Schomaker 2005): every member gets a score for a key, the highest score owns the key, and the
// rest in score order are the failover order. Every edge computes the same order from the same
// key and members, whatever order they were configured in; when a member leaves, only the keys it
// owned move (about 1/N of them), each to its own next member. Pure functions.
#include "common/mix64.hpp"

#include <cmath>
#include <cstdint>
#include <string_view>

namespace cdn::edge::upstream {

// A member's identity for hashing: its "host:port" as configured (stable across edges).
std::uint64_t hrw_member_hash(std::string_view id) noexcept;
// A cache key's hash.
std::uint64_t hrw_key_hash(std::string_view key) noexcept;

// The score of a member for a key: -weight / ln(u), u uniform in (0, 1) from the two hashes.
// A member with twice the weight owns twice the share of keys. weight <= 0 scores -inf.
inline double hrw_score(std::uint64_t key_hash, std::uint64_t member_hash, double weight) noexcept {
    if (!(weight > 0)) return -HUGE_VAL;
    // splitmix64 finaliser of the combination: a good 64-bit mix of both inputs.
    const std::uint64_t z =
        mix64(key_hash ^ (member_hash + 0x9e3779b97f4a7c15ull + (key_hash << 6) + (key_hash >> 2)));
    const double u = (static_cast<double>(z >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
    return -weight / std::log(u);
}

}  // namespace cdn::edge::upstream
