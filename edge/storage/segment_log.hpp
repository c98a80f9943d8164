#pragma once
// Where the disk tier's records live, without the I/O: a ring of equal-sized segments written
// one after another (log-structured, as CacheLib's Navy block cache and Traffic Server's
// stripes are), an in-memory index from key hash to record, and eviction a whole segment at a
// time (the oldest segment is reclaimed when the writer needs room, and every record still
// indexed in it is dropped). DiskStore adds files and checksums; bench/trace_replay uses this
// alone to model the disk tier.
//
// Per object in the index: 32 bytes of slot plus the key hash (8) and the flat map's overhead,
// and 8 bytes in its segment's hash list (to reclaim without scanning the index).
// Pure code, not thread-safe (DiskStore holds it under its lock).
#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace cdn::edge::storage {

struct DiskSlot {
    std::uint32_t segment = 0;
    std::uint32_t offset = 0;  // of the record in its segment
    std::uint32_t size = 0;    // record bytes on disk
    std::uint32_t reserved = 0;
    std::uint64_t seq = 0;  // the object's CachedObject::seq
    std::int64_t inserted_ms = 0;
};

// A tombstone written into a segment: it cancels older records of the key after a restart.
struct DiskTombstone {
    std::uint64_t hash = 0;
    std::uint64_t seq = 0;
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

class SegmentLog {
  public:
    // Bytes at the start of each segment for its header; records follow.
    static constexpr std::uint32_t kSegmentHeader = 64;

    SegmentLog(std::uint32_t segments, std::uint32_t segment_bytes);

    std::uint32_t segments() const { return static_cast<std::uint32_t>(segs_.size()); }
    std::uint32_t segment_bytes() const { return segment_bytes_; }
    std::uint64_t capacity() const { return std::uint64_t{segment_bytes_} * segs_.size(); }
    std::uint32_t max_record() const { return segment_bytes_ - kSegmentHeader; }

    struct Placement {
        std::uint32_t segment = 0;
        std::uint32_t offset = 0;
        std::uint64_t generation = 0;
        // The write starts a segment: its file must be (re)initialised with this generation
        // before the record goes in, and `sealed` (if any) is the segment just completed.
        bool opened = false;
        std::optional<std::uint32_t> sealed;
    };
    // Reserves room for a record of `size` bytes at the end of the log. When the active
    // segment cannot hold it, the log moves to the next segment of the ring and reclaims it:
    // every object indexed there leaves the index (counted in reclaimed()). nullopt when the
    // record is larger than a segment.
    std::optional<Placement> place(std::uint32_t size);
    // Abandons the rest of the active segment (after a write error): the next place() opens
    // the next one.
    void close_active();

    // The record placed at p was written: index it, replacing any older record of the key.
    void commit(std::uint64_t hash, const Placement& p, std::uint32_t size, std::uint64_t seq,
                std::int64_t inserted_ms);
    // A tombstone placed at p was written: the key leaves the index (if indexed with an older
    // sequence) and the tombstone is remembered for the segment's summary.
    void commit_tombstone(std::uint64_t hash, const Placement& p, std::uint32_t size,
                          std::uint64_t seq);

    const DiskSlot* find(std::uint64_t hash) const;
    // Drops the key from the index (the record stays until its segment is reclaimed).
    bool erase(std::uint64_t hash);

    // The live objects of a segment, in the order written, and its tombstones: its summary.
    std::vector<std::pair<std::uint64_t, DiskSlot>> objects_in(std::uint32_t segment) const;
    const std::vector<DiskTombstone>& tombstones_in(std::uint32_t segment) const {
        return segs_[segment].tombstones;
    }
    std::uint64_t generation_of(std::uint32_t segment) const { return segs_[segment].generation; }
    std::uint32_t end_of(std::uint32_t segment) const { return segs_[segment].end; }
    std::uint32_t active() const { return active_; }

    // Restart: segments are restored oldest first, each with its generation and the end of its
    // records, then their records (restore_object / restore_tombstone in write order); finally
    // finish_restore() makes the newest segment the active one.
    void restore_segment(std::uint32_t segment, std::uint64_t generation, std::uint32_t end);
    // Room for `objects` in the index (and `in_segment` of them in a segment's list) before a
    // restore, so that it does not rehash as it grows.
    void reserve(std::size_t objects) { index_.reserve(objects); }
    void reserve_segment(std::uint32_t segment, std::size_t in_segment) {
        segs_[segment].hashes.reserve(in_segment);
    }
    void restore_object(std::uint64_t hash, const DiskSlot& slot);
    void restore_tombstone(std::uint32_t segment, const DiskTombstone& t);
    void finish_restore();

    std::size_t objects() const { return index_.size(); }
    std::uint64_t live_bytes() const { return live_bytes_; }
    std::uint64_t reclaimed() const { return reclaimed_; }
    std::uint64_t max_seq() const { return max_seq_; }
    // Drops every indexed object for which pred(slot) is true; returns how many.
    template <class Pred>
    std::size_t erase_if(Pred&& pred) {
        std::size_t n = 0;
        boost::unordered::erase_if(index_, [&](const auto& kv) {
            if (!pred(kv.second)) return false;
            live_bytes_ -= kv.second.size;
            ++n;
            return true;
        });
        return n;
    }
    // Visits every indexed object (for a purge after restart).
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [h, s] : index_)
            f(h, s);
    }

  private:
    struct Segment {
        std::uint64_t generation = 0;  // 0 = never written
        std::uint32_t end = kSegmentHeader;
        std::vector<std::uint64_t> hashes;  // every key committed here, in order
        std::vector<DiskTombstone> tombstones;
    };
    void reclaim(std::uint32_t segment);
    void index_put(std::uint64_t hash, const DiskSlot& slot);

    std::uint32_t segment_bytes_;
    std::vector<Segment> segs_;
    std::uint32_t active_ = 0;
    bool active_open_ = false;  // the active segment has been placed into since it was opened
    std::uint64_t next_generation_ = 1;
    boost::unordered_flat_map<std::uint64_t, DiskSlot> index_;
    std::uint64_t live_bytes_ = 0;
    std::uint64_t reclaimed_ = 0;
    std::uint64_t max_seq_ = 0;
};

}  // namespace cdn::edge::storage
