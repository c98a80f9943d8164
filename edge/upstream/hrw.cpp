#include "edge/upstream/hrw.hpp"

#include <xxhash.h>

namespace cdn::edge::upstream {

std::uint64_t hrw_member_hash(std::string_view id) noexcept {
    return XXH3_64bits_withSeed(id.data(), id.size(), 0x6872772d6d656d62ull);
}

std::uint64_t hrw_key_hash(std::string_view key) noexcept {
    return XXH3_64bits(key.data(), key.size());
}

}  // namespace cdn::edge::upstream
