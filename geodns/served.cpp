#include "geodns/served.hpp"

#include "common/log.hpp"
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

bool same_fleet(const Fleet& a, const Fleet& b) {
    if (a.regions.size() != b.regions.size() || a.edges.size() != b.edges.size()) return false;
    for (std::size_t i = 0; i < a.regions.size(); ++i) {
        const Region &x = a.regions[i], &y = b.regions[i];
        if (x.id != y.id || x.latitude != y.latitude || x.longitude != y.longitude) return false;
    }
    for (std::size_t i = 0; i < a.edges.size(); ++i) {
        const EdgeInfo &x = a.edges[i], &y = b.edges[i];
        if (x.id != y.id || x.region != y.region || x.latitude != y.latitude ||
            x.longitude != y.longitude || x.v4 != y.v4 || x.v6 != y.v6 || x.weight != y.weight ||
            x.health_url != y.health_url)
            return false;
    }
    return true;
}

ServedBuilder::ServedBuilder(const Fleet& fleet, const HealthTable& health,
                             MetricsRegistry& registry)
    : fleet_(fleet),
      health_(health),
      registry_(registry),
      metrics_(std::make_unique<Metrics>(registry)) {}

ServedBuilder::~ServedBuilder() = default;

std::shared_ptr<const Served> ServedBuilder::build(const GeodnsConfig& config) {
    std::shared_ptr<const GeoDatabase> db;
    if (!config.geo.database.empty()) {
        FieldPaths paths;
        paths.latitude = config.geo.latitude;
        paths.longitude = config.geo.longitude;
        paths.country = config.geo.country;
        paths.continent = config.geo.continent;
        try {
            db = GeoDatabase::open(config.geo.database, paths);
        } catch (const std::exception& e) {
            throw ConfigError(fmt::format("{}: {}", config.geo.where_database, e.what()));
        }
    }
    Nets nets;
    for (const NetRule& rule : config.geo.nets) {
        try {
            nets.add(rule.cidr, rule.region);
        } catch (const std::exception& e) {
            throw ConfigError(fmt::format("{}: {}", rule.where, e.what()));
        }
    }
    const std::vector<Steered> steered = steered_names(*config.zones);
    auto served = std::make_shared<Served>();
    served->zones = config.zones;
    served->steering =
        std::make_shared<GeoSteering>(config.fleet, health_, std::move(db), std::move(nets),
                                      config.geo.default_region, steered, &metrics_->steering);
    return served;
}

std::shared_ptr<const Served> ServedBuilder::reload(const std::string& file) {
    try {
        GeodnsConfig next = load_config(file);
        if (!same_fleet(next.fleet, fleet_))
            throw ConfigError(file +
                              ": [[regions]] and [[edges]] changed; restart geodns to apply them");
        auto served = build(next);
        ++reloads_;
        std::size_t names = 0;
        for (const Zone& z : next.zones->zones)
            names += z.nodes.size();
        log_info("geodns: reloaded {}: {} zones, {} names", file, next.zones->zones.size(), names);
        return served;
    } catch (const std::exception& e) {
        ++failures_;
        log_error("geodns: reload failed, keeping the old zones: {}", e.what());
        return nullptr;
    }
}

}  // namespace cdn::geodns
