#include "purge_api/fleet_view.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace cdn::purge_api {
namespace json = boost::json;

namespace {

json::value opt(const std::optional<double>& v) {
    return v && std::isfinite(*v) ? json::value(*v) : json::value(nullptr);
}

json::value opt_ms(const std::optional<std::int64_t>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

json::array strings(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v)
        a.emplace_back(s);
    return a;
}

// Scraped numbers are counters and gauges: whole numbers print as integers.
json::value number(double v) {
    if (!std::isfinite(v)) return nullptr;
    if (v >= 0 && v < 9.0e15 && v == std::floor(v))
        return json::value(static_cast<std::int64_t>(v));
    return json::value(v);
}

json::object stats_json(const EdgeScrape* s, bool has_admin, std::int64_t now_ms) {
    json::object o;
    if (!has_admin) {
        o["state"] = "no_admin_url";
        o["error"] = "the edge registered no admin URL: nothing to scrape";
        return o;
    }
    if (!s || s->attempt_ms == 0) {
        o["state"] = "pending";
        o["error"] = nullptr;
        return o;
    }
    o["attempt_ms"] = s->attempt_ms;
    o["scraped_ms"] = s->latest ? json::value(s->latest->at_ms) : json::value(nullptr);
    if (s->error) {
        o["state"] = "unreachable";
        o["error"] = *s->error;
        return o;
    }
    o["state"] = "ok";
    o["error"] = nullptr;
    const EdgeMetrics& m = s->latest->metrics;
    o["age_ms"] = now_ms - s->latest->at_ms;
    const EdgeRates r = edge_rates(*s);
    o["requests_total"] = number(m.requests_total());
    o["req_per_s"] = opt(r.req_per_s);
    o["hit_ratio"] = opt(r.hit_ratio);
    o["hit_ratio_window"] = r.cumulative ? "cumulative" : "interval";
    o["interval_ms"] = r.interval_ms;
    json::object outcomes;
    for (const auto& [k, v] : m.requests)
        outcomes[k] = number(v);
    o["outcomes"] = std::move(outcomes);
    json::object tiers;
    double bytes = 0, objects = 0;
    for (const auto& [name, t] : m.tiers) {
        json::object to;
        to["bytes"] = number(t.bytes);
        to["objects"] = number(t.objects);
        to["capacity_bytes"] = t.capacity_bytes ? number(*t.capacity_bytes) : json::value(nullptr);
        tiers[name] = std::move(to);
        bytes += t.bytes;
        objects += t.objects;
    }
    o["tiers"] = std::move(tiers);
    o["cache_bytes"] = number(bytes);
    o["cache_objects"] = number(objects);
    if (m.disk) {
        json::object d;
        d["degraded"] = m.disk->degraded;
        d["recovered_objects"] = number(m.disk->recovered_objects);
        d["errors"] = number(m.disk->errors);
        o["disk"] = std::move(d);
    } else {
        o["disk"] = nullptr;
    }
    json::array parents;
    for (const auto& p : m.parents) {
        json::object po;
        po["group"] = p.group;
        po["parent"] = p.parent;
        po["up"] = p.up;
        parents.push_back(std::move(po));
    }
    o["parents"] = std::move(parents);
    o["registered"] = opt(m.registered);
    o["purge_last_seq"] = m.purge_last_seq ? number(*m.purge_last_seq) : json::value(nullptr);
    o["purge_stream_connected"] = opt(m.purge_stream_connected);
    o["client_connections"] = opt(m.client_connections);
    return o;
}

json::object purge_stream_json(const EdgeView* v, std::uint64_t head) {
    json::object o;
    o["known"] = v != nullptr;
    o["connected"] = v && v->connected;
    o["last_applied_seq"] = v ? v->last_applied_seq : 0;
    o["lag"] = v ? (head > v->last_applied_seq ? head - v->last_applied_seq : 0) : head;
    o["last_seen_ms"] = v ? opt_ms(v->last_seen_ms) : json::value(nullptr);
    return o;
}

json::object registration_json(const registration::RegisteredEdge& e, std::int64_t now_ms) {
    const registration::Registration& r = e.reg;
    json::object o;
    o["http"] = r.http;
    o["admin"] = r.admin.empty() ? json::value(nullptr) : json::value(r.admin);
    o["ipv4"] = strings(r.ipv4);
    o["ipv6"] = strings(r.ipv6);
    o["latitude"] = opt(r.latitude);
    o["longitude"] = opt(r.longitude);
    o["weight"] = r.weight;
    o["version"] = r.version;
    o["instance"] = r.instance;
    o["registered_ms"] = e.registered_ms;
    o["renewed_ms"] = e.renewed_ms;
    o["lease_age_ms"] = now_ms - e.renewed_ms;
    o["expires_in_ms"] = e.expires_ms - now_ms;
    return o;
}

json::object purge_json(const RecentPurge& p) {
    const PurgeRecord& r = *p.record;
    json::object o;
    o["id"] = r.id;
    o["seq"] = r.seq;
    o["time_ms"] = r.time_ms;
    o["kind"] = to_string(r.kind);
    json::array values;
    for (std::size_t i = 0; i < r.values.size() && i < kFleetValuesShown; ++i)
        values.emplace_back(r.values[i]);
    o["values"] = std::move(values);
    o["values_total"] = r.values.size();
    o["soft"] = r.soft;
    o["complete"] = p.progress.complete;
    o["completed_ms"] = opt_ms(p.progress.completed_ms);
    std::size_t applied = 0, pending = 0, unreachable = 0;
    json::array edges;
    for (const EdgeProgress& e : p.progress.edges) {
        switch (e.status) {
            case EdgeStatus::applied: ++applied; break;
            case EdgeStatus::pending: ++pending; break;
            case EdgeStatus::unreachable: ++unreachable; break;
        }
        json::object eo;
        eo["edge"] = e.edge;
        eo["status"] = to_string(e.status);
        eo["applied_ms"] = opt_ms(e.applied_ms);
        edges.push_back(std::move(eo));
    }
    o["applied"] = applied;
    o["pending"] = pending;
    o["unreachable"] = unreachable;
    o["edges"] = std::move(edges);
    return o;
}

}  // namespace

