#include "edge/storage/frequency_sketch.hpp"

#include "common/mix64.hpp"

#include <algorithm>
#include <bit>

namespace cdn::edge::storage {

namespace {

constexpr std::size_t kMinObjects = 64;
constexpr std::size_t kMaxObjects = std::size_t{1} << 22;
constexpr unsigned kMaxCount = 15;
constexpr unsigned kDoorProbes = 3;

constexpr std::uint64_t kSeeds[4] = {0x97cb3127c4ce8a65ull, 0xb3c1a1d1e4e5f6a7ull,
                                     0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull};

std::size_t clamp_objects(std::size_t n) {
    return std::clamp(n, kMinObjects, kMaxObjects);
}

}  // namespace

FrequencySketch::FrequencySketch(std::size_t expected_objects, bool doorkeeper)
    : use_door_(doorkeeper) {
    ensure_capacity(expected_objects);
}

void FrequencySketch::ensure_capacity(std::size_t expected_objects) {
    const std::size_t n = std::bit_ceil(clamp_objects(expected_objects));
    if (n <= expected_) return;
    // Counter c of the grown table is counter c & old_mask of the old one, so tiling the old
    // words keeps every estimate (and doorkeeper bit) as it was.
    const std::size_t old_words = table_.size();
    table_.resize(n);
    for (std::size_t w = old_words; w < n && old_words > 0; ++w)
        table_[w] = table_[w & (old_words - 1)];
    if (use_door_) {
        const std::size_t old_door = door_.size();
        door_.resize(n / 4);
        for (std::size_t w = old_door; w < door_.size() && old_door > 0; ++w)
            door_[w] = door_[w & (old_door - 1)];
    }
    expected_ = n;
    sample_size_ = 10 * static_cast<std::uint64_t>(n);
}

// Blocked (Caffeine 3's layout): a key's four counters all lie in one 64-byte block of eight
// words, one in each pair of words, so counting a key touches one cache line, not four.
std::size_t FrequencySketch::counter_index(std::uint64_t hash, unsigned probe) const {
    const std::uint64_t block_hash = mix64(hash + kSeeds[0]);
    const std::size_t block = static_cast<std::size_t>(block_hash & (table_.size() / 8 - 1)) * 8;
    const std::uint64_t h = mix64(block_hash ^ kSeeds[1]) >> (probe * 8);
    const std::size_t word = block + probe * 2 + (h & 1);
    return word * 16 + static_cast<std::size_t>((h >> 1) & 15);
}

// The doorkeeper's bits of a key: three of one 64-bit word (a blocked Bloom filter: one cache
// line per key).
std::uint64_t FrequencySketch::door_mask(std::uint64_t hash, std::size_t& word) const {
    const std::uint64_t h = mix64(hash ^ kSeeds[3]);
    word = static_cast<std::size_t>(h & (door_.size() - 1));
    const std::uint64_t bits = h >> 40;
    std::uint64_t mask = 0;
    for (unsigned p = 0; p < kDoorProbes; ++p)
        mask |= std::uint64_t{1} << ((bits >> (p * 6)) & 63);
    return mask;
}

void FrequencySketch::increment(std::uint64_t hash) {
    ++additions_;
    bool absorbed = false;
    if (use_door_) {
        // The first access since the last reset only sets the doorkeeper's bits.
        std::size_t w = 0;
        const std::uint64_t mask = door_mask(hash, w);
        absorbed = (door_[w] & mask) != mask;
        door_[w] |= mask;
    }
    if (!absorbed) {
        for (unsigned p = 0; p < 4; ++p) {
            const std::size_t c = counter_index(hash, p);
            const unsigned shift = static_cast<unsigned>(c & 15) * 4;
            if (((table_[c >> 4] >> shift) & 15) < kMaxCount)
                table_[c >> 4] += std::uint64_t{1} << shift;
        }
    }
    if (additions_ >= sample_size_) reset();
}

void FrequencySketch::prefetch(std::uint64_t hash) const {
    __builtin_prefetch(&table_[counter_index(hash, 0) >> 4]);  // every probe is in that block
    if (use_door_) {
        std::size_t w = 0;
        door_mask(hash, w);
        __builtin_prefetch(&door_[w]);
    }
}

unsigned FrequencySketch::frequency(std::uint64_t hash) const {
    unsigned f = kMaxCount;
    for (unsigned p = 0; p < 4; ++p) {
        const std::size_t c = counter_index(hash, p);
        f = std::min(f, static_cast<unsigned>((table_[c >> 4] >> ((c & 15) * 4)) & 15));
    }
    if (use_door_) {
        std::size_t w = 0;
        const std::uint64_t mask = door_mask(hash, w);
        f += (door_[w] & mask) == mask ? 1 : 0;
    }
    return f;
}

void FrequencySketch::reset() {
    for (std::uint64_t& w : table_)
        w = (w >> 1) & 0x7777777777777777ull;
    std::fill(door_.begin(), door_.end(), 0);
    additions_ /= 2;
    ++resets_;
}

}  // namespace cdn::edge::storage
