#pragma once
// geodns' own health checks of every edge (HTTP GET of its health URL with interval, timeout and
// rise/fall thresholds), feeding the HealthTable the steering reads. Transitions are logged and
// counted (cdn_geodns_health_transitions_total{edge,region,to}); cdn_geodns_edge_up{edge,region}
// shows the current state.
//
// The fleet can change on reload (update()): each edge has its own checker and health cell, keyed
// by the edge id, so
// - an edge that stays keeps its state and its running checks (restarted, from its current
//   state, only when its health URL or the [health] settings changed);
// - an edge that goes away stops being checked, and its metrics go;
// - an edge that arrives starts down and is checked at once: it is answered once it passes
//   `rise` checks in a row. (At start-up, before start(), every edge starts up instead: a fresh
//   fleet is assumed healthy until checked.)
// With checks disabled every edge counts as up.
//
// Threading: one owner thread calls update(), start() and stop() (geodns: worker 0, which also
// renders /metrics, so registering and removing metrics never races a scrape). The executor's
// context must outlive the checks' coroutines; the registry must outlive this object.
#include "common/health_checker.hpp"
#include "common/metrics.hpp"
#include "geodns/policy/fleet.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cdn::geodns {

class EdgeHealth {
  public:
    explicit EdgeHealth(MetricsRegistry& registry);
    ~EdgeHealth();  // stop()
    EdgeHealth(const EdgeHealth&) = delete;
    EdgeHealth& operator=(const EdgeHealth&) = delete;

    // Makes the checks follow `fleet`, `settings` and `enabled` (see above) and returns the health
    // table for `fleet`, sharing the cells of the edges that stay. Health URLs must be numeric
    // http:// URLs (the config loader checks; throws ConfigError otherwise, changing nothing).
    // Edges new to the fleet whose id is in `start_up` (registered ones: an edge that just
    // registered is answered at once) start up instead of down; their checks take them down.
    std::shared_ptr<const HealthTable> update(
        const Fleet& fleet, const HttpCheckSettings& settings, bool enabled,
        const std::set<std::string, std::less<>>& start_up = {});
    // Starts the checks on `executor`; later updates start and stop checks as the fleet changes.
    void start(boost::asio::any_io_executor executor);
    // Stops every check. Idempotent; update() after it starts none.
    void stop();

  private:
    struct Edge;
    void register_metrics(Edge& edge, const std::string& labels);
    void unregister_metrics(const Edge& edge);
    void start_checker(const std::string& id, Edge& edge);

    MetricsRegistry& registry_;
    std::map<std::string, std::unique_ptr<Edge>, std::less<>> edges_;  // by edge id
    HttpCheckSettings settings_;
    bool enabled_ = false;
    bool first_ = true;  // no update() yet: edges start up
    bool stopped_ = false;
    std::optional<boost::asio::any_io_executor> executor_;  // set by start()
};

// True when the two settings check the same way (what decides whether checks restart).
bool same_check_settings(const HttpCheckSettings& a, const HttpCheckSettings& b);

}  // namespace cdn::geodns
