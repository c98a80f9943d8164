#pragma once
// geodns' own health checks of every edge (HTTP GET of its health URL with interval, timeout and
// rise/fall thresholds), feeding the HealthTable the steering reads. Transitions are logged and
// counted (cdn_geodns_health_transitions_total{edge,to}); cdn_geodns_edge_up{edge,region} shows
// the current state. Thread-safety as HttpHealthChecker: start/stop from the owner's thread.
#include "common/health_checker.hpp"
#include "common/metrics.hpp"
#include "geodns/policy/fleet.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <vector>

namespace cdn::geodns {

class EdgeHealth {
  public:
    // Throws ConfigError when an edge's health URL does not parse (the loader checks it first).
    EdgeHealth(boost::asio::any_io_executor executor, const Fleet& fleet, HealthTable& table,
               HttpCheckSettings settings, MetricsRegistry& registry);
    void start() { checker_->start(); }
    void stop() { checker_->stop(); }

  private:
    std::vector<Counter*> to_up_;
    std::vector<Counter*> to_down_;
    std::unique_ptr<HttpHealthChecker> checker_;
};

}  // namespace cdn::geodns
