#pragma once
// Builds what geodns serves (zones + geo steering) from a loaded config, and rebuilds it on
// reload: a reload re-reads the file and the geo database; when anything fails (syntax, a bad
// zone, a database that does not open) or the fleet changed (edges and regions need a restart,
// their health state is keyed by position), the old generation stays and the reason is logged.
// Not thread-safe: one owner (main) calls build and reload.
#include "common/metrics.hpp"
#include "geodns/config.hpp"
#include "geodns/server/dns_server.hpp"

#include <memory>
#include <string>

namespace cdn::geodns {

class ServedBuilder {
  public:
    // fleet, health and registry must outlive the builder and everything it builds.
    ServedBuilder(const Fleet& fleet, const HealthTable& health, MetricsRegistry& registry);
    ~ServedBuilder();

    // The first generation; throws (ConfigError, or std::runtime_error from the database).
    std::shared_ptr<const Served> build(const GeodnsConfig& config);
    // A new generation from `file`, or nullptr (logged) when it cannot be used.
    std::shared_ptr<const Served> reload(const std::string& file);

    std::uint64_t reloads() const { return reloads_; }
    std::uint64_t failures() const { return failures_; }

  private:
    struct Metrics;
    const Fleet& fleet_;
    const HealthTable& health_;
    MetricsRegistry& registry_;
    std::unique_ptr<Metrics> metrics_;  // registered once, shared by every generation
    std::uint64_t reloads_ = 0;
    std::uint64_t failures_ = 0;
};

// True when two fleets have the same regions and edges in the same order (what reload needs).
bool same_fleet(const Fleet& a, const Fleet& b);

}  // namespace cdn::geodns
