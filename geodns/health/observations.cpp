#include "geodns/health/observations.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

namespace cdn::geodns {

namespace json = boost::json;

namespace {

std::int64_t unix_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<std::int64_t> int_of(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(v.get_uint64());
    return std::nullopt;
}

}  // namespace

std::string observations_json(const Observations& o) {
    json::array edges;
    for (const ObservedEdge& e : o.edges) {
        json::value last = nullptr, ago = nullptr;
        if (e.last_check) {
            last = unix_ms(*e.last_check);
            ago = std::max<std::int64_t>(0, unix_ms(o.now) - unix_ms(*e.last_check));
        }
        edges.push_back(json::object{{"id", e.id},
                                     {"up", e.up},
                                     {"since_ms", unix_ms(e.since)},
                                     {"last_check_ms", last},
                                     {"checked_ms_ago", ago},
                                     {"consecutive_ok", e.consecutive_ok},
                                     {"consecutive_failed", e.consecutive_failed}});
    }
    return json::serialize(json::object{{"observer", o.observer},
                                        {"now_ms", unix_ms(o.now)},
                                        {"interval_ms", o.interval.count()},
                                        {"edges", std::move(edges)}}) +
           "\n";
}

std::variant<PeerObservations, std::string> parse_observations(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec) return fmt::format("not JSON: {}", ec.message());
    if (!v.is_object()) return std::string("not a JSON object");
    const json::object& o = v.get_object();
    PeerObservations out;
    const json::value* observer = o.if_contains("observer");
    if (!observer || !observer->is_string() || observer->get_string().empty())
        return std::string("observer: expected a non-empty string");
    out.observer = std::string(observer->get_string());
    const json::value* edges = o.if_contains("edges");
    if (!edges || !edges->is_array()) return std::string("edges: expected an array");
    const json::array& a = edges->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_object()) return fmt::format("edges[{}]: expected an object", i);
        const json::object& eo = a[i].get_object();
        PeerObservedEdge e;
        const json::value* id = eo.if_contains("id");
        if (!id || !id->is_string() || id->get_string().empty())
            return fmt::format("edges[{}].id: expected a non-empty string", i);
        e.id = std::string(id->get_string());
        const json::value* up = eo.if_contains("up");
        if (!up || !up->is_bool()) return fmt::format("edges[{}].up: expected true or false", i);
        e.up = up->get_bool();
        if (const json::value* ago = eo.if_contains("checked_ms_ago"); ago && !ago->is_null()) {
            auto ms = int_of(*ago);
            if (!ms || *ms < 0)
                return fmt::format("edges[{}].checked_ms_ago: expected null or milliseconds", i);
            e.checked_ago = std::chrono::milliseconds(*ms);
        }
        out.edges.push_back(std::move(e));
    }
    return out;
}

}  // namespace cdn::geodns
