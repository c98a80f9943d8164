#pragma once
// The seam between the REST server and where purges are kept: an ordered, durable log of
// purges with sequence numbers 1, 2, 3... The file store (purge_log.hpp) is the embedded
// default; an etcd store can implement the same interface for several purge_api instances.
#include "common/result.hpp"
#include "purge_api/purge_request.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
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

class PurgeStore {
  public:
    virtual ~PurgeStore() = default;

    using AppendDone = std::function<void(Result<PurgeRecordPtr>)>;
    // Appends a purge; `done` runs (on a thread of the store's) once it is durable, or with an
    // error (the purge is then not in the log). Thread-safe.
    virtual void append(PurgeDraft draft, AppendDone done) = 0;
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
};

// The records after `after` (at most `max`) of an in-memory window holding contiguous records
// up to last_seq: what both stores' read_after returns around their own state.
LogSlice slice_after(const std::deque<PurgeRecordPtr>& records, std::uint64_t after,
                     std::size_t max, std::uint64_t last_seq, std::uint64_t compacted_through,
                     std::int64_t compacted_time_ms);

// Appends and waits (for tests and tools; never on an io_context thread).
Result<PurgeRecordPtr> append_and_wait(PurgeStore& store, PurgeDraft draft);

}  // namespace cdn::purge_api
