#include "purge_api/purge_store.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <future>

namespace cdn::purge_api {

PurgeRecordPtr make_record(std::uint64_t seq, std::string id, std::int64_t time_ms,
                           PurgeDraft draft) {
    auto r = std::make_shared<PurgeRecord>();
    r->seq = seq;
    r->id = std::move(id);
    r->time_ms = time_ms;
    r->kind = draft.kind;
    r->values = std::move(draft.values);
    r->soft = draft.soft;
    r->json = purge::encode_event(*r);
    return r;
}

LogSlice slice_after(const std::deque<PurgeRecordPtr>& records, std::uint64_t after,
                     std::size_t max, std::uint64_t last_seq, std::uint64_t compacted_through,
                     std::int64_t compacted_time_ms) {
    LogSlice s;
    s.compacted_through = compacted_through;
    s.compacted_time_ms = compacted_time_ms;
    s.last_seq = last_seq;
    if (records.empty() || after >= last_seq) return s;
    const std::uint64_t first = records.front()->seq;
    const std::uint64_t start = std::max(after + 1, first);
    const std::size_t idx = static_cast<std::size_t>(start - first);
    const std::size_t n = std::min(max, records.size() - idx);
    s.records.assign(records.begin() + static_cast<std::ptrdiff_t>(idx),
                     records.begin() + static_cast<std::ptrdiff_t>(idx + n));
    return s;
}

std::string purge_fingerprint(const PurgeDraft& draft) {
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    const std::string_view kind = to_string(draft.kind);
    XXH3_64bits_update(st, kind.data(), kind.size());
    XXH3_64bits_update(st, draft.soft ? "\1" : "\0", 1);
    for (const std::string& v : draft.values) {
        // Length-prefixed, so ["ab","c"] and ["a","bc"] differ.
        const std::uint64_t n = v.size();
        XXH3_64bits_update(st, &n, sizeof n);
        XXH3_64bits_update(st, v.data(), v.size());
    }
    const XXH64_hash_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return fmt::format("{:016x}", h);
}

bool valid_idempotency_key(std::string_view key) noexcept {
    if (key.empty() || key.size() > 255) return false;
    for (const char c : key)
        if (c <= ' ' || c >= 0x7f) return false;
    return true;
}

void PurgeStore::append(PurgeDraft draft, AppendDone done) {
    submit(AppendRequest{std::move(draft), {}, {}, std::chrono::steady_clock::time_point::max()},
           [done = std::move(done)](AppendResult r) {
               if (r.status == AppendStatus::appended || r.status == AppendStatus::replayed)
                   done(std::move(r.record));
               else
                   done(make_error_code(Errc::internal));
           });
}

void PurgeStore::sync(std::uint64_t seq, std::chrono::milliseconds,
                      std::function<void(SeqCheck)> done) {
    done(seq <= last_seq() ? SeqCheck::have : SeqCheck::beyond_log);
}

void PurgeStore::publish_ack(const std::string&, std::uint64_t, std::int64_t) {}
void PurgeStore::publish_stream(const std::string&, bool) {}
void PurgeStore::publish_registration(const std::string&, std::optional<std::string>) {}
void PurgeStore::on_edge_event(std::function<void(const EdgeEvent&)>) {}

AppendResult submit_and_wait(PurgeStore& store, AppendRequest request) {
    std::promise<AppendResult> p;
    auto f = p.get_future();
    store.submit(std::move(request), [&p](AppendResult r) { p.set_value(std::move(r)); });
    return f.get();
}

SeqCheck sync_and_wait(PurgeStore& store, std::uint64_t seq, std::chrono::milliseconds wait) {
    std::promise<SeqCheck> p;
    auto f = p.get_future();
    store.sync(seq, wait, [&p](SeqCheck c) { p.set_value(c); });
    return f.get();
}

Result<PurgeRecordPtr> append_and_wait(PurgeStore& store, PurgeDraft draft) {
    std::promise<Result<PurgeRecordPtr>> p;
    auto f = p.get_future();
    store.append(std::move(draft), [&p](Result<PurgeRecordPtr> r) { p.set_value(std::move(r)); });
    return f.get();
}

}  // namespace cdn::purge_api
