#pragma once
// Builds what geodns serves (zones + fleet + health + geo steering) from a loaded config, at
// start-up and on every reload. Opening the database and checking the CIDR nets come first
// (open_geo), so a reload that fails there changes nothing; build() then assembles the
// generation around the health table of its fleet (health/edge_health.hpp).
// Not thread-safe: one owner (main, on worker 0) calls it.
#include "common/metrics.hpp"
#include "geodns/config.hpp"
#include "geodns/geo/geo_database.hpp"
#include "geodns/geo/nets.hpp"
#include "geodns/server/dns_server.hpp"

#include <memory>
#include <string>

namespace cdn::geodns {

class ServedBuilder {
  public:
    // registry must outlive the builder and everything it builds.
    explicit ServedBuilder(MetricsRegistry& registry);
    ~ServedBuilder();

    struct Geo {
        std::shared_ptr<const GeoDatabase> db;  // null: no database configured
        Nets nets;
    };
    // Opens the database and parses the nets; throws ConfigError naming the file, line and field.
    static Geo open_geo(const GeodnsConfig& config);

    // A generation for `config` with its fleet's health table (health.size() must equal
    // config.fleet.edges.size()).
    std::shared_ptr<const Served> build(const GeodnsConfig& config, Geo geo,
                                        std::shared_ptr<const HealthTable> health);

  private:
    struct Metrics;
    std::unique_ptr<Metrics> metrics_;  // registered once, shared by every generation
};

}  // namespace cdn::geodns
