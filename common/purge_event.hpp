#pragma once
// The purge wire format, defined once for the two sides of it: purge_api writes it (its log, the
// etcd records, the stream GET /v1/stream) and every edge reads it. Purge kinds, the purge event
// (a log record and the stream's data line), the reset and synced events, their server-sent-events
// framing, and the value limits both sides apply. Pure code, no I/O, thread-safe.
//
// Compatibility: edges and purge_api are upgraded one at a time, so an edge must read what a
// newer purge_api writes. Fields may be added (readers ignore unknown ones); never renamed,
// removed or given another type. encode_event's output is byte-for-byte what the log holds.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::purge {

// What a purge names: URLs, path prefixes, surrogate keys (tags), hosts, or everything.
enum class PurgeKind { files, prefixes, tags, hosts, everything };
inline constexpr std::array<PurgeKind, 5> kPurgeKinds = {PurgeKind::files, PurgeKind::prefixes,
                                                         PurgeKind::tags, PurgeKind::hosts,
                                                         PurgeKind::everything};
// "files", "prefixes", "tags", "hosts", "everything": the event's "kind" (a request body says
// "purge_everything": true for the last one).
std::string_view to_string(PurgeKind k) noexcept;
std::optional<PurgeKind> parse_purge_kind(std::string_view s) noexcept;

// Bytes per value every edge accepts: purge_api may be configured to accept less, never more,
// so an edge never refuses a logged purge for its length.
inline constexpr std::size_t kMaxValueLength = 4096;
// Values per purge purge_api accepts by default (its [limits] max_items).
inline constexpr std::size_t kDefaultMaxItems = 1000;

// One purge as logged and streamed.
struct PurgeEvent {
    std::uint64_t seq = 0;     // position in the purge log, from 1
    std::string id;            // 16 hex digits, random (purge_api's GET /v1/purges/ID)
    std::int64_t time_ms = 0;  // when purge_api accepted it (Unix ms)
    PurgeKind kind = PurgeKind::files;
    std::vector<std::string> values;  // as sent (each edge normalises them); empty for everything
    bool soft = false;                // mark stale instead of removing
};

// {"seq":N,"id":"...","time_ms":T,"kind":"...","values":[...],"soft":false}, on one line, in
// this field order.
std::string encode_event(const PurgeEvent& e);

enum class Decode {
    complete,  // every field present with its type: purge_api reading its own log or etcd
    tolerant,  // seq and kind required, the others default when absent: an edge reading a stream
};
// The event, or nullopt for JSON that is not one: not an object, seq 0 or missing, an unknown
// kind, a field of the wrong type, a value that is not a string. Unknown fields are ignored.
std::optional<PurgeEvent> decode_event(std::string_view json, Decode mode = Decode::tolerant);

// The log lost purges a reader may not have seen (compaction): every seq up to compacted_through
// is gone, the last of them accepted at time_ms. The stream's "reset" event and the first line
// of a compacted log file.
struct PurgeReset {
    std::uint64_t compacted_through = 0;
    std::int64_t time_ms = 0;
};
// {"compacted_through":S,"time_ms":T}
std::string encode_reset(const PurgeReset& r);
std::optional<PurgeReset> decode_reset(std::string_view json);

// ---- The stream (text/event-stream) ----
// "id: N\nevent: purge\ndata: <event json>\n\n"; `event_json` is encode_event's output.
std::string sse_purge(std::uint64_t seq, std::string_view event_json);
// "event: reset\ndata: {\"compacted_through\":S,\"time_ms\":T}\n\n"
std::string sse_reset(const PurgeReset& r);
// "event: synced\ndata: {\"seq\":N}\n\n": the backlog up to seq has been sent.
std::string sse_synced(std::uint64_t seq);
// A heartbeat (a comment): a reader that gets one has had the backlog.
inline constexpr std::string_view kSsePing = ": ping\n\n";

// One event of a stream as read: the text of a block before its blank line, without the "\n\n".
struct SseMessage {
    bool comment_only = true;  // only ":" lines (a heartbeat)
    std::string event;         // "purge", "reset", "synced"
    std::string data;          // data lines joined with '\n'
};
SseMessage parse_sse_block(std::string_view block);

}  // namespace cdn::purge
