#pragma once
// The seam between the REST server and where purges are kept: an ordered, durable log of
// purges with sequence numbers 1, 2, 3... The file store (purge_log.hpp) is the embedded
// default; an etcd store can implement the same interface for several purge_api instances.
#include "common/result.hpp"
#include "purge_api/purge_request.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::purge_api {

// A purge as logged: the wire event (common/purge_event.hpp; time_ms never below the previous
// record's) and its encoding. Immutable once created and shared between readers.
struct PurgeRecord : purge::PurgeEvent {
    // purge::encode_event(*this), on one line: the log payload and the stream's data line.
    std::string json;
};
using PurgeRecordPtr = std::shared_ptr<const PurgeRecord>;

// Builds a record and its JSON.
PurgeRecordPtr make_record(std::uint64_t seq, std::string id, std::int64_t time_ms,
                           PurgeDraft draft);

// Records after some sequence, and how far the log was compacted: a reader whose position is
// below compacted_through has missed purges it can no longer read.
struct LogSlice {
    std::uint64_t compacted_through = 0;  // every seq <= this is gone (0: nothing compacted)
    std::int64_t compacted_time_ms = 0;   // time_ms of the record compacted_through
    std::uint64_t last_seq = 0;
    std::vector<PurgeRecordPtr> records;  // in seq order, contiguous
};

// A purge to append, with what makes a retried POST safe.
struct AppendRequest {
    PurgeDraft draft;
    // Idempotency-Key: a second append with the same key returns the first one's record
    // (replayed) instead of logging the purge again; with another fingerprint it is refused
    // (key_reused). Empty: none.
    std::string idempotency_key;
    std::string fingerprint;  // of the request the key stands for (purge_fingerprint)
    // Not sent to the log after this: the append then fails as not_applied.
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

enum class AppendStatus {
    appended,       // in the log now (record)
    replayed,       // the idempotency key's earlier purge (record)
    not_applied,    // never written: the purge is not in the log
    maybe_applied,  // the write's outcome is unknown (etcd did not answer in time): it may be
    key_reused,     // the idempotency key was used for a different purge
};
struct AppendResult {
    AppendStatus status = AppendStatus::not_applied;
    PurgeRecordPtr record;  // appended or replayed
};

// What a check for a sequence found (PurgeStore::sync).
enum class SeqCheck {
    have,        // the store holds every record up to it (or it was compacted)
    beyond_log,  // the shared log truly ends before it
    unknown,     // could not be told in time (etcd unreachable): ask again later
};

// Canonical fingerprint of a purge (kind, values, soft), for idempotency keys: 16 hex digits.
std::string purge_fingerprint(const PurgeDraft& draft);
// An Idempotency-Key value: 1 to 255 visible ASCII characters (no spaces or controls).
bool valid_idempotency_key(std::string_view key) noexcept;

class PurgeStore {
  public:
    virtual ~PurgeStore() = default;

    using SubmitDone = std::function<void(AppendResult)>;
    // Appends a purge; `done` runs (on a thread of the store's) once it is durable, or with why
    // not. Thread-safe.
    virtual void submit(AppendRequest request, SubmitDone done) = 0;

    using AppendDone = std::function<void(Result<PurgeRecordPtr>)>;
    // submit() without a key or deadline; an error unless appended.
    void append(PurgeDraft draft, AppendDone done);

    // `done` runs (on any thread; maybe before sync returns) once the store holds every record
    // up to `seq`, or knows the shared log ends before it, or after about `wait`. A store that
    // is the only writer of its log answers at once. seq 0: catch up with the shared log as it
    // is now (a read after another instance's write then sees it). Thread-safe.
    virtual void sync(std::uint64_t seq, std::chrono::milliseconds wait,
                      std::function<void(SeqCheck)> done);
    // Up to `max` records with seq > after. Thread-safe.
    virtual LogSlice read_after(std::uint64_t after, std::size_t max) const = 0;
    // A record still in the log by id, or nullptr. Thread-safe.
    virtual PurgeRecordPtr find(std::string_view id) const = 0;
    virtual std::uint64_t last_seq() const = 0;
    // False once the store cannot take appends any more (e.g. fsync failed).
    virtual bool healthy() const = 0;
    // Called (on the store's thread) after records become durable and readable, with the new
    // last seq. Set once, before the first append.
    virtual void on_appended(std::function<void(std::uint64_t)> listener) = 0;

    // ---- Edge state shared between instances (no-ops for a store with one instance) ----
    // This instance got an ack / a stream opened or ended here: tell the other instances.
    // Thread-safe; never blocks (the write happens on the store's thread).
    virtual void publish_ack(const std::string& edge, std::uint64_t seq, std::int64_t ms);
    virtual void publish_stream(const std::string& edge, bool live);
    // A registration (FleetRegistry::encode) taken or renewed here; nullopt: deregistered.
    virtual void publish_registration(const std::string& id, std::optional<std::string> value);
    // What other instances published (and, for acks, this one's too, once shared): called on
    // the store's thread. Set once, before the first publish.
    struct EdgeEvent {
        enum class Kind { ack, streams, registration } kind = Kind::ack;
        std::string edge;
        std::uint64_t seq = 0;           // ack: the edge applied every purge up to this
        std::int64_t ms = 0;             // ack: when (the clock of the instance that got it)
        std::size_t remote_streams = 0;  // streams: live streams of the edge on other instances
        std::optional<std::string> registration;  // registration: the entry; nullopt: removed
    };
    virtual void on_edge_event(std::function<void(const EdgeEvent&)> listener);
};

// The records after `after` (at most `max`) of an in-memory window holding contiguous records
// up to last_seq: what both stores' read_after returns around their own state.
LogSlice slice_after(const std::deque<PurgeRecordPtr>& records, std::uint64_t after,
                     std::size_t max, std::uint64_t last_seq, std::uint64_t compacted_through,
                     std::int64_t compacted_time_ms);

// Appends and waits (for tests and tools; never on an io_context thread).
Result<PurgeRecordPtr> append_and_wait(PurgeStore& store, PurgeDraft draft);
AppendResult submit_and_wait(PurgeStore& store, AppendRequest request);
SeqCheck sync_and_wait(PurgeStore& store, std::uint64_t seq, std::chrono::milliseconds wait);

}  // namespace cdn::purge_api
