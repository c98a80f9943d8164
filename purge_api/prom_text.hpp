#pragma once
// Reading an edge's /metrics (Prometheus text exposition 0.0.4) for the fleet view: a small,
// tolerant parser of sample lines, and the handful of edge metrics the dashboard shows. Pure:
// text in, values out; no I/O, no clock.
//
//   # HELP ... / # TYPE ...                         skipped (any '#' line)
//   cdn_edge_requests_total{outcome="hit"} 42       name, labels (\\ \" \n escapes), value
//   cdn_edge_cache_objects{tier="memory"} 7 1700000000000   an optional timestamp is ignored
//
// A line that does not parse is skipped (the rest still counts): one odd line from a newer edge
// must not blank its whole row on the dashboard.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::purge_api {

struct PromSample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;  // in the order written
    double value = 0;

    // The value of a label, or nullopt.
    std::optional<std::string_view> label(std::string_view key) const;
};

// One sample line; nullopt for comments, blank and malformed lines.
std::optional<PromSample> parse_prom_line(std::string_view line);
// Every sample of a page, in order.
std::vector<PromSample> parse_prom_text(std::string_view text);

// What the fleet view takes from an edge's /metrics (edge/README.md, "Admin port").
struct EdgeMetrics {
    // cdn_edge_requests_total by outcome (hit, miss, expired, revalidated, stale, pass, ...).
    std::map<std::string, double, std::less<>> requests;
    struct Tier {
        double bytes = 0;
        double objects = 0;
        std::optional<double> capacity_bytes;
    };
    std::map<std::string, Tier, std::less<>> tiers;  // cdn_edge_cache_{bytes,objects,capacity}
    // The disk tier's state, when the edge has one (cdn_edge_disk_degraded is present).
    struct Disk {
        bool degraded = false;
        double recovered_objects = 0;
        double errors = 0;  // cdn_edge_disk_errors_total, all ops
    };
    std::optional<Disk> disk;
    struct Parent {
        std::string group;
        std::string parent;
        double up = 0;  // 1 in use, 0.1..1 ramping up, 0 skipped
    };
    std::vector<Parent> parents;                   // cdn_edge_parent_up
    std::optional<double> registered;              // cdn_edge_registered
    std::optional<double> purge_last_seq;          // cdn_edge_purge_last_seq
    std::optional<double> purge_stream_connected;  // cdn_edge_purge_stream_connected
    std::optional<double> client_connections;      // cdn_edge_client_connections

    // Sum of every outcome, and of the cacheable ones a hit ratio is computed over
    // (hit + miss + expired + revalidated + stale).
    double requests_total() const;
    double cacheable() const;
    double hits() const;
};

EdgeMetrics edge_metrics(const std::vector<PromSample>& samples);
inline EdgeMetrics edge_metrics(std::string_view text) {
    return edge_metrics(parse_prom_text(text));
}

}  // namespace cdn::purge_api
