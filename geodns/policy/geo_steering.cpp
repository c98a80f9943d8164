#include "geodns/policy/geo_steering.hpp"

#include "common/log.hpp"
#include "common/mix64.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>

namespace cdn::geodns {

namespace {

namespace ip = boost::asio::ip;

// splitmix64: tiny, fast and good enough to spread answers; one state per thread.
struct Rng {
    std::uint64_t state = 0;
    bool seeded = false;
    std::uint64_t next() noexcept {
        if (!seeded) {
            std::random_device rd;
            state = (std::uint64_t{rd()} << 32) ^ rd();
            seeded = true;
        }
        return mix64(state += 0x9e3779b97f4a7c15ull);
    }
};
thread_local Rng rng;

}  // namespace

double haversine_km(double lat1, double lon1, double lat2, double lon2) noexcept {
    constexpr double kRad = std::numbers::pi / 180.0;
    const double p1 = lat1 * kRad, p2 = lat2 * kRad;
    const double dp = (lat2 - lat1) * kRad, dl = (lon2 - lon1) * kRad;
    const double h = std::sin(dp / 2) * std::sin(dp / 2) +
                     std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
    return 2 * 6371.0 * std::atan2(std::sqrt(h), std::sqrt(std::max(0.0, 1 - h)));
}

GeoSteeringMetrics::GeoSteeringMetrics(MetricsRegistry& registry)
    : fail_open(registry.counter("cdn_geodns_fail_open_total",
                                 "Steered answers given while every candidate edge was down")),
      lookups_nets(registry.counter("cdn_geodns_geo_lookups_total",
                                    "Clients placed, by what placed them", R"(result="nets")")),
      lookups_db(registry.counter("cdn_geodns_geo_lookups_total",
                                  "Clients placed, by what placed them", R"(result="db")")),
      lookups_default(registry.counter("cdn_geodns_geo_lookups_total",
                                       "Clients placed, by what placed them",
                                       R"(result="default")")),
      registry_(registry) {}

Counter& GeoSteeringMetrics::answers(const std::string& region_id) {
    auto it = answers_.find(region_id);
    if (it == answers_.end()) {
        Counter& c = registry_.counter("cdn_geodns_answers_total",
                                       "Steered answers, by the region of the first address",
                                       "region=\"" + region_id + "\"");
        it = answers_.emplace(region_id, &c).first;
    }
    return *it->second;
}

// A name's candidate edges in one region.
struct GeoSteering::RegionCandidates {
    std::size_t region = 0;
    std::vector<std::size_t> edges;                 // fleet edge indices, config order
    std::vector<std::pair<double, double>> points;  // distinct coordinates of those edges
};

struct GeoSteering::NameCandidates {
    std::vector<RegionCandidates> regions;  // config order of regions; only those with edges
    std::size_t edge_count = 0;
    mutable std::atomic<bool> all_down{false};
    std::size_t index = 0;
    // The slot order of every class: class c is orders[c * regions.size() ...], all slots.
    std::vector<std::uint32_t> orders;
};

struct GeoSteering::Ranked {
    double distance;
    std::size_t slot;  // index into NameCandidates::regions
};

GeoSteering::GeoSteering(const Fleet& fleet, const HealthTable& health,
                         std::shared_ptr<const GeoDatabase> db, Nets nets,
                         std::optional<std::size_t> default_region,
                         std::span<const Steered> steered, GeoSteeringMetrics* metrics)
    : fleet_(fleet),
      health_(health),
      db_(std::move(db)),
      nets_(std::move(nets)),
      default_region_(default_region),
      metrics_(metrics) {
    if (health_.size() != fleet_.edges.size()) {
        throw std::invalid_argument("GeoSteering: health table size differs from the fleet's");
    }
    if (default_region_ && *default_region_ >= fleet_.regions.size()) {
        throw std::invalid_argument("GeoSteering: default region index out of range");
    }
    for (const auto& e : fleet_.edges) {
        if (e.region >= fleet_.regions.size()) {
            throw std::invalid_argument("GeoSteering: edge " + e.id + " has no region");
        }
    }
    for (const auto& s : steered) {
        if (s.index >= names_.size()) names_.resize(s.index + 1);
        if (names_[s.index]) {
            throw std::invalid_argument("GeoSteering: steered index " + std::to_string(s.index) +
                                        " used twice");
        }
        std::vector<bool> use(fleet_.edges.size(), s.edges.empty());
        for (const auto& id : s.edges) {
            const auto it = std::find_if(fleet_.edges.begin(), fleet_.edges.end(),
                                         [&](const EdgeInfo& e) { return e.id == id; });
            assert(it != fleet_.edges.end() && "the config loader rejects unknown edge ids");
            if (it == fleet_.edges.end()) {
                throw std::invalid_argument("GeoSteering: unknown edge id \"" + id + "\"");
            }
            use[static_cast<std::size_t>(it - fleet_.edges.begin())] = true;
        }
        auto nc = std::make_unique<NameCandidates>();
        nc->index = s.index;
        for (std::size_t r = 0; r < fleet_.regions.size(); ++r) {
            RegionCandidates rc;
            rc.region = r;
            for (std::size_t e = 0; e < fleet_.edges.size(); ++e) {
                if (!use[e] || fleet_.edges[e].region != r) continue;
                rc.edges.push_back(e);
                const std::pair<double, double> pt{fleet_.edges[e].latitude,
                                                   fleet_.edges[e].longitude};
                if (std::find(rc.points.begin(), rc.points.end(), pt) == rc.points.end()) {
                    rc.points.push_back(pt);
                }
            }
            nc->edge_count += rc.edges.size();
            if (!rc.edges.empty()) nc->regions.push_back(std::move(rc));
        }
        names_[s.index] = std::move(nc);
    }
    if (metrics_) {
        for (const auto& r : fleet_.regions)
            answers_.push_back(&metrics_->answers(r.id));
    }

    // The precomputed placement: every distinct edge position, the class (order of those
    // positions) of every address range, and per name the region order of every class.
    std::vector<std::uint32_t> point_of_edge(fleet_.edges.size());
    for (std::size_t e = 0; e < fleet_.edges.size(); ++e) {
        const auto& edge = fleet_.edges[e];
        const auto it = std::find_if(points_.begin(), points_.end(), [&](const Point& p) {
            return p.region == edge.region && p.latitude == edge.latitude &&
                   p.longitude == edge.longitude;
        });
        point_of_edge[e] = static_cast<std::uint32_t>(it - points_.begin());
        if (it == points_.end())
            points_.push_back(Point{edge.region, edge.latitude, edge.longitude});
    }
    if (!db_ || db_->networks()) {
        table_ = std::make_unique<const ClassTable>(
            db_ ? db_->networks() : nullptr, nets_,
            [this](std::optional<std::size_t> region, std::uint32_t location) {
                return classify(region, location);
            });
    }
    constexpr std::uint32_t kNoSlot = 0xffffffffu;
    for (auto& nc : names_) {
        if (!nc) continue;
        std::vector<std::uint32_t> slot_of_point(points_.size(), kNoSlot);
        for (std::size_t slot = 0; slot < nc->regions.size(); ++slot) {
            for (const std::size_t e : nc->regions[slot].edges)
                slot_of_point[point_of_edge[e]] = static_cast<std::uint32_t>(slot);
        }
        const std::size_t n = nc->regions.size();
        nc->orders.reserve(class_points_.size() * n);
        std::vector<bool> seen;
        for (const auto& cp : class_points_) {
            seen.assign(n, false);
            for (const std::uint32_t p : cp) {
                const std::uint32_t slot = slot_of_point[p];
                if (slot == kNoSlot || seen[slot]) continue;
                seen[slot] = true;
                nc->orders.push_back(slot);
            }
        }
        assert(nc->orders.size() == class_points_.size() * n);
    }
}

// The class of the clients placed at nets `region`, or else at database `location`: the fleet's
// edge positions ordered as rank() orders regions (the placed region first, then by distance,
// ties in config order; without any point, config order).
std::uint32_t GeoSteering::classify(std::optional<std::size_t> region, std::uint32_t location) {
    std::optional<std::size_t> first = region;
    bool has_point = false;
    double lat = 0, lon = 0;
    if (region) {
        has_point = true;
        lat = fleet_.regions[*region].latitude;
        lon = fleet_.regions[*region].longitude;
    } else if (location != GeoNetworks::kNoLocation && db_ && db_->networks()) {
        has_point = true;
        lat = db_->networks()->locations[location].latitude;
        lon = db_->networks()->locations[location].longitude;
    } else if (default_region_) {
        first = default_region_;
        has_point = true;
        lat = fleet_.regions[*default_region_].latitude;
        lon = fleet_.regions[*default_region_].longitude;
    }
    struct Key {
        double distance;
        std::size_t region;
        std::uint32_t point;
    };
    std::vector<Key> keys;
    keys.reserve(points_.size());
    for (std::uint32_t p = 0; p < points_.size(); ++p) {
        const Point& pt = points_[p];
        const double d = first && *first == pt.region ? -1.0
                         : has_point ? haversine_km(lat, lon, pt.latitude, pt.longitude)
                                     : static_cast<double>(pt.region);
        keys.push_back(Key{d, pt.region, p});
    }
    std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
        if (a.distance != b.distance) return a.distance < b.distance;
        return a.region != b.region ? a.region < b.region : a.point < b.point;
    });
    std::vector<std::uint32_t> order;
    order.reserve(keys.size());
    for (const auto& k : keys)
        order.push_back(k.point);
    const auto [it, fresh] =
        class_ids_.try_emplace(std::move(order), static_cast<std::uint32_t>(class_points_.size()));
    if (fresh) class_points_.push_back(it->first);
    return it->second;
}

