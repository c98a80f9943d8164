#pragma once
// geodns' health of every edge: its own HTTP checks (GET of the edge's health URL with interval,
// timeout and rise/fall thresholds) plus, with [health] peers, the verdicts of the other geodns
// observers, combined by the quorum rule (health/quorum.hpp) into the decision the steering reads
// from the HealthTable. Own flips are logged and counted
// (cdn_geodns_health_transitions_total{edge,region,to}); cdn_geodns_edge_up{edge,region} shows
// the decision. With no peers the decision is this observer's own verdict (a quorum of 1), with
// the hold-down on top.
//
// The fleet can change on reload (update()): each edge has its own checker and health cell, keyed
// by the edge id, so
// - an edge that stays keeps its state and its running checks (restarted, from its current
//   state, only when its health URL or the [health] settings changed);
// - an edge that goes away stops being checked, and its metrics go;
// - an edge that arrives starts down and is checked at once: it is answered once it passes
//   `rise` checks in a row. (At start-up, before start(), every edge starts up instead: a fresh
//   fleet is assumed healthy until checked.)
// With checks disabled every edge counts as up (and peers are not polled).
//
// Observers: every `interval` each peer's GET /v1/health/observations is fetched (bounded by the
// check timeout; at most one fetch per peer in flight) and every decision is re-taken; an own
// flip re-takes that edge's decision at once. observations_json() is what this observer
// publishes; quorum_json() is the view /v1/edges shows.
//
// Threading: one owner thread calls update(), start() and stop() (geodns: worker 0, which also
// renders /metrics, so registering and removing metrics never races a scrape). The checks and
// the peer fetches run on the executor given to start(); the shared state is behind one mutex,
// so observations_json() and quorum_json() may be called from any thread. The executor's
// context must outlive the coroutines; the registry and the clock must outlive this object.
#include "common/clock.hpp"
#include "common/health_checker.hpp"
#include "common/metrics.hpp"
#include "geodns/config.hpp"
#include "geodns/policy/fleet.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cdn::geodns {

class EdgeHealth {
  public:
    explicit EdgeHealth(MetricsRegistry& registry, const Clock& clock = SystemClock::instance());
    ~EdgeHealth();  // stop()
    EdgeHealth(const EdgeHealth&) = delete;
    EdgeHealth& operator=(const EdgeHealth&) = delete;

    // Makes the checks follow `fleet`, `settings`, `enabled` and `observers` (see above) and
    // returns the health table for `fleet`, sharing the cells of the edges that stay. Health URLs
    // must be numeric http:// URLs (the config loader checks; throws ConfigError otherwise,
    // changing nothing). Edges new to the fleet whose id is in `start_up` (registered ones: an
    // edge that just registered is answered at once) start up instead of down; their checks
    // take them down.
    std::shared_ptr<const HealthTable> update(
        const Fleet& fleet, const HttpCheckSettings& settings, bool enabled,
        const std::set<std::string, std::less<>>& start_up = {},
        const ObserverSettings& observers = {});
    // Starts the checks and the peer polling on `executor`; later updates start and stop checks
    // as the fleet changes.
    void start(boost::asio::any_io_executor executor);
    // Stops every check and the peer polling. Idempotent; update() after it starts none.
    void stop();

    // What this observer publishes (GET /v1/health/observations): its own verdicts.
    std::string observations_json() const;
    // The quorum view of one edge for /v1/edges: {"own":{...},"observers":[...],"decision":{...}};
    // empty when the edge is unknown.
    boost::json::object quorum_json(std::string_view edge_id) const;
    // This observer, the quorum and the peers' state, for /v1/edges.
    boost::json::object observers_json() const;

    // Re-takes every decision now (what the polling loop does each interval). For tests.
    void decide_all();

    struct Engine;  // shared with the check callbacks and the polling loop (edge_health.cpp)
    struct Record;
    struct Peer;

  private:
    struct Edge;
    class Poller;
    void register_metrics(Edge& edge, const std::string& labels);
    void unregister_metrics(const Edge& edge);
    void start_checker(const std::string& id, Edge& edge);
    void restart_poller();

    MetricsRegistry& registry_;
    std::shared_ptr<Engine> engine_;
    std::map<std::string, std::unique_ptr<Edge>, std::less<>> edges_;  // by edge id
    HttpCheckSettings settings_;
    ObserverSettings observers_;
    bool enabled_ = false;
    bool first_ = true;  // no update() yet: edges start up
    bool stopped_ = false;
    std::optional<boost::asio::any_io_executor> executor_;  // set by start()
    std::shared_ptr<Poller> poller_;
};

// True when the two settings check the same way (what decides whether checks restart).
bool same_check_settings(const HttpCheckSettings& a, const HttpCheckSettings& b);

}  // namespace cdn::geodns
