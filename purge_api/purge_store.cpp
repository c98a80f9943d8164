#include "purge_api/purge_store.hpp"

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

Result<PurgeRecordPtr> append_and_wait(PurgeStore& store, PurgeDraft draft) {
    std::promise<Result<PurgeRecordPtr>> p;
    auto f = p.get_future();
    store.append(std::move(draft), [&p](Result<PurgeRecordPtr> r) { p.set_value(std::move(r)); });
    return f.get();
}

}  // namespace cdn::purge_api
