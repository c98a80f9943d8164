#include "common/purge_event.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <type_traits>

namespace cdn::purge {

namespace json = boost::json;

namespace {

// An integer field: absent, or present and an integer of T's range (negative values only for a
// signed T). Doubles are refused: purge_api writes integers.
enum class Field { absent, bad, ok };
template <class T>
Field json_int(const json::object& o, std::string_view key, T& out) {
    const json::value* v = o.if_contains(key);
    if (!v) return Field::absent;
    if (v->is_uint64()) {
        if constexpr (std::is_signed_v<T>)
            if (v->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return Field::bad;
        out = static_cast<T>(v->get_uint64());
        return Field::ok;
    }
    if (v->is_int64()) {
        if constexpr (std::is_unsigned_v<T>)
            if (v->get_int64() < 0) return Field::bad;
        out = static_cast<T>(v->get_int64());
        return Field::ok;
    }
    return Field::bad;
}

std::optional<json::object> parse_object(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.get_object());
}

}  // namespace

std::string_view to_string(PurgeKind k) noexcept {
    switch (k) {
        case PurgeKind::files: return "files";
        case PurgeKind::prefixes: return "prefixes";
        case PurgeKind::tags: return "tags";
        case PurgeKind::hosts: return "hosts";
        case PurgeKind::everything: return "everything";
    }
    return "files";
}

std::optional<PurgeKind> parse_purge_kind(std::string_view s) noexcept {
    for (PurgeKind k : kPurgeKinds)
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::string encode_event(const PurgeEvent& e) {
    json::object o;
    o["seq"] = e.seq;
    o["id"] = e.id;
    o["time_ms"] = e.time_ms;
    o["kind"] = to_string(e.kind);
    json::array values;
    values.reserve(e.values.size());
    for (const auto& v : e.values)
        values.emplace_back(v);
    o["values"] = std::move(values);
    o["soft"] = e.soft;
    return json::serialize(o);
}

std::optional<PurgeEvent> decode_event(std::string_view text, Decode mode) {
    const auto o = parse_object(text);
    if (!o) return std::nullopt;
    const bool all = mode == Decode::complete;
    PurgeEvent e;
    if (json_int(*o, "seq", e.seq) != Field::ok || e.seq == 0) return std::nullopt;
    if (const Field f = json_int(*o, "time_ms", e.time_ms);
        f == Field::bad || (all && f == Field::absent))
        return std::nullopt;
    const json::value* kind = o->if_contains("kind");
    if (!kind || !kind->is_string()) return std::nullopt;
    const auto k = parse_purge_kind(kind->get_string());
    if (!k) return std::nullopt;
    e.kind = *k;
    if (const json::value* id = o->if_contains("id")) {
        if (!id->is_string()) return std::nullopt;
        e.id = std::string(id->get_string());
    } else if (all) {
        return std::nullopt;
    }
    if (const json::value* values = o->if_contains("values")) {
        if (!values->is_array()) return std::nullopt;
        e.values.reserve(values->get_array().size());
        for (const json::value& v : values->get_array()) {
            if (!v.is_string()) return std::nullopt;
            e.values.emplace_back(v.get_string());
        }
    } else if (all) {
        return std::nullopt;
    }
    if (const json::value* soft = o->if_contains("soft")) {
        if (!soft->is_bool()) return std::nullopt;
        e.soft = soft->get_bool();
    } else if (all) {
        return std::nullopt;
    }
    return e;
}

std::string encode_reset(const PurgeReset& r) {
    return fmt::format("{{\"compacted_through\":{},\"time_ms\":{}}}", r.compacted_through,
                       r.time_ms);
}

std::optional<PurgeReset> decode_reset(std::string_view text) {
    const auto o = parse_object(text);
    if (!o) return std::nullopt;
    PurgeReset r;
    if (json_int(*o, "compacted_through", r.compacted_through) != Field::ok ||
        json_int(*o, "time_ms", r.time_ms) != Field::ok)
        return std::nullopt;
    return r;
}

std::string sse_purge(std::uint64_t seq, std::string_view event_json) {
    return fmt::format("id: {}\nevent: purge\ndata: {}\n\n", seq, event_json);
}

std::string sse_reset(const PurgeReset& r) {
    return fmt::format("event: reset\ndata: {}\n\n", encode_reset(r));
}

std::string sse_synced(std::uint64_t seq) {
    return fmt::format("event: synced\ndata: {{\"seq\":{}}}\n\n", seq);
}

SseMessage parse_sse_block(std::string_view block) {
    SseMessage m;
    while (!block.empty()) {
        const auto nl = block.find('\n');
        const std::string_view line = block.substr(0, nl);
        block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
        if (line.starts_with(':')) continue;
        m.comment_only = false;
        const auto colon = line.find(':');
        const std::string_view field = line.substr(0, colon);
        std::string_view value =
            colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
        if (field == "event") m.event = value;
        if (field == "data") {
            if (!m.data.empty()) m.data += '\n';
            m.data += value;
        }
    }
    return m;
}

}  // namespace cdn::purge
