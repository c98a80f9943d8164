#include "edge/storage/segment_log.hpp"

#include <algorithm>

namespace cdn::edge::storage {

SegmentLog::SegmentLog(std::uint32_t segments, std::uint32_t segment_bytes)
    : segment_bytes_(std::max(segment_bytes, kSegmentHeader + 64)),
      segs_(std::max<std::uint32_t>(segments, 2)) {}

void SegmentLog::index_put(std::uint64_t hash, const DiskSlot& slot) {
    auto [it, inserted] = index_.try_emplace(hash, slot);
    if (!inserted) {
        live_bytes_ -= it->second.size;
        it->second = slot;
    }
    live_bytes_ += slot.size;
    max_seq_ = std::max(max_seq_, slot.seq);
}

void SegmentLog::reclaim(std::uint32_t segment) {
    Segment& s = segs_[segment];
    for (std::uint64_t h : s.hashes) {
        auto it = index_.find(h);
        if (it != index_.end() && it->second.segment == segment) {
            live_bytes_ -= it->second.size;
            index_.erase(it);
            ++reclaimed_;
        }
    }
    s.hashes.clear();
    s.hashes.shrink_to_fit();
    s.tombstones.clear();
    s.end = kSegmentHeader;
}

std::optional<SegmentLog::Placement> SegmentLog::place(std::uint32_t size) {
    if (size == 0 || size > max_record()) return std::nullopt;
    Placement p;
    Segment* s = &segs_[active_];
    if (!active_open_ || std::uint64_t{s->end} + size > segment_bytes_) {
        if (active_open_) {
            p.sealed = active_;
            active_ = (active_ + 1) % segments();
        }
        reclaim(active_);
        s = &segs_[active_];
        s->generation = next_generation_++;
        active_open_ = true;
        p.opened = true;
    }
    p.segment = active_;
    p.offset = s->end;
    p.generation = s->generation;
    s->end += size;
    return p;
}

void SegmentLog::close_active() {
    // Full as far as place() is concerned; the next placement moves on.
    if (active_open_) segs_[active_].end = segment_bytes_;
}

void SegmentLog::commit(std::uint64_t hash, const Placement& p, std::uint32_t size,
                        std::uint64_t seq, std::int64_t inserted_ms) {
    if (segs_[p.segment].generation != p.generation) return;  // reclaimed meanwhile
    index_put(hash, DiskSlot{p.segment, p.offset, size, 0, seq, inserted_ms});
    segs_[p.segment].hashes.push_back(hash);
}

void SegmentLog::commit_tombstone(std::uint64_t hash, const Placement& p, std::uint32_t size,
                                  std::uint64_t seq) {
    if (segs_[p.segment].generation != p.generation) return;
    if (auto it = index_.find(hash); it != index_.end() && it->second.seq <= seq) {
        live_bytes_ -= it->second.size;
        index_.erase(it);
    }
    segs_[p.segment].tombstones.push_back(DiskTombstone{hash, seq, p.offset, size});
    max_seq_ = std::max(max_seq_, seq);
}

const DiskSlot* SegmentLog::find(std::uint64_t hash) const {
    auto it = index_.find(hash);
    return it == index_.end() ? nullptr : &it->second;
}

bool SegmentLog::erase(std::uint64_t hash) {
    auto it = index_.find(hash);
    if (it == index_.end()) return false;
    live_bytes_ -= it->second.size;
    index_.erase(it);
    return true;
}

std::vector<std::pair<std::uint64_t, DiskSlot>> SegmentLog::objects_in(
    std::uint32_t segment) const {
    std::vector<std::pair<std::uint64_t, DiskSlot>> out;
    for (std::uint64_t h : segs_[segment].hashes) {
        auto it = index_.find(h);
        // A key written twice here is listed twice; keep its one indexed record once.
        if (it != index_.end() && it->second.segment == segment) out.emplace_back(h, it->second);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.second.offset < b.second.offset; });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; }),
              out.end());
    return out;
}

void SegmentLog::restore_segment(std::uint32_t segment, std::uint64_t generation,
                                 std::uint32_t end) {
    Segment& s = segs_[segment];
    s.generation = generation;
    s.end = std::clamp(end, kSegmentHeader, segment_bytes_);
    next_generation_ = std::max(next_generation_, generation + 1);
}

void SegmentLog::restore_object(std::uint64_t hash, const DiskSlot& slot) {
    // One probe of the index per record (restart inserts millions of them).
    auto [it, inserted] = index_.try_emplace(hash, slot);
    if (!inserted) {
        if (it->second.seq > slot.seq) return;
        live_bytes_ -= it->second.size;
        it->second = slot;
    }
    live_bytes_ += slot.size;
    max_seq_ = std::max(max_seq_, slot.seq);
    segs_[slot.segment].hashes.push_back(hash);
}

void SegmentLog::restore_tombstone(std::uint32_t segment, const DiskTombstone& t) {
    if (auto it = index_.find(t.hash); it != index_.end() && it->second.seq <= t.seq) {
        live_bytes_ -= it->second.size;
        index_.erase(it);
    }
    segs_[segment].tombstones.push_back(t);
    max_seq_ = std::max(max_seq_, t.seq);
}

void SegmentLog::finish_restore() {
    std::uint64_t newest = 0;
    for (std::uint32_t i = 0; i < segments(); ++i)
        if (segs_[i].generation > newest) {
            newest = segs_[i].generation;
            active_ = i;
        }
    active_open_ = newest != 0;
}

}  // namespace cdn::edge::storage
