#include "edge/storage/s3tlfu_policy.hpp"

#include <algorithm>
#include <cmath>

namespace cdn::edge::storage {

S3TinyLfuPolicy::S3TinyLfuPolicy(NodeHash hasher, std::uint64_t capacity_bytes,
                                 S3TinyLfuSettings settings)
    : EvictionPolicy(hasher),
      capacity_(capacity_bytes),
      settings_(settings),
      small_target_(static_cast<std::uint64_t>(std::llround(
          static_cast<double>(capacity_bytes) * std::clamp(settings.small_fraction, 0.0, 1.0)))),
      gate_bytes_(settings.size_gate > 0
                      ? static_cast<std::uint64_t>(
                            std::llround(static_cast<double>(small_target_) * settings.size_gate))
                      : UINT64_MAX),
      sketch_(0) {  // the smallest; it grows with the objects held (insert)
    settings_.ghost_factor = std::clamp(settings_.ghost_factor, 0.0, 16.0);
}

void S3TinyLfuPolicy::insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) {
    count_hits();
    sketch_.increment(hash);
    if (replaced && (replaced->queue == kSmall || replaced->queue == kMain)) {
        // A new version of a cached key keeps its queue and its hits.
        node.freq = replaced->freq;
        node.queue = replaced->queue;
        node.reused = replaced->reused;
        (node.queue == kMain ? main_ : node.queue == kGated ? gated_ : small_).push_front(node);
    } else if (node.freq = 0; ghost_.take(hash)) {
        node.queue = kMain;
        node.reused = 1;  // evicted from small, then asked for again
        main_.push_front(node);
    } else {
        node.queue = node.charge > gate_bytes_ ? kGated : kSmall;
        (node.queue == kGated ? gated_ : small_).push_front(node);
    }
    // Sized by the objects held, not by bytes (a shard of 1 MiB objects would get a sketch
    // sized for 4 KiB ones, mostly unused: up to 185 bytes per object on cloudphysics): a 64-bit
    // word of 16 counters per object held (Caffeine's sizing), grown in powers of two keeping
    // every count.
    if (size() > sketch_.expected_objects()) sketch_.ensure_capacity(size());
}

void S3TinyLfuPolicy::hit(PolicyNode& node, std::uint64_t hash) {
    hit_batch_[batched_hits_++] = hash;
    if (batched_hits_ == kHitBatch) count_hits();
    if (node.freq < kMaxFreq) node.freq = node.freq + 1;
}

void S3TinyLfuPolicy::count_hits() {
    for (std::size_t i = 0; i < batched_hits_; ++i)
        sketch_.prefetch(hit_batch_[i]);
    for (std::size_t i = 0; i < batched_hits_; ++i)
        sketch_.increment(hit_batch_[i]);
    batched_hits_ = 0;
}

void S3TinyLfuPolicy::erase(PolicyNode& node) {
    switch (node.queue) {
        case kSmall: small_.unlink(node); break;
        case kMain: main_.unlink(node); break;
        case kGated: gated_.unlink(node); break;
        default: break;
    }
    node.queue = 0;
}

PolicyNode* S3TinyLfuPolicy::evict() {
    count_hits();
    if (PolicyNode* victim = evict_from(gated_)) return victim;
    if (small_.empty() || main_.bytes() > capacity_ - small_target_) return evict_main();
    if (PolicyNode* victim = evict_from(small_)) return victim;
    return evict_main();  // everything in small moved to main
}

PolicyNode* S3TinyLfuPolicy::main_candidate() {
    // Terminates: every pass over a node lowers its freq, and freq is at most 3.
    while (PolicyNode* n = main_.back()) {
        if (n->freq == 0) return n;
        n->freq = n->freq - 1;
        main_.move_to_front(*n);
    }
    return nullptr;
}

PolicyNode* S3TinyLfuPolicy::evict_from(PolicyList& list) {
    // Terminates: every pass either returns or moves a node from the list to main.
    while (PolicyNode* n = list.back()) {
        bool promote = n->freq >= 1;
        if (!promote && settings_.tinylfu_gate) {
            const PolicyNode* v = main_candidate();
            promote = v && sketch_.frequency(hash_of(*n)) > sketch_.frequency(hash_of(*v));
        }
        list.unlink(*n);
        if (promote) {
            n->freq = 0;
            n->queue = kMain;
            main_.push_front(*n);
            continue;
        }
        ghost_.remember(hash_of(*n), ghost_limit());
        n->queue = 0;
        return n;
    }
    return nullptr;
}

PolicyNode* S3TinyLfuPolicy::evict_main() {
    PolicyNode* n = main_candidate();
    if (n) {
        main_.unlink(*n);
        n->queue = 0;
    }
    return n;
}

std::size_t S3TinyLfuPolicy::ghost_limit() const {
    // As S3-FIFO (main's count; while main fills, 90% of the shard's), times the factor.
    const std::size_t base = std::max(main_.size(), (size() * 9 + 9) / 10);
    return static_cast<std::size_t>(settings_.ghost_factor * static_cast<double>(base));
}

}  // namespace cdn::edge::storage
