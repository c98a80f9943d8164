#include "edge/storage/s3fifo_policy.hpp"

#include <algorithm>
#include <cmath>

namespace cdn::edge::storage {

S3FifoPolicy::S3FifoPolicy(NodeHash hasher, std::uint64_t capacity_bytes, S3FifoSettings settings)
    : EvictionPolicy(hasher),
      capacity_(capacity_bytes),
      small_target_(static_cast<std::uint64_t>(std::llround(
          static_cast<double>(capacity_bytes) * std::clamp(settings.small_fraction, 0.0, 1.0)))),
      promote_threshold_(std::clamp(settings.promote_threshold, 1u, kMaxFreq)) {}

void S3FifoPolicy::insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) {
    if (replaced && (replaced->queue == kSmall || replaced->queue == kMain)) {
        // A new version of a cached key keeps its queue and its hits.
        node.freq = replaced->freq;
        node.queue = replaced->queue;
        node.reused = replaced->reused;
    } else {
        node.freq = 0;
        node.queue = kSmall;
        if (ghost_.take(hash)) {
            node.queue = kMain;
            node.reused = 1;  // evicted from small, then asked for again
        }
    }
    (node.queue == kMain ? main_ : small_).push_front(node);
}

void S3FifoPolicy::hit(PolicyNode& node, std::uint64_t /*hash*/) {
    if (node.freq < kMaxFreq) node.freq = node.freq + 1;
}

void S3FifoPolicy::erase(PolicyNode& node) {
    if (node.queue == kSmall)
        small_.unlink(node);
    else if (node.queue == kMain)
        main_.unlink(node);
    node.queue = 0;
}

PolicyNode* S3FifoPolicy::evict() {
    if (small_.empty() || main_.bytes() > capacity_ - small_target_) return evict_main();
    if (PolicyNode* victim = evict_small()) return victim;
    return evict_main();  // everything in small had been hit and moved to main
}

PolicyNode* S3FifoPolicy::evict_small() {
    while (PolicyNode* n = small_.back()) {
        if (n->freq >= promote_threshold_) {
            small_.unlink(*n);
            n->freq = 0;
            n->queue = kMain;
            main_.push_front(*n);
            continue;
        }
        ghost_.remember(hash_of(*n), ghost_limit());
        small_.unlink(*n);
        n->queue = 0;
        return n;
    }
    return nullptr;
}

PolicyNode* S3FifoPolicy::evict_main() {
    // Terminates: every pass over a node lowers its freq, and freq is at most 3.
    while (PolicyNode* n = main_.back()) {
        if (n->freq > 0) {
            n->freq = n->freq - 1;
            main_.move_to_front(*n);
            continue;
        }
        main_.unlink(*n);
        n->queue = 0;
        return n;
    }
    return nullptr;
}

std::size_t S3FifoPolicy::ghost_limit() const {
    // As many as main holds; while main fills, 90% (rounded up) of what the shard holds.
    return std::max(main_.size(), (size() * 9 + 9) / 10);
}

}  // namespace cdn::edge::storage