void record_scrape_ok(EdgeScrape& s, std::string_view instance, std::int64_t now_ms,
                      EdgeMetrics metrics) {
    if (s.instance != instance) s = EdgeScrape{std::string(instance), {}, {}, 0, {}};
    s.previous = std::move(s.latest);
    s.latest = MetricsSnapshot{now_ms, std::move(metrics)};
    s.attempt_ms = now_ms;
    s.error.reset();
}

void record_scrape_failed(EdgeScrape& s, std::string_view instance, std::int64_t now_ms,
                          std::string error) {
    if (s.instance != instance) s = EdgeScrape{std::string(instance), {}, {}, 0, {}};
    s.attempt_ms = now_ms;
    s.error = std::move(error);
}

EdgeRates edge_rates(const EdgeScrape& s) {
    EdgeRates r;
    if (!s.latest) return r;
    const EdgeMetrics& now = s.latest->metrics;
    if (s.previous && s.latest->at_ms > s.previous->at_ms) {
        const EdgeMetrics& before = s.previous->metrics;
        const double total = now.requests_total() - before.requests_total();
        const double cacheable = now.cacheable() - before.cacheable();
        const double hits = now.hits() - before.hits();
        if (total >= 0 && cacheable >= 0 && hits >= 0) {  // else a restart: counters went back
            r.interval_ms = s.latest->at_ms - s.previous->at_ms;
            r.req_per_s = total * 1000.0 / static_cast<double>(r.interval_ms);
            r.cumulative = false;
            if (cacheable > 0) r.hit_ratio = hits / cacheable;
            return r;
        }
    }
    if (now.cacheable() > 0) r.hit_ratio = now.hits() / now.cacheable();
    return r;
}

