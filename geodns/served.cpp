#include "geodns/served.hpp"

#include "geodns/policy/geo_steering.hpp"

#include <fmt/format.h>

#include <exception>
#include <stdexcept>

namespace cdn::geodns {

struct ServedBuilder::Metrics {
    explicit Metrics(MetricsRegistry& r) : steering(r) {}
    GeoSteeringMetrics steering;
};

namespace {

// Every steered name of every zone, by Steered::index.
std::vector<Steered> steered_names(const ZoneSet& zones) {
    std::vector<Steered> out;
    for (const Zone& z : zones.zones)
        for (const auto& [name, node] : z.nodes)
            if (node.steered) {
                if (out.size() <= node.steered->index) out.resize(node.steered->index + 1);
                out[node.steered->index] = *node.steered;
            }
    return out;
}

}  // namespace

ServedBuilder::ServedBuilder(MetricsRegistry& registry)
    : metrics_(std::make_unique<Metrics>(registry)) {}

ServedBuilder::~ServedBuilder() = default;

ServedBuilder::Geo ServedBuilder::open_geo(const GeodnsConfig& config) {
    Geo geo;
    if (!config.geo.database.empty()) {
        FieldPaths paths;
        paths.latitude = config.geo.latitude;
        paths.longitude = config.geo.longitude;
        paths.country = config.geo.country;
        paths.continent = config.geo.continent;
        try {
            geo.db = GeoDatabase::open(config.geo.database, paths);
        } catch (const std::exception& e) {
            throw ConfigError(fmt::format("{}: {}", config.geo.where_database, e.what()));
        }
    }
    for (const NetRule& rule : config.geo.nets) {
        try {
            geo.nets.add(rule.cidr, rule.region);
        } catch (const std::exception& e) {
            throw ConfigError(fmt::format("{}: {}", rule.where, e.what()));
        }
    }
    return geo;
}

std::shared_ptr<const Served> ServedBuilder::build(const GeodnsConfig& config, Geo geo,
                                                   std::shared_ptr<const HealthTable> health) {
    const std::vector<Steered> steered = steered_names(*config.zones);
    auto served = std::make_shared<Served>();
    served->zones = config.zones;
    served->fleet = std::make_shared<const Fleet>(config.fleet);
    served->health = std::move(health);
    served->steering = std::make_shared<GeoSteering>(
        *served->fleet, *served->health, std::move(geo.db), std::move(geo.nets),
        config.geo.default_region, steered, &metrics_->steering);
    return served;
}

}  // namespace cdn::geodns