std::optional<GeoSteering::Placed> GeoSteering::place(const ip::address& address) const noexcept {
    if (!table_) return std::nullopt;
    ClassTable::Hit h;
    bool mapped = false;
    if (address.is_v4()) {
        h = table_->lookup_v4(address.to_v4().to_uint());
    } else {
        const auto v6 = address.to_v6();
        const auto b = v6.to_bytes();
        if (v6.is_v4_mapped()) {
            mapped = true;
            h = table_->lookup_v4(std::uint32_t{b[12]} << 24 | std::uint32_t{b[13]} << 16 |
                                  std::uint32_t{b[14]} << 8 | b[15]);
        } else {
            U128 k = 0;
            for (const unsigned char c : b)
                k = k << 8 | c;
            h = table_->lookup_v6(k);
        }
    }
    if (h.cls == ClassTable::kSlow) return std::nullopt;
    Placed p{h.cls, h.source, h.scope};
    if (mapped && (db_ || !nets_.empty()))
        p.scope = static_cast<std::uint8_t>(std::min(128, p.scope + 96));
    return p;
}

GeoSteering::~GeoSteering() = default;

void GeoSteering::seed_thread_rng(std::uint64_t seed) noexcept {
    rng.state = seed;
    rng.seeded = true;
}

GeoSteering::Location GeoSteering::locate(const ClientAddress& client) const noexcept {
    Location loc;
    ip::address addr = client.address;
    const bool mapped = addr.is_v6() && addr.to_v6().is_v4_mapped();
    if (mapped) addr = ip::make_address_v4(ip::v4_mapped, addr.to_v6());
    const std::uint8_t full = addr.is_v4() ? 32 : 128;
    const bool geo_data = db_ || !nets_.empty();

    const NetsMatch nm = nets_.lookup(addr);  // an empty table: scope 0, not matched
    if (nm.matched) {
        loc.source = Location::Source::nets;
        loc.region = nm.region;
        loc.scope = nm.scope;
    } else if (db_) {
        const GeoPoint p = db_->locate(addr);
        // The answer holds for the database block unless a configured block sits inside it.
        loc.scope = p.error ? full : std::max(p.prefix, nm.scope);
        if (p.has_location) {
            loc.source = Location::Source::db;
            loc.has_point = true;
            loc.latitude = p.latitude;
            loc.longitude = p.longitude;
        }
    } else {
        loc.scope = nm.scope;  // nets only (or nothing: 0)
    }
    if (loc.region) {
        loc.has_point = true;
        loc.latitude = fleet_.regions[*loc.region].latitude;
        loc.longitude = fleet_.regions[*loc.region].longitude;
    } else if (!loc.has_point && default_region_) {
        loc.region = default_region_;
        loc.has_point = true;
        loc.latitude = fleet_.regions[*default_region_].latitude;
        loc.longitude = fleet_.regions[*default_region_].longitude;
    }
    if (mapped && geo_data) loc.scope = static_cast<std::uint8_t>(std::min(128, loc.scope + 96));
    return loc;
}

