#pragma once
// The disk tier: objects in a ring of preallocated segments of one file, written
// sequentially by one writer thread (SegmentLog decides where; record_codec decides the bytes),
// indexed in memory by key hash, evicted a segment at a time. Survives restarts: a clean stop
// writes a summary of the active segment; after a kill -9 only that segment is scanned (header
// by header) and every other segment is loaded from its summary.
//
//   DIR/cache.dat       the segments, back to back (segment i at i x segment_size), each a
//                       64-byte header (magic, generation, size) followed by records
//   DIR/seg-00000.idx   summary of sealed segment 0: its live records and tombstones
//   DIR/cache.state     small key=value record for the rest of the edge (the purge sequence)
//
// Reads are synchronous preads into the object's own buffers (one read for small objects, two
// for large ones) and check the record's checksum; a record that fails is dropped and counted,
// never served. Faults (missing or read-only directory, full disk, I/O errors) put the store in
// a degraded state: inserts are refused, the edge carries on from memory, one log line per
// state change, and the writer retries every retry_interval until the disk takes writes again.
#include "common/clock.hpp"
#include "edge/storage/object_store.hpp"
#include "edge/storage/segment_log.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cdn::edge::storage {

struct DiskSettings {
    std::filesystem::path path;
    std::uint64_t capacity_bytes = 1ull << 30;
    std::uint32_t segment_bytes = 16u << 20;
    std::uint64_t write_queue_bytes = 64ull << 20;   // accepted but not yet written
    std::chrono::milliseconds retry_interval{5000};  // after a fault
    // A directory another process holds: wait for it (serving from memory, retrying every
    // 200 ms) instead of refusing to start. For a replacement started beside the running edge
    // ([server] reuse_port), which takes the directory over once the old one has exited.
    bool wait_for_lock = false;
};

struct DiskStats {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> misses{0};
    std::atomic<std::uint64_t> writes{0};
    std::atomic<std::uint64_t> write_bytes{0};
    std::atomic<std::uint64_t> dropped{0};  // inserts refused: queue full or degraded
    std::atomic<std::uint64_t> write_errors{0};
    std::atomic<std::uint64_t> read_errors{0};
    std::atomic<std::uint64_t> corrupt{0};  // records that failed their checksum or did not parse
};

// What start-up found on disk.
struct DiskRecovery {
    std::uint64_t objects = 0;
    std::uint32_t segments = 0;      // with data
    std::uint32_t from_summary = 0;  // loaded from .idx
    std::uint32_t scanned = 0;       // read header by header
    std::uint32_t discarded = 0;     // unreadable or of another layout
    std::chrono::milliseconds duration{0};
};

// Another process (another edge) holds the disk tier's directory.
struct DirectoryInUse : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class DiskStore final : public ObjectStore {
  public:
    // Opens (creating the directory if needed) and recovers what is on disk before returning;
    // never throws for a disk fault (the store starts degraded and keeps retrying). The
    // directory is locked (flock on its LOCK file, which holds the holder's pid) for the
    // store's life: a directory another process holds throws DirectoryInUse.
    DiskStore(DiskSettings settings, const Clock& clock);
    ~DiskStore() override;  // close()
    DiskStore(const DiskStore&) = delete;
    DiskStore& operator=(const DiskStore&) = delete;

    ObjectPtr lookup(std::string_view key) override;
    ObjectPtr peek(std::string_view key) override { return lookup(key); }
    bool insert(ObjectPtr object) override;
    bool remove(std::string_view key) override;
    void flush() override;
    std::uint64_t objects() const override;

    // True if this exact object (key and sequence) is on disk or on its way there.
    bool holds(const CachedObject& obj) const;
    // The sequence of the version of key on disk or queued, if any.
    std::optional<std::uint64_t> seq_of(std::string_view key) const;
    // Largest object the tier takes.
    std::uint64_t max_object_bytes() const override;
    std::uint64_t min_seq() const override;

    // Writes the queue out, seals the active segment with a summary and syncs. Idempotent.
    void close();

    // Drops every object inserted before `ms` (Unix milliseconds), now and after any restart:
    // the floor is kept in cache.state and start-up ignores older records. For a purge the
    // edge missed (its log was compacted past the edge's sequence). Cost: one pass over the
    // index. Returns the number of objects dropped; the floor never moves back.
    std::uint64_t drop_inserted_before(std::int64_t ms);
    std::int64_t inserted_floor() const { return floor_ms_.load(); }

    // The cache-wide metadata record (small; written atomically with fsync).
    std::optional<std::string> state(const std::string& name) const;
    bool set_state(const std::string& name, const std::string& value);

