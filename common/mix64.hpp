#pragma once
// splitmix64's finaliser: a cheap bijective 64-bit mix with full avalanche (every input bit
// flips about half the output bits). For spreading hashes and counters over tables and for
// small PRNGs; not for anything an attacker must not predict.
#include <cstdint>

namespace cdn {

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace cdn