void GeoSteering::rank(const NameCandidates& nc, const Location& loc,
                       std::vector<std::uint32_t>& slots) const {
    thread_local std::vector<Ranked> out;
    out.clear();
    for (std::size_t i = 0; i < nc.regions.size(); ++i) {
        const auto& rc = nc.regions[i];
        double d = static_cast<double>(i);  // no location: config order
        if (loc.region && *loc.region == rc.region) {
            d = -1;  // the nets match or default region comes first whatever edges say
        } else if (loc.has_point) {
            d = HUGE_VAL;
            for (const auto& [lat, lon] : rc.points) {
                d = std::min(d, haversine_km(loc.latitude, loc.longitude, lat, lon));
            }
        }
        out.push_back(Ranked{d, i});
    }
    std::sort(out.begin(), out.end(), [](const Ranked& a, const Ranked& b) {
        return a.distance != b.distance ? a.distance < b.distance : a.slot < b.slot;
    });
    slots.clear();
    for (const auto& r : out)
        slots.push_back(static_cast<std::uint32_t>(r.slot));
}

// Fills `out` with up to `name.count` addresses (member: &EdgeInfo::v4 or ::v6) from the nearest
// region that has a healthy edge with such an address, edges in weighted random order, one
// address per edge per round. With `name.last_resort`, one more address follows: the first
// address of one healthy edge (drawn by weight) of the next region in `order` that has one.
// Returns the region answered from, or SIZE_MAX.
template <class Address, class Member>
std::size_t GeoSteering::pick(const NameCandidates& nc, std::span<const std::uint32_t> order,
                              const Steered& name, Member member,
                              AnswerAddresses<Address>& out) const {
    struct Cand {
        std::size_t edge;
        std::uint64_t weight;
    };
    thread_local std::vector<Cand> cands;
    const unsigned count = name.count;
    std::size_t answered = SIZE_MAX;
    for (const std::uint32_t slot : order) {
        const auto& rc = nc.regions[slot];
        cands.clear();
        std::uint64_t total = 0;
        std::size_t most = 0;
        for (const std::size_t e : rc.edges) {
            const auto& addrs = fleet_.edges[e].*member;
            if (addrs.empty() || !health_.up(e)) continue;
            const std::uint64_t w = std::max(1u, fleet_.edges[e].weight);
            cands.push_back(Cand{e, w});
            total += w;
            most = std::max(most, addrs.size());
        }
        if (cands.empty()) continue;
        if (answered != SIZE_MAX) {
            // The last resort: one edge of the next region, by weight; never an address the
            // answer already holds.
            std::uint64_t r = rng.next() % total;
            std::size_t j = 0;
            while (r >= cands[j].weight)
                r -= cands[j++].weight;
            const Address& a = (fleet_.edges[cands[j].edge].*member).front();
            if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
            break;
        }
        out.reserve(std::min<std::size_t>(count, cands.size() * most) + (name.last_resort ? 1 : 0));
        // Weighted order without replacement, drawn lazily: position i gets edge j with
        // probability weight(j) / weight(remaining).
        std::size_t drawn = 0;
        for (std::size_t round = 0; round < most && out.size() < count; ++round) {
            for (std::size_t i = 0; i < cands.size() && out.size() < count; ++i) {
                if (i == drawn) {
                    std::uint64_t r = rng.next() % total;
                    std::size_t j = i;
                    while (r >= cands[j].weight)
                        r -= cands[j++].weight;
                    std::swap(cands[i], cands[j]);
                    total -= cands[i].weight;
                    ++drawn;
                }
                const auto& addrs = fleet_.edges[cands[i].edge].*member;
                if (round < addrs.size()) out.push_back(addrs[round]);
            }
        }
        answered = rc.region;
        if (!name.last_resort) break;
    }
    return answered;
}

