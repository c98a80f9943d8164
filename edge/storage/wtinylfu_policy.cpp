#include "edge/storage/wtinylfu_policy.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cdn::edge::storage {

namespace {

constexpr unsigned kWarmCandidate = 6;      // Caffeine's ADMIT_HASHDOS_THRESHOLD
constexpr double kStepFraction = 0.0625;    // Caffeine's HILL_CLIMBER_STEP_PERCENT
constexpr double kStepDecay = 0.98;         // HILL_CLIMBER_STEP_DECAY_RATE
constexpr double kRestartThreshold = 0.05;  // HILL_CLIMBER_RESTART_THRESHOLD

}  // namespace

WTinyLfuPolicy::WTinyLfuPolicy(NodeHash hasher, std::uint64_t capacity_bytes,
                               WTinyLfuSettings settings)
    : EvictionPolicy(hasher),
      capacity_(capacity_bytes),
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

void WTinyLfuPolicy::insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) {
    sketch_.increment(hash);
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

void WTinyLfuPolicy::hit(PolicyNode& node, std::uint64_t hash) {
    sketch_.increment(hash);
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
    const unsigned c = sketch_.frequency(hash_of(candidate));
    if (c > sketch_.frequency(hash_of(victim))) return true;
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