json::object fleet_json(const FleetInputs& in) {
    std::map<std::string_view, const EdgeView*> streams;
    for (const EdgeView& v : in.streams)
        streams[v.edge] = &v;

    // Regions by name; edges by id within each. An edge only the purge stream knows (configured,
    // or streaming without a registration) has no region.
    std::map<std::string, json::array> regions;
    std::size_t total = 0, up = 0;
    double req_per_s = 0;
    for (const registration::RegisteredEdge& e : in.registry.edges) {
        const registration::Registration& r = e.reg;
        const auto sit = in.scrapes.find(r.id);
        const EdgeScrape* scrape =
            sit != in.scrapes.end() && sit->second.instance == r.instance ? &sit->second : nullptr;
        const auto vit = streams.find(r.id);
        const EdgeView* view = vit == streams.end() ? nullptr : vit->second;
        json::object eo;
        eo["id"] = r.id;
        eo["region"] = r.region;
        eo["role"] = r.role;
        json::object stats = stats_json(scrape, !r.admin.empty(), in.now_ms);
        const std::string_view state = stats.at("state").as_string();
        const std::string_view status = state == "ok"             ? "up"
                                        : state == "unreachable"  ? "unreachable"
                                        : state == "no_admin_url" ? "registered"
                                                                  : "pending";
        eo["status"] = status;
        eo["registered"] = true;
        eo["registration"] = registration_json(e, in.now_ms);
        eo["purge"] = purge_stream_json(view, in.head_seq);
        if (const json::value* rps = stats.if_contains("req_per_s"); rps && rps->is_number())
            req_per_s += rps->to_number<double>();
        eo["stats"] = std::move(stats);
        eo["observer_health"] = nullptr;  // not published by geodns yet
        ++total;
        if (status == "up") ++up;
        regions[r.region].push_back(std::move(eo));
        if (view) streams.erase(vit);
    }
    for (const auto& [id, view] : streams) {
        json::object eo;
        eo["id"] = id;
        eo["region"] = "";
        eo["role"] = nullptr;
        eo["status"] = "unregistered";
        eo["registered"] = false;
        eo["registration"] = nullptr;
        eo["purge"] = purge_stream_json(view, in.head_seq);
        eo["stats"] = stats_json(nullptr, false, in.now_ms);
        eo["stats"].as_object()["state"] = "not_registered";
        eo["stats"].as_object()["error"] = "not in the registry: nothing to scrape";
        eo["observer_health"] = nullptr;
        ++total;
        regions[""].push_back(std::move(eo));
    }

    json::object o;
    o["now_ms"] = in.now_ms;
    o["log_head_seq"] = in.head_seq;
    o["scrape_interval_ms"] = in.scrape_interval_ms;
    o["registry_version"] = in.registry.version;
    // Health as each geodns observer sees it: geodns does not publish it anywhere purge_api can
    // read yet, so this stays null (an object of observer -> edge -> verdict once it does).
    o["observer_health"] = nullptr;
    json::object totals;
    totals["edges"] = total;
    totals["up"] = up;
    totals["req_per_s"] = req_per_s;
    o["totals"] = std::move(totals);
    // Regions by name; the edges without one (not registered) last.
    json::array ra;
    auto add_region = [&](const std::string& name, json::array& edges) {
        json::object ro;
        ro["region"] = name;
        ro["edges"] = std::move(edges);
        ra.push_back(std::move(ro));
    };
    for (auto& [name, edges] : regions)
        if (!name.empty()) add_region(name, edges);
    if (auto it = regions.find(""); it != regions.end()) add_region("", it->second);
    o["regions"] = std::move(ra);
    json::array pa;
    for (const RecentPurge& p : in.purges)
        pa.push_back(purge_json(p));
    o["purges"] = std::move(pa);
    return o;
}

}  // namespace cdn::purge_api
