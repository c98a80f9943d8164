#include "origin_sim/body.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace cdn::origin_sim {
namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += kGolden;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Byte value -> [a-zA-Z0-9] (256 is not a multiple of 62: a slight bias, harmless here).
constexpr std::array<char, 256> make_table() {
    constexpr std::string_view alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::array<char, 256> t{};
    for (std::size_t i = 0; i < t.size(); ++i)
        t[i] = alphabet[i % alphabet.size()];
    return t;
}
constexpr std::array<char, 256> kTable = make_table();

// The 8 bytes of block b (bytes 8b .. 8b+7).
inline void block(std::uint64_t seed, std::uint64_t b, char* out) noexcept {
    const std::uint64_t v = splitmix64(seed ^ (b * kGolden));
    for (unsigned j = 0; j < 8; ++j)
        out[j] = kTable[(v >> (8 * j)) & 0xFF];
}

}  // namespace

std::uint64_t body_seed(std::string_view identity, std::uint64_t version) noexcept {
    return XXH3_64bits_withSeed(identity.data(), identity.size(), splitmix64(version));
}

void fill_body(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t n) noexcept {
    std::uint64_t b = offset / 8;
    std::size_t skip = static_cast<std::size_t>(offset % 8);
    char tmp[8];
    while (n > 0) {
        if (skip == 0 && n >= 8) {
            block(seed, b, out);
            out += 8;
            n -= 8;
        } else {
            block(seed, b, tmp);
            const std::size_t take = std::min<std::size_t>(8 - skip, n);
            std::memcpy(out, tmp + skip, take);
            out += take;
            n -= take;
            skip = 0;
        }
        ++b;
    }
}

std::string make_body(std::string_view identity, std::uint64_t version, std::size_t size) {
    std::string s(size, '\0');
    fill_body(body_seed(identity, version), 0, s.data(), size);
    return s;
}

std::string etag_value(std::string_view identity, std::uint64_t version, std::uint64_t size) {
    const std::uint64_t h = XXH3_64bits_withSeed(
        identity.data(), identity.size(), splitmix64(version) ^ splitmix64(size ^ 0x5bd1e995ull));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 0; i < 16; ++i)
        s[static_cast<std::size_t>(15 - i)] = kHex[(h >> (4 * i)) & 0xF];
    return s;
}

std::string make_etag(std::string_view identity, std::uint64_t version, std::uint64_t size,
                      bool weak) {
    return (weak ? "W/\"" : "\"") + etag_value(identity, version, size) + "\"";
}

}  // namespace cdn::origin_sim
