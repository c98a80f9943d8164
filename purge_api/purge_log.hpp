#pragma once
// The embedded PurgeStore: an append-only file DIR/purge.log, one checksummed line per purge.
//
//   P1 <payload bytes, decimal> <xxh3-64 of the payload seeded with its length, 16 hex> <payload>\n
//
// The payload is the record's JSON (PurgeRecord::json), or, as the first line of a compacted
// file, {"compacted_through":S,"time_ms":T}. Lines stay greppable: `cut -d' ' -f4- purge.log`.
//
// Durability: append() hands the purge to a writer thread, which takes every purge queued
// meanwhile, writes them with one write() and makes them durable with one fdatasync() (group
// commit); only then are they readable and their callbacks run. At start-up a torn or corrupt
// tail (a crash during a write) is cut off; a corrupt line followed by valid ones is refused
// (start-up throws), since cutting it would drop acknowledged purges. If fdatasync fails the
// store stops taking appends (healthy() false): the page cache state is unknown after that.
//
// Compaction: when the log holds more than keep + keep/4 records, the writer rewrites it with
// the newest `keep` (a new file, fsync, rename, fsync of the directory) and remembers the last
// dropped seq and its time as compacted_through.
//
// Memory: every record still in the file is also held in memory (readers never touch the file).
// A LOCK file (flock) keeps a second process off the same directory.
//
// Idempotency keys are remembered in memory for the records still in the log, and forgotten at
// a restart (the etcd store keeps them in etcd).
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "purge_api/purge_store.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <variant>

namespace cdn::purge_api {

// ---- The line codec (pure) ----
std::string encode_frame(std::string_view payload);
enum class FrameStatus { ok, incomplete, corrupt };
struct Frame {
    FrameStatus status = FrameStatus::corrupt;
    std::string_view payload;
    std::size_t size = 0;  // bytes of the whole line, when ok
};
// Decodes the line at the start of bytes.
Frame decode_frame(std::string_view bytes) noexcept;

struct CompactionMarker {
    std::uint64_t through = 0;
    std::int64_t time_ms = 0;
};
std::string marker_payload(const CompactionMarker& m);
// A payload as a record or a marker; nullopt when it does not parse.
std::optional<std::variant<PurgeRecordPtr, CompactionMarker>> parse_payload(
    std::string_view payload);

// ---- The store ----
struct PurgeLogOptions {
    std::filesystem::path dir;
    std::size_t keep = 100'000;          // records kept by compaction (at least 1)
    Histogram* fsync_seconds = nullptr;  // observes each fdatasync
    Histogram* batch_size = nullptr;     // observes appends per fdatasync
    std::function<void()> before_sync;   // test hook: runs on the writer before each fdatasync
};

struct LogRecovery {
    std::size_t records = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t compacted_through = 0;
    std::uint64_t truncated_bytes = 0;  // a torn tail cut off at start-up
};

class FilePurgeLog final : public PurgeStore {
  public:
    static constexpr const char* kFileName = "purge.log";

    // Opens (creating the directory and file if needed) and recovers the log; throws
    // std::runtime_error with a message naming the file when it cannot.
    FilePurgeLog(PurgeLogOptions options, const Clock& clock);
    ~FilePurgeLog() override;
    FilePurgeLog(const FilePurgeLog&) = delete;
    FilePurgeLog& operator=(const FilePurgeLog&) = delete;

    void submit(AppendRequest request, SubmitDone done) override;
    LogSlice read_after(std::uint64_t after, std::size_t max) const override;
    PurgeRecordPtr find(std::string_view id) const override;
    std::uint64_t last_seq() const override;
    bool healthy() const override { return !broken_.load(); }
    void on_appended(std::function<void(std::uint64_t)> listener) override;

    // Commits what is queued and stops the writer; later appends fail. Idempotent.
    void close();

    const LogRecovery& recovery() const { return recovery_; }
    std::filesystem::path file() const { return options_.dir / kFileName; }
    std::uint64_t fsyncs() const { return fsyncs_.load(); }
    std::uint64_t compactions() const { return compactions_.load(); }
    std::size_t queued() const;
    std::size_t size() const;  // records held

  private:
    struct Pending {
        AppendRequest req;
        SubmitDone done;
    };
    struct KeyUse {
        std::string fingerprint;
        PurgeRecordPtr record;
    };
    void recover();
    void run();
    void commit(std::vector<Pending>& batch);
    void maybe_compact();
    std::string new_id();

    PurgeLogOptions options_;
    const Clock& clock_;
    LogRecovery recovery_;
    int fd_ = -1;
    int lock_fd_ = -1;
    std::uint64_t file_size_ = 0;  // writer thread only (after start-up)
    std::mt19937_64 rng_;          // writer thread only
    std::function<void(std::uint64_t)> listener_;
    // Idempotency keys of the records still in the log (writer thread only; not persisted: a
    // restart forgets them).
    std::unordered_map<std::string, KeyUse> keys_;
    std::unordered_map<std::uint64_t, std::string> key_of_seq_;

    mutable std::mutex queue_mu_;
    std::condition_variable queue_cv_;
    std::vector<Pending> queue_;
    bool stopping_ = false;
    std::thread writer_;

    mutable std::shared_mutex data_mu_;
    std::deque<PurgeRecordPtr> records_;
    std::unordered_map<std::string, PurgeRecordPtr> ids_;
    std::uint64_t last_seq_ = 0;
    std::int64_t last_time_ms_ = 0;
    CompactionMarker compacted_;

    std::atomic<bool> broken_{false};
    std::atomic<std::uint64_t> fsyncs_{0};
    std::atomic<std::uint64_t> compactions_{0};
};

}  // namespace cdn::purge_api
