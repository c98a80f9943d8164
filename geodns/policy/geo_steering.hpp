#pragma once
// The steering policy: place the client (configured nets, then the geo database, then the
// default region), order the regions by great-circle distance, and answer with the nearest
// region's healthy edges spread by weight (plus, with Steered::last_resort, one healthy edge of
// the next-nearest region); fail open (every candidate) when all are down.
// Immutable after construction except the health it reads and a fail-open flag: steer() is
// safe from any number of threads. The Fleet is copied; the HealthTable (and the metrics, when
// given) must outlive the GeoSteering.
// The placement and the region order are precomputed at construction for every address range
// (ClassTable: one lookup per query, no geo database lookup or distance maths); health is
// applied at query time, so health changes leave the table (and the ECS scope) valid.
#include "common/metrics.hpp"
#include "geodns/geo/geo_database.hpp"
#include "geodns/geo/nets.hpp"
#include "geodns/policy/class_table.hpp"
#include "geodns/policy/fleet.hpp"
#include "geodns/policy/steering.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cdn::geodns {

// Great-circle distance in km (haversine, mean Earth radius 6371 km); correct across ±180°.
double haversine_km(double lat1, double lon1, double lat2, double lon2) noexcept;

// The policy's counters, registered once per MetricsRegistry and shared by every GeoSteering
// built from successive configs (the registry does not merge a name registered twice).
// Registration (the constructor, answers()) is start-up/reload work: not thread-safe.
class GeoSteeringMetrics {
  public:
    explicit GeoSteeringMetrics(MetricsRegistry& registry);
    // cdn_geodns_answers_total{region="<id>"}, registered on first use.
    Counter& answers(const std::string& region_id);

    Counter& fail_open;        // cdn_geodns_fail_open_total
    Counter& lookups_nets;     // cdn_geodns_geo_lookups_total{result="nets"}
    Counter& lookups_db;       // ...{result="db"}
    Counter& lookups_default;  // ...{result="default"}

  private:
    MetricsRegistry& registry_;
    std::map<std::string, Counter*, std::less<>> answers_;
};

class GeoSteering final : public Steering {
  public:
    // Where a client was placed, and how wide the block that shares that placement is.
    struct Location {
        enum class Source { nets, db, fallback };  // fallback: default region or config order
        Source source = Source::fallback;
        bool has_point = false;  // false: regions in config order (no location, no default)
        double latitude = 0, longitude = 0;
        std::optional<std::size_t> region;  // the nets match or the default region
        // ECS scope in the client address's family before capping at the source prefix.
        std::uint8_t scope = 0;
    };

    static constexpr std::size_t kFailOpenCap = 8;  // addresses per family when failing open

    // `steered`: every steered name the zones hold; Steered::index must be unique and is what
    // steer() receives later. Edge ids in Steered::edges must exist in `fleet` (the config loader
    // checks; this throws std::invalid_argument otherwise). `health.size()` must equal
    // fleet.edges.size(). `default_region` indexes fleet.regions. `db` may be null.
    GeoSteering(const Fleet& fleet, const HealthTable& health,
                std::shared_ptr<const GeoDatabase> db, Nets nets,
                std::optional<std::size_t> default_region, std::span<const Steered> steered,
                GeoSteeringMetrics* metrics = nullptr);
    ~GeoSteering() override;

    SteeringAnswer steer(const Steered& name, const ClientAddress& client) const override;
    SteeringAnswer steer_only(const Steered& name, const ClientAddress& client,
                              Families families) const override;

    // The per-query path (a database lookup, then distances), kept for the few addresses the
    // table sends back to it and as the reference the table is tested against.
    Location locate(const ClientAddress& client) const noexcept;

    // The answer class and ECS scope from the precomputed table (scope before the IPv4-mapped
    // adjustment). nullopt when the address takes the per-query path.
    struct Placed {
        std::uint32_t cls = 0;
        ClassTable::Source source = ClassTable::Source::fallback;
        std::uint8_t scope = 0;
    };
    std::optional<Placed> place(const boost::asio::ip::address& address) const noexcept;
    std::size_t classes() const noexcept { return class_points_.size(); }

    // Seeds this thread's generator for the weighted order (tests; each thread is otherwise
    // seeded from std::random_device on first use).
    static void seed_thread_rng(std::uint64_t seed) noexcept;

  private:
    struct RegionCandidates;
    struct NameCandidates;
    struct Ranked;
    struct Point {
        std::size_t region;
        double latitude, longitude;
    };
    void rank(const NameCandidates& nc, const Location& loc, std::vector<std::uint32_t>& out) const;
    template <class Address, class Member>
    std::size_t pick(const NameCandidates& nc, std::span<const std::uint32_t> order,
                     const Steered& name, Member member, AnswerAddresses<Address>& out) const;
    std::uint32_t classify(std::optional<std::size_t> region, std::uint32_t location);

    Fleet fleet_;
    const HealthTable& health_;
    std::shared_ptr<const GeoDatabase> db_;
    Nets nets_;
    std::optional<std::size_t> default_region_;
    std::vector<std::unique_ptr<NameCandidates>> names_;  // by Steered::index; null: unknown
    GeoSteeringMetrics* metrics_;
    std::vector<Counter*> answers_;  // by region index; empty without metrics
    // Distinct (region, coordinates) of the fleet's edges; a class is an order of them.
    std::vector<Point> points_;
    std::vector<std::vector<std::uint32_t>> class_points_;  // by class id
    std::map<std::vector<std::uint32_t>, std::uint32_t> class_ids_;
    std::unique_ptr<const ClassTable> table_;
};

}  // namespace cdn::geodns