    // What start-up found. A late recovery (the directory came back) rewrites it on the writer
    // thread: read it at start-up, or use the two atomics below from other threads.
    const DiskRecovery& recovery() const { return recovery_; }
    std::uint64_t recovered_objects() const { return recovered_objects_.load(); }
    std::chrono::milliseconds recovery_time() const {
        return std::chrono::milliseconds(recovery_ms_.load());
    }
    const DiskStats& stats() const { return stats_; }
    std::uint64_t capacity() const { return log_.capacity(); }
    std::uint64_t live_bytes() const;
    std::uint64_t reclaimed() const;
    bool degraded() const { return degraded_.load(std::memory_order_relaxed); }
    const std::filesystem::path& path() const { return settings_.path; }

  private:
    struct Item {
        std::uint64_t hash = 0;
        ObjectPtr object;  // null: a tombstone for key
        std::string key;
        std::uint64_t seq = 0;
        std::uint64_t bytes = 0;  // charged to the queue
    };

    bool open_directory();  // creates the directory and opens the segment files
    void recover();
    // A segment's summary, read and checked (magic, generation, size, checksum, end); nullopt
    // when missing or unusable. Touches no member but settings: safe on another thread.
    std::optional<std::string> read_summary(std::uint32_t segment, std::uint64_t generation) const;
    void apply_summary(std::uint32_t segment, std::uint64_t generation, const std::string& data);
    // A segment without a usable summary, read header by header up to its first bad or foreign
    // record (where it ends). Like read_summary, safe on another thread.
    struct ScannedRecord {
        bool object = true;  // else a tombstone
        std::uint64_t hash = 0;
        std::uint64_t seq = 0;
        std::int64_t inserted_ms = 0;
        std::uint32_t offset = 0;
        std::uint32_t size = 0;
    };
    struct ScannedSegment {
        std::vector<ScannedRecord> records;
        std::uint32_t end = 0;
    };
    ScannedSegment scan_segment(std::uint32_t segment, std::uint64_t generation) const;
    void writer_loop();
    void write_item(const Item& item);
    bool prepare_segment(std::uint32_t segment, std::uint64_t generation);
    bool write_summary(std::uint32_t segment);
    bool try_recover();
    void fault(const char* what, int err);
    ObjectPtr read_record(std::string_view key, std::uint64_t hash, const DiskSlot& slot);
    void drop_slot(std::uint64_t hash, const DiskSlot& slot);
    std::filesystem::path segment_path(std::uint32_t segment, const char* ext) const;
    // Where a segment starts in cache.dat.
    std::uint64_t base(std::uint32_t segment) const {
        return std::uint64_t{segment} * log_.segment_bytes();
    }
    std::int64_t now_ms() const;
    void load_state();

    DiskSettings settings_;
    const Clock& clock_;
    SegmentLog log_;
    mutable std::shared_mutex index_mu_;  // guards log_
    std::filesystem::path data_path_;
    std::atomic<int> fd_{-1};  // cache.dat; -1 until the directory is usable
    int lock_fd_ = -1;         // LOCK, flock'ed while open

    mutable std::mutex queue_mu_;  // guards queue_, pending_, queued_bytes_, stop_, busy_
    std::condition_variable queue_cv_;
    std::condition_variable idle_cv_;
    std::deque<Item> queue_;
    struct Pending {
        ObjectPtr object;  // null: a queued tombstone
        std::uint64_t seq = 0;
    };
    boost::unordered_flat_map<std::uint64_t, Pending> pending_;  // the newest queued item per key
    std::uint64_t queued_bytes_ = 0;
    bool stop_ = false;
    bool busy_ = false;  // the writer holds an item

    std::atomic<bool> degraded_{false};
    bool needs_rotation_ = false;  // writer only: the active segment is unusable
    TimePoint retry_at_{};         // writer only

    mutable std::mutex state_mu_;
    std::map<std::string, std::string> state_;

    std::atomic<std::int64_t> floor_ms_{0};  // objects inserted before it are gone
    DiskRecovery recovery_;
    std::atomic<std::uint64_t> recovered_objects_{0};
    std::atomic<std::int64_t> recovery_ms_{0};
    DiskStats stats_;
    bool closed_ = false;
    // recover() ran. It waits for the directory to be usable; until then every key the edge
    // stores or drops is noted, so that what recovery then finds of those keys (older
    // versions) is dropped rather than served. Past kMaxTouched keys, recovery starts empty.
    std::atomic<bool> recovered_{false};
    static constexpr std::size_t kMaxTouched = 1 << 20;
    std::mutex touched_mu_;
    boost::unordered_flat_set<std::uint64_t> touched_;
    bool touched_overflow_ = false;
    void touch(std::uint64_t hash);
    void forget_touched();  // after a late recovery
    std::thread writer_;
};

}  // namespace cdn::edge::storage