SteeringAnswer GeoSteering::steer(const Steered& name, const ClientAddress& client) const {
    return steer_only(name, client, Families::both);
}

SteeringAnswer GeoSteering::steer_only(const Steered& name, const ClientAddress& client,
                                       Families families) const {
    SteeringAnswer ans;
    if (name.index >= names_.size() || !names_[name.index]) {
        assert(false && "steer() called with a Steered the GeoSteering was not built with");
        return ans;
    }
    const NameCandidates& nc = *names_[name.index];
    std::span<const std::uint32_t> order;
    std::uint8_t scope = 0;
    Location::Source source = Location::Source::fallback;
    if (const auto placed = place(client.address)) {
        const std::size_t n = nc.regions.size();
        order = std::span<const std::uint32_t>(nc.orders).subspan(placed->cls * n, n);
        scope = placed->scope;
        source = placed->source == ClassTable::Source::nets ? Location::Source::nets
                 : placed->source == ClassTable::Source::db ? Location::Source::db
                                                            : Location::Source::fallback;
    } else {
        thread_local std::vector<std::uint32_t> ranked;
        const Location loc = locate(client);
        rank(nc, loc, ranked);
        order = ranked;
        scope = loc.scope;
        source = loc.source;
    }
    if (metrics_) {
        (source == Location::Source::nets ? metrics_->lookups_nets
         : source == Location::Source::db ? metrics_->lookups_db
                                          : metrics_->lookups_default)
            .inc();
    }

    bool any_up = false;
    for (const auto& rc : nc.regions) {
        for (const std::size_t e : rc.edges) {
            if (health_.up(e)) {
                any_up = true;
                break;
            }
        }
        if (any_up) break;
    }
    std::size_t first_region = SIZE_MAX;
    if (any_up || nc.edge_count == 0) {
        if (nc.all_down.load(std::memory_order_relaxed) && nc.all_down.exchange(false)) {
            log_info("geodns: {}: candidate edges up again, fail open over", name.name);
        }
        const auto want = static_cast<unsigned>(families);
        const std::size_t r4 =
            (want & 1u) ? pick(nc, order, name, &EdgeInfo::v4, ans.v4) : SIZE_MAX;
        const std::size_t r6 =
            (want & 2u) ? pick(nc, order, name, &EdgeInfo::v6, ans.v6) : SIZE_MAX;
        first_region = r4 != SIZE_MAX ? r4 : r6;
        // One candidate region: every client gets the same answer, so it holds for all (/0).
        // Otherwise the widest block of the client's class, which may be wider or narrower than
        // the source prefix (RFC 7871 7.2.1; gdnsd does the same); a /0 source gets /0.
        ans.scope_prefix = nc.regions.size() <= 1 || client.source_prefix == 0 ? 0 : scope;
    } else {
        if (!nc.all_down.load(std::memory_order_relaxed) && !nc.all_down.exchange(true)) {
            log_warn(
                "geodns: {}: all {} candidate edges are down, answering all of them "
                "(fail open)",
                name.name, nc.edge_count);
        }
        ans.fail_open = true;
        ans.scope_prefix = 0;
        for (const std::uint32_t slot : order) {
            const auto& rc = nc.regions[slot];
            for (const std::size_t e : rc.edges) {
                const auto& edge = fleet_.edges[e];
                if (first_region == SIZE_MAX && (!edge.v4.empty() || !edge.v6.empty())) {
                    first_region = rc.region;
                }
                for (const auto& a : edge.v4) {
                    if (ans.v4.size() < kFailOpenCap) ans.v4.push_back(a);
                }
                for (const auto& a : edge.v6) {
                    if (ans.v6.size() < kFailOpenCap) ans.v6.push_back(a);
                }
            }
        }
        if (metrics_) metrics_->fail_open.inc();
    }
    if (metrics_ && first_region != SIZE_MAX) answers_[first_region]->inc();
    return ans;
}

}  // namespace cdn::geodns
