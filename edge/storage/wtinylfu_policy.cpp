#include "edge/storage/wtinylfu_policy.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cdn::edge::storage {

namespace {

constexpr std::size_t kMinObjects = 64;
constexpr std::size_t kMaxObjects = std::size_t{1} << 22;
constexpr unsigned kMaxCount = 15;
constexpr unsigned kDoorProbes = 3;
constexpr unsigned kWarmCandidate = 6;      // Caffeine's ADMIT_HASHDOS_THRESHOLD
constexpr double kStepFraction = 0.0625;    // Caffeine's HILL_CLIMBER_STEP_PERCENT
constexpr double kStepDecay = 0.98;         // HILL_CLIMBER_STEP_DECAY_RATE
constexpr double kRestartThreshold = 0.05;  // HILL_CLIMBER_RESTART_THRESHOLD

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

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
    const std::uint64_t block_hash = mix(hash + kSeeds[0]);
    const std::size_t block = static_cast<std::size_t>(block_hash & (table_.size() / 8 - 1)) * 8;
    const std::uint64_t h = mix(block_hash ^ kSeeds[1]) >> (probe * 8);
    const std::size_t word = block + probe * 2 + (h & 1);
    return word * 16 + static_cast<std::size_t>((h >> 1) & 15);
}

// The doorkeeper's bits of a key: three of one 64-bit word (a blocked Bloom filter: one cache
// line per key).
std::uint64_t FrequencySketch::door_mask(std::uint64_t hash, std::size_t& word) const {
    const std::uint64_t h = mix(hash ^ kSeeds[3]);
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

WTinyLfuPolicy::WTinyLfuPolicy(std::uint64_t capacity_bytes, WTinyLfuSettings settings)
    : capacity_(capacity_bytes),
      settings_(settings),
      sketch_(static_cast<std::size_t>(capacity_bytes /
                                       std::max<std::uint64_t>(settings.bytes_per_object, 1)),
              settings.doorkeeper) {
    settings_.max_window_fraction = std::clamp(settings_.max_window_fraction, 0.0, 1.0);
    settings_.protected_fraction = std::clamp(settings_.protected_fraction, 0.0, 1.0);
    set_window_target(static_cast<double>(capacity_) * settings_.window_fraction);
    step_ = -kStepFraction * static_cast<double>(capacity_);
}

void WTinyLfuPolicy::set_window_target(double bytes) {
    window_exact_ =
        std::clamp(bytes, 0.0, static_cast<double>(capacity_) * settings_.max_window_fraction);
    window_target_ = static_cast<std::uint64_t>(std::llround(window_exact_));
    protected_target_ = static_cast<std::uint64_t>(std::llround(
        static_cast<double>(capacity_ - window_target_) * settings_.protected_fraction));
}

void WTinyLfuPolicy::insert(PolicyNode& node, const PolicyNode* replaced) {
    sketch_.increment(node.hash);
    node.freq = 0;
    if (replaced && replaced->queue != 0) {
        // A new version of a cached key keeps its queue and its standing; neither hit nor miss.
        node.queue = replaced->queue;
        node.reused = replaced->reused;
    } else {
        node.queue = kWindow;
        ++sample_misses_;
    }
    switch (node.queue) {
        case kWindow: window_.push_front(node); break;
        case kProbation: probation_.push_front(node); break;
        default: protected_.push_front(node); demote_protected_overflow();
    }
    spill_window();
    if (size() > sketch_.expected_objects()) sketch_.ensure_capacity(2 * size());
    climb();
}

void WTinyLfuPolicy::spill_window() {
    // Caffeine's maintenance after a write: the window's overflow moves to probation while main
    // has room (it fills main before anything is evicted; once main is full, evict() decides).
    const std::uint64_t main_target = capacity_ - window_target_;
    while (window_.bytes() > window_target_) {
        PolicyNode* c = window_.back();
        if (probation_.bytes() + protected_.bytes() + c->charge > main_target) break;
        window_.unlink(*c);
        c->queue = kProbation;
        probation_.push_front(*c);
    }
}

void WTinyLfuPolicy::hit(PolicyNode& node) {
    sketch_.increment(node.hash);
    node.reused = 1;
    ++sample_hits_;
    switch (node.queue) {
        case kWindow: window_.move_to_front(node); break;
        case kProbation:
            probation_.unlink(node);
            node.queue = kProtected;
            protected_.push_front(node);
            demote_protected_overflow();
            break;
        case kProtected: protected_.move_to_front(node); break;
        default: break;
    }
    climb();
}

void WTinyLfuPolicy::demote_protected_overflow() {
    while (protected_.bytes() > protected_target_ && protected_.size() > 1) {
        PolicyNode& n = *protected_.back();
        protected_.unlink(n);
        n.queue = kProbation;
        probation_.push_front(n);
    }
}

void WTinyLfuPolicy::erase(PolicyNode& node) {
    switch (node.queue) {
        case kWindow: window_.unlink(node); break;
        case kProbation: probation_.unlink(node); break;
        case kProtected: protected_.unlink(node); break;
        default: break;
    }
    node.queue = 0;
}

PolicyNode* WTinyLfuPolicy::detach(PolicyNode& n) {
    erase(n);
    return &n;
}

PolicyNode* WTinyLfuPolicy::main_victim() const {
    if (PolicyNode* v = probation_.back()) return v;
    return protected_.back();
}

bool WTinyLfuPolicy::admit(const PolicyNode& candidate, const PolicyNode& victim) {
    const unsigned c = sketch_.frequency(candidate.hash);
    if (c > sketch_.frequency(victim.hash)) return true;
    if (c < kWarmCandidate) return false;
    random_ ^= random_ << 13;
    random_ ^= random_ >> 7;
    random_ ^= random_ << 17;
    return (random_ & 127) == 0;
}

PolicyNode* WTinyLfuPolicy::evict() {
    const std::uint64_t main_target = capacity_ - window_target_;
    for (;;) {
        const std::uint64_t main_bytes = probation_.bytes() + protected_.bytes();
        PolicyNode* candidate = window_.back();
        // The window gives up its LRU object when over its share, or when main is not over its
        // own (the new object, not yet inserted, is what overflows the shard).
        if (candidate && (window_.bytes() > window_target_ || main_bytes <= main_target)) {
            if (main_bytes + candidate->charge <= main_target) {
                window_.unlink(*candidate);
                candidate->queue = kProbation;
                probation_.push_front(*candidate);
                continue;
            }
            PolicyNode* victim = main_victim();
            if (!victim || !admit(*candidate, *victim)) return detach(*candidate);
            detach(*victim);
            window_.unlink(*candidate);
            candidate->queue = kProbation;
            probation_.push_front(*candidate);
            return victim;
        }
        if (PolicyNode* victim = main_victim()) return detach(*victim);
        return candidate ? detach(*candidate) : nullptr;
    }
}

void WTinyLfuPolicy::climb() {
    if (!settings_.climb) return;
    const std::uint64_t requests = sample_hits_ + sample_misses_;
    const std::uint64_t sample =
        settings_.climb_sample ? settings_.climb_sample : sketch_.sample_size();
    if (requests < sample) return;
    const double hit_ratio = static_cast<double>(sample_hits_) / static_cast<double>(requests);
    const double change = hit_ratio - previous_hit_ratio_;
    const double amount = change >= 0 ? step_ : -step_;
    step_ = std::abs(change) >= kRestartThreshold
                ? kStepFraction * static_cast<double>(capacity_) * (amount >= 0 ? 1 : -1)
                : kStepDecay * amount;
    previous_hit_ratio_ = hit_ratio;
    sample_hits_ = sample_misses_ = 0;
    set_window_target(window_exact_ + amount);
    ++climbs_;
}

}  // namespace cdn::edge::storage
