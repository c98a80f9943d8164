#include "edge/storage/ghost_fifo.hpp"

#include "edge/storage/flat_table.hpp"

#include <utility>

namespace cdn::edge::storage {

void GhostFifo::remember(std::uint64_t hash, std::size_t limit) {
    if (limit == 0) {
        take(hash);
    } else {
        const std::uint32_t fp = fingerprint(hash);
        live_.insert_or_assign(fp, static_cast<std::uint32_t>(front_seq_ + ring_.size()));
        ring_.push_back(fp);
    }
    while (live_.size() > limit)
        pop_front();
    // Slots of taken or re-remembered hashes are stale; drop them from the front, and rebuild
    // the ring when they are most of it, so it stays within twice the live count.
    while (!ring_.empty()) {
        auto it = live_.find(ring_.front());
        if (it != live_.end() && it->second == static_cast<std::uint32_t>(front_seq_)) break;
        ring_.pop_front();
        ++front_seq_;
    }
    if (ring_.size() > 2 * live_.size() + 64) compact();
    // The limit follows the objects held, which a burst of small ones raises.
    shrink_when_sparse(live_);
}

void GhostFifo::pop_front() {
    auto it = live_.find(ring_.front());
    if (it != live_.end() && it->second == static_cast<std::uint32_t>(front_seq_)) live_.erase(it);
    ring_.pop_front();
    ++front_seq_;
}

void GhostFifo::compact() {
    std::deque<std::uint32_t> kept;
    std::uint64_t seq = front_seq_;
    for (const std::uint32_t fp : ring_) {
        auto it = live_.find(fp);
        if (it != live_.end() && it->second == static_cast<std::uint32_t>(seq)) {
            // never above seq: slots only move forward
            it->second = static_cast<std::uint32_t>(front_seq_ + kept.size());
            kept.push_back(fp);
        }
        ++seq;
    }
    ring_ = std::move(kept);
}

}  // namespace cdn::edge::storage
