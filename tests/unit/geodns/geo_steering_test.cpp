#include "geodns/policy/geo_steering.hpp"

#include "common/log.hpp"
#include "geo_test_data.hpp"

#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <random>

using namespace cdn::geodns;
using cdn::geodns::test::data_path;
using cdn::geodns::test::parse_order;
using cdn::geodns::test::read_tsv;
namespace ip = boost::asio::ip;

namespace {

constexpr std::size_t kUsEast = 0, kEuCentral = 1, kApNortheast = 2;

EdgeInfo edge(std::string id, std::size_t region, const Fleet& f, std::vector<const char*> v4,
              std::vector<const char*> v6, unsigned weight = 1) {
    EdgeInfo e;
    e.id = std::move(id);
    e.region = region;
    e.latitude = f.regions[region].latitude;
    e.longitude = f.regions[region].longitude;
    for (const char* a : v4)
        e.v4.push_back(ip::make_address_v4(a));
    for (const char* a : v6)
        e.v6.push_back(ip::make_address_v6(a));
    e.weight = weight;
    return e;
}

Fleet regions() {
    Fleet f;
    f.regions = {{"us-east", 39.0438, -77.4874},
                 {"eu-central", 50.1109, 8.6821},
                 {"ap-northeast", 37.5665, 126.9780}};
    return f;
}

// One edge per region, with both families: the answer names the region.
Fleet simple_fleet() {
    Fleet f = regions();
    f.edges.push_back(edge("use1", kUsEast, f, {"127.10.0.1"}, {"2001:db8:e::1"}));
    f.edges.push_back(edge("euc1", kEuCentral, f, {"127.10.0.2"}, {"2001:db8:e::2"}));
    f.edges.push_back(edge("apne1", kApNortheast, f, {"127.10.0.3"}, {"2001:db8:e::3"}));
    return f;
}

// us-east has two edges (weights 1 and 3); eu-central has no IPv6.
Fleet weighted_fleet() {
    Fleet f = regions();
    f.edges.push_back(edge("use1-a", kUsEast, f, {"127.10.0.1"}, {"2001:db8:e::1"}, 1));
    f.edges.push_back(edge("use1-b", kUsEast, f, {"127.10.0.11"}, {"2001:db8:e::11"}, 3));
    f.edges.push_back(edge("euc1-a", kEuCentral, f, {"127.10.0.2"}, {}));
    f.edges.push_back(edge("apne1-a", kApNortheast, f, {"127.10.0.3"}, {"2001:db8:e::3"}));
    return f;
}

Steered name(std::size_t index, unsigned count, std::vector<std::string> edges = {}) {
    Steered s;
    s.index = index;
    s.count = count;
    s.edges = std::move(edges);
    return s;
}

ClientAddress client(const std::string& addr, int prefix = -1, bool ecs = false) {
    ClientAddress c;
    c.address = ip::make_address(addr);
    c.source_prefix = static_cast<std::uint8_t>(prefix >= 0         ? prefix
                                                : c.address.is_v4() ? 32
                                                                    : 128);
    c.from_ecs = ecs;
    return c;
}

std::shared_ptr<const GeoDatabase> test_db(bool flat = false) {
    return flat ? GeoDatabase::open(data_path("geodns-test-flat.mmdb"),
                                    FieldPaths{"latitude", "longitude", "country_code", ""})
                : GeoDatabase::open(data_path("geodns-test.mmdb"));
}

// The region ids the v4 answer's addresses belong to.
std::vector<std::string> regions_of(const Fleet& f, const SteeringAnswer& a) {
    std::vector<std::string> out;
    for (const auto& addr : a.v4) {
        for (const auto& e : f.edges) {
            if (std::find(e.v4.begin(), e.v4.end(), addr) != e.v4.end()) {
                out.push_back(f.regions[e.region].id);
            }
        }
    }
    return out;
}

std::string v4s(const SteeringAnswer& a) {
    std::string s;
    for (const auto& x : a.v4)
        s += (s.empty() ? "" : ",") + x.to_string();
    return s;
}
std::string v6s(const SteeringAnswer& a) {
    std::string s;
    for (const auto& x : a.v6)
        s += (s.empty() ? "" : ",") + x.to_string();
    return s;
}

// The oracle for the precomputed table, per address with no table: the region order rank()
// gives a Location (written again here; every region has one edge at its own coordinates), and
// the widest block around an address in which every database network (probed at the block's
// ends and at each range start inside it) gets that same order: the ECS scope gdnsd gives.
std::vector<std::size_t> oracle_order(const Fleet& f, const GeoSteering::Location& loc) {
    std::vector<std::pair<double, std::size_t>> d;
    for (std::size_t r = 0; r < f.regions.size(); ++r) {
        const double x = loc.region && *loc.region == r ? -1.0
                         : loc.has_point
                             ? haversine_km(loc.latitude, loc.longitude, f.regions[r].latitude,
                                            f.regions[r].longitude)
                             : static_cast<double>(r);
        d.emplace_back(x, r);
    }
    std::sort(d.begin(), d.end());
    std::vector<std::size_t> out;
    for (const auto& [x, r] : d)
        out.push_back(r);
    return out;
}

template <class Key>
int oracle_block(const std::vector<Key>& start, const std::vector<std::uint32_t>& loc, Key a,
                 unsigned bits, const std::function<std::vector<std::size_t>(Key)>& order_at) {
    const auto want = order_at(a);
    for (unsigned p = 0; p <= bits; ++p) {
        const Key host = p == bits ? Key{0}
                         : p == 0  ? static_cast<Key>(~Key{0})
                                   : static_cast<Key>((Key{1} << (bits - p)) - 1);
        const Key lo = static_cast<Key>(a & ~host), hi = static_cast<Key>(a | host);
        auto first = std::upper_bound(start.begin(), start.end(), lo) - 1;
        const auto end = std::upper_bound(start.begin(), start.end(), hi);
        bool same = order_at(lo) == want && order_at(hi) == want;
        for (auto it = first; same && it != end; ++it) {
            const auto i = static_cast<std::size_t>(it - start.begin());
            same = loc[i] != GeoNetworks::kAlias && order_at(std::max(*it, lo)) == want;
        }
        if (same) return static_cast<int>(p);
    }
    return -1;
}

int oracle_scope(const GeoSteering& s, const Fleet& f, const GeoDatabase& db,
                 const std::string& text) {
    ip::address addr = ip::make_address(text);
    const bool mapped = addr.is_v6() && addr.to_v6().is_v4_mapped();
    if (mapped) addr = ip::make_address_v4(ip::v4_mapped, addr.to_v6());
    auto order_of = [&](const ip::address& a) {
        ClientAddress c;
        c.address = a;
        c.source_prefix = a.is_v4() ? 32 : 128;
        return oracle_order(f, s.locate(c));
    };
    const GeoNetworks& n = *db.networks();
    if (addr.is_v4()) {
        const int p = oracle_block<std::uint32_t>(
            n.v4_start, n.v4_loc, addr.to_v4().to_uint(), 32,
            [&](std::uint32_t k) { return order_of(ip::address_v4(k)); });
        return mapped ? p + 96 : p;
    }
    U128 k = 0;
    for (const unsigned char c : addr.to_v6().to_bytes())
        k = k << 8 | c;
    return oracle_block<U128>(n.v6_start, n.v6_loc, k, 128, [&](U128 x) {
        ip::address_v6::bytes_type b;
        for (unsigned i = 0; i < 16; ++i)
            b[i] = static_cast<unsigned char>(x >> (8 * (15 - i)));
        return order_of(ip::address_v6(b));
    });
}

}  // namespace

TEST_CASE("haversine_km: known distances, across the antimeridian") {
    CHECK(haversine_km(21.3069, -157.8583, 37.5665, 126.9780) == Approx(7312).margin(1));
    CHECK(haversine_km(21.3069, -157.8583, 39.0438, -77.4874) == Approx(7730).margin(1));
    CHECK(haversine_km(0, 179.9, 0, -179.9) == Approx(22.2).margin(0.1));
    CHECK(haversine_km(50, 8, 50, 8) == 0);
    CHECK(haversine_km(90, 0, -90, 0) == Approx(20015).margin(1));
}

TEST_CASE("GeoSteering: every expected.tsv line, nearest then next when regions go down") {
    const bool flat = GENERATE(false, true);
    const Fleet fleet = simple_fleet();
    HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const GeoSteering steering(fleet, health, test_db(flat), Nets{}, kEuCentral, names);
    cdn::set_log_level(cdn::LogLevel::error);  // fail open twice per row: quiet
    std::map<std::string, std::size_t> region_index{
        {"us-east", kUsEast}, {"eu-central", kEuCentral}, {"ap-northeast", kApNortheast}};
    for (const auto& row : read_tsv(data_path("geodns-test.expected.tsv"))) {
        INFO((flat ? "flat " : "geoip2 ") << row["sample_ip"] << " (" << row["note"] << ")");
        const auto c = client(row["sample_ip"]);
        auto order = parse_order(row["nearest_regions_km"]);
        if (order.empty()) {  // no location: the default region, then the rest by distance
            order = {{"eu-central", 0}, {"us-east", 0}, {"ap-northeast", 0}};
        }
        const auto loc = steering.locate(c);
        CHECK(loc.scope == std::stoi(row["prefix"]));
        // The answer's scope: the merged block of the client's class, at least as wide as the
        // database network, and the same whatever the health (the class ignores health).
        const int merged = oracle_scope(steering, fleet, *test_db(flat), row["sample_ip"]);
        CHECK(merged <= std::stoi(row["prefix"]));
        for (std::size_t down = 0; down < order.size(); ++down) {
            const auto a = steering.steer(names[0], c);
            CHECK_FALSE(a.fail_open);
            CHECK(regions_of(fleet, a) == std::vector<std::string>{order[down].first});
            CHECK(a.v6.size() == 1);
            CHECK(int{a.scope_prefix} == merged);
            health.set(region_index[order[down].first], false);  // one edge per region
        }
        const auto a = steering.steer(names[0], c);
        CHECK(a.fail_open);
        CHECK(a.scope_prefix == 0);
        CHECK(regions_of(fleet, a) ==
              std::vector<std::string>{order[0].first, order[1].first, order[2].first});
        for (std::size_t e = 0; e < fleet.edges.size(); ++e)
            health.set(e, true);
    }
    cdn::set_log_level(cdn::LogLevel::info);
}

TEST_CASE("GeoSteering: Honolulu goes to ap-northeast, not the US") {
    const Fleet fleet = simple_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    CHECK(v4s(steering.steer(names[0], client("127.6.0.1"))) == "127.10.0.3");
    CHECK(v6s(steering.steer(names[0], client("2001:db8:6::1"))) == "2001:db8:e::3");
}

TEST_CASE("GeoSteering: a record without coordinates gets the default region, not (0,0)") {
    const Fleet fleet = simple_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    // (0,0) is nearest to eu-central; the default is ap-northeast.
    const GeoSteering with_default(fleet, health, test_db(), Nets{}, kApNortheast, names);
    auto a = with_default.steer(names[0], client("127.7.0.1"));
    CHECK(v4s(a) == "127.10.0.3");
    CHECK(a.scope_prefix == 16);                            // the database network decided it
    a = with_default.steer(names[0], client("127.0.0.1"));  // a miss: the miss block
    CHECK(v4s(a) == "127.10.0.3");
    CHECK(a.scope_prefix == 16);
    CHECK(with_default.locate(client("127.0.0.1")).source ==
          GeoSteering::Location::Source::fallback);

    // No default: config order (us-east first), scope still the block.
    const GeoSteering no_default(fleet, health, test_db(), Nets{}, std::nullopt, names);
    a = no_default.steer(names[0], client("127.7.0.1"));
    CHECK(v4s(a) == "127.10.0.1");
    CHECK(a.scope_prefix == 16);
    a = no_default.steer(names[0], client("10.1.2.3", 24, true));
    CHECK(v4s(a) == "127.10.0.1");
    CHECK(a.scope_prefix == 2);

    // No geo data at all: the answer does not depend on the client.
    const GeoSteering nothing(fleet, health, nullptr, Nets{}, std::nullopt, names);
    a = nothing.steer(names[0], client("127.3.0.1"));
    CHECK(v4s(a) == "127.10.0.1");
    CHECK(a.scope_prefix == 0);
    const GeoSteering only_default(fleet, health, nullptr, Nets{}, kEuCentral, names);
    a = only_default.steer(names[0], client("127.3.0.1", 24, true));
    CHECK(v4s(a) == "127.10.0.2");
    CHECK(a.scope_prefix == 0);
}

TEST_CASE("GeoSteering: configured nets win over the database") {
    const Fleet fleet = simple_fleet();
    HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    Nets nets;
    nets.add("127.3.0.0/16", kEuCentral);    // Seoul in the DB
    nets.add("127.2.1.0/24", kApNortheast);  // inside the DB's 127.2/16 (and its /24)
    nets.add("127.21.0.0/16", kUsEast);
    nets.add("2001:db8:3::/48", kUsEast);
    const GeoSteering steering(fleet, health, test_db(), std::move(nets), kUsEast, names);
    auto a = steering.steer(names[0], client("127.3.4.5"));
    CHECK(v4s(a) == "127.10.0.2");
    CHECK(a.scope_prefix == 16);
    CHECK(steering.locate(client("127.3.4.5")).source == GeoSteering::Location::Source::nets);
    CHECK(v4s(steering.steer(names[0], client("127.2.1.1"))) == "127.10.0.3");
    CHECK(v6s(steering.steer(names[0], client("2001:db8:3::1"))) == "2001:db8:e::1");
    // Outside the net, inside the DB's network: the DB answers.
    a = steering.steer(names[0], client("127.2.0.1"));
    CHECK(v4s(a) == "127.10.0.2");
    CHECK(a.scope_prefix == 24);
    // A net's region down: the next region by distance from that region's point.
    health.set(kEuCentral, false);
    a = steering.steer(names[0], client("127.3.4.5"));
    CHECK(v4s(a) == "127.10.0.1");  // Frankfurt: us-east 6549 km, ap-northeast 8550 km
    CHECK_FALSE(a.fail_open);

    // Nets without a database: a miss is scoped to the block free of configured nets.
    Nets only;
    only.add("127.21.0.0/16", kApNortheast);
    const GeoSteering nets_only(fleet, health, nullptr, std::move(only), kUsEast, names);
    a = nets_only.steer(names[0], client("127.21.9.9"));
    CHECK(v4s(a) == "127.10.0.3");
    CHECK(a.scope_prefix == 16);
    a = nets_only.steer(names[0], client("127.20.0.1"));
    CHECK(v4s(a) == "127.10.0.1");
    CHECK(a.scope_prefix == 16);  // 127.20/16 and 127.21/16 differ in bit 16
}

TEST_CASE("GeoSteering: ECS scope rules") {
    const Fleet fleet = simple_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    auto scope = [&](const char* addr, int prefix) {
        return int{steering.steer(names[0], client(addr, prefix, true)).scope_prefix};
    };
    // Networks that get the same answer class are merged (issue 19), as gdnsd 3.8.1 does on
    // this database and these regions: the values marked "gdnsd" are what it answers.
    CHECK(scope("127.1.0.1", 32) == 15);  // the DB's /16 (112 - 96) merged with 127.0/16
    CHECK(scope("127.1.0.0", 24) == 15);  // gdnsd
    CHECK(scope("127.1.0.0", 8) == 15);   // gdnsd: narrower than the source (RFC 7871 7.2.1)
    CHECK(scope("0.0.0.0", 0) == 0);      // a /0 source gets /0 (gdnsd)
    CHECK(scope("::", 0) == 0);
    CHECK(scope("127.10.0.1", 32) == 31);
    CHECK(scope("127.10.0.0", 24) == 31);
    CHECK(scope("2001:db8:2::", 56) == 48);    // DB says /64: its /48 is all one class
    CHECK(scope("2001:db8:2:1::", 64) == 48);  // gdnsd
    CHECK(scope("2001:db8:1::", 48) == 47);
    CHECK(scope("::ffff:127.1.0.1", 128) == 111);  // mapped: in IPv6 terms (gdnsd)
    CHECK(scope("192.0.2.0", 24) == 6);            // gdnsd
    CHECK(scope("10.1.2.0", 24) == 2);             // not in the DB: the default's class (gdnsd)
    CHECK(scope("81.2.69.0", 24) == 24);           // widened MaxMind probe: data for the /24
    for (const char* a : {"127.1.0.1", "127.10.0.1", "2001:db8:2::", "::ffff:127.1.0.1",
                          "192.0.2.0", "10.1.2.0", "81.2.69.0", "2001:db8:1::"}) {
        INFO(a);
        CHECK(scope(a, 24) == oracle_scope(steering, fleet, *test_db(), a));
    }
}

TEST_CASE("GeoSteering: the precomputed table against the per-address path") {
    const bool flat = GENERATE(false, true);
    const Fleet fleet = simple_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const auto db = test_db(flat);
    const std::size_t dflt = GENERATE(kUsEast, kApNortheast);
    const GeoSteering steering(fleet, health, db, Nets{}, dflt, names);
    CHECK(steering.classes() >= 3);
    std::mt19937 gen(7);
    std::vector<std::string> addrs;
    for (int i = 0; i < 300; ++i) {
        const auto r = gen();
        switch (i % 5) {
            case 0:
                addrs.push_back(ip::address_v4(0x7f000000u | (r & 0x0fffffu)).to_string());
                break;
            case 1:
                addrs.push_back(ip::address_v4(static_cast<std::uint32_t>(r)).to_string());
                break;
            case 2:
                addrs.push_back("2001:db8:" + std::to_string(r % 8) + ":" + std::to_string(r % 3) +
                                "::" + std::to_string(r % 999));
                break;
            case 3:
                addrs.push_back("::ffff:" +
                                ip::address_v4(0x7f000000u | (r & 0x0fffffu)).to_string());
                break;
            default: addrs.push_back("2001:db8:" + std::to_string(r % 7) + "::"); break;
        }
    }
    for (const auto& a : addrs) {
        INFO((flat ? "flat " : "geoip2 ") << a << " default " << dflt);
        const auto c = client(a);
        const auto placed = steering.place(c.address);
        REQUIRE(placed);
        const auto ans = steering.steer(names[0], c);
        const auto want = oracle_order(fleet, steering.locate(c));
        CHECK(regions_of(fleet, ans) == std::vector<std::string>{fleet.regions[want[0]].id});
        CHECK(int{ans.scope_prefix} == oracle_scope(steering, fleet, *db, a));
    }
}

TEST_CASE("GeoSteering: a region with every edge down fails over to the next region") {
    const Fleet fleet = weighted_fleet();
    HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 2)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    const auto chicago = client("127.1.0.1");
    auto a = steering.steer(names[0], chicago);
    CHECK(regions_of(fleet, a) == std::vector<std::string>{"us-east", "us-east"});
    health.set(0, false);
    a = steering.steer(names[0], chicago);
    CHECK(v4s(a) == "127.10.0.11");  // only the healthy one, not padded from elsewhere
    health.set(1, false);
    a = steering.steer(names[0], chicago);
    CHECK_FALSE(a.fail_open);
    CHECK(v4s(a) == "127.10.0.2");
    // eu-central has no IPv6: IPv6 comes from the nearest region that has it.
    CHECK(v6s(a) == "2001:db8:e::3");
    CHECK(a.scope_prefix == 15);  // merged with 127.0/16 (not in the DB: us-east first too)
}

TEST_CASE("GeoSteering: every candidate down fails open, nearest first, then recovers") {
    const Fleet fleet = weighted_fleet();
    HealthTable health(fleet.edges.size());
    cdn::MetricsRegistry registry;
    GeoSteeringMetrics metrics(registry);
    const std::vector<Steered> names{name(0, 2), name(1, 1, {"euc1-a", "apne1-a"})};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names, &metrics);
    for (std::size_t e = 0; e < fleet.edges.size(); ++e)
        health.set(e, false);
    const auto seoul = client("127.3.0.1");
    for (int i = 0; i < 3; ++i) {
        const auto a = steering.steer(names[0], seoul);
        CHECK(a.fail_open);
        CHECK(a.scope_prefix == 0);
        CHECK(v4s(a) == "127.10.0.3,127.10.0.2,127.10.0.1,127.10.0.11");
        CHECK(v6s(a) == "2001:db8:e::3,2001:db8:e::1,2001:db8:e::11");
    }
    auto a = steering.steer(names[1], seoul);
    CHECK(a.fail_open);
    CHECK(v4s(a) == "127.10.0.3,127.10.0.2");
    CHECK(metrics.fail_open.value() == 4);
    // Only name 1's candidates matter for name 1.
    health.set(0, true);
    CHECK(steering.steer(names[1], seoul).fail_open);
    a = steering.steer(names[0], seoul);
    CHECK_FALSE(a.fail_open);
    CHECK(v4s(a) == "127.10.0.1");
    health.set(3, true);
    a = steering.steer(names[1], seoul);
    CHECK_FALSE(a.fail_open);
    CHECK(v4s(a) == "127.10.0.3");
    CHECK(metrics.fail_open.value() == 5);
    const auto text = registry.render();
    CHECK_THAT(text, Catch::Contains("cdn_geodns_fail_open_total 5"));
    CHECK_THAT(text, Catch::Contains(R"(cdn_geodns_answers_total{region="ap-northeast"} 6)"));
    CHECK_THAT(text, Catch::Contains(R"(cdn_geodns_answers_total{region="us-east"} 1)"));
    CHECK_THAT(text, Catch::Contains(R"(cdn_geodns_geo_lookups_total{result="db"} 7)"));
}

TEST_CASE("GeoSteering: fail open is capped per family") {
    Fleet fleet = regions();
    for (int i = 0; i < 12; ++i) {
        const std::string v4 = "127.10.1." + std::to_string(i + 1);
        fleet.edges.push_back(edge("e" + std::to_string(i), static_cast<std::size_t>(i % 3), fleet,
                                   {v4.c_str()}, {}));
    }
    HealthTable health(fleet.edges.size());
    for (std::size_t e = 0; e < fleet.edges.size(); ++e)
        health.set(e, false);
    const std::vector<Steered> names{name(0, 2)};
    const GeoSteering steering(fleet, health, nullptr, Nets{}, std::nullopt, names);
    const auto a = steering.steer(names[0], client("127.1.0.1"));
    CHECK(a.fail_open);
    CHECK(a.v4.size() == GeoSteering::kFailOpenCap);
    CHECK(a.v6.empty());
}

TEST_CASE("GeoSteering: weights spread the first position") {
    const Fleet fleet = weighted_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1), name(1, 2)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    GeoSteering::seed_thread_rng(42);
    const auto chicago = client("127.1.0.1");
    constexpr int kRounds = 20000;
    int heavy = 0, heavy6 = 0;
    for (int i = 0; i < kRounds; ++i) {
        const auto a = steering.steer(names[0], chicago);
        REQUIRE(a.v4.size() == 1);
        heavy += a.v4[0] == ip::make_address_v4("127.10.0.11");
        heavy6 += a.v6[0] == ip::make_address_v6("2001:db8:e::11");
    }
    // weight 3 vs 1: 75% first; 4 sigma of a binomial(20000, 0.75) is ~1.2%.
    CHECK(heavy / double(kRounds) == Approx(0.75).margin(0.015));
    CHECK(heavy6 / double(kRounds) == Approx(0.75).margin(0.015));
    // count 2: both edges every time, the heavy one first about 3/4 of the time.
    int first = 0;
    for (int i = 0; i < kRounds; ++i) {
        const auto a = steering.steer(names[1], chicago);
        REQUIRE(a.v4.size() == 2);
        CHECK(a.v4[0] != a.v4[1]);
        first += a.v4[0] == ip::make_address_v4("127.10.0.11");
    }
    CHECK(first / double(kRounds) == Approx(0.75).margin(0.015));
    // The same seed gives the same sequence.
    GeoSteering::seed_thread_rng(7);
    std::string one, two;
    for (int i = 0; i < 16; ++i)
        one += v4s(steering.steer(names[1], chicago));
    GeoSteering::seed_thread_rng(7);
    for (int i = 0; i < 16; ++i)
        two += v4s(steering.steer(names[1], chicago));
    CHECK(one == two);
}

TEST_CASE("GeoSteering: IPv6 answers and per-family nearest regions") {
    const Fleet fleet = weighted_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 4)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    // Berlin over IPv6: A from eu-central, AAAA from us-east (eu-central has no IPv6).
    auto a = steering.steer(names[0], client("2001:db8:2::1", 56, true));
    CHECK(v4s(a) == "127.10.0.2");
    CHECK(a.v6.size() == 2);
    CHECK(regions_of(fleet, a) == std::vector<std::string>{"eu-central"});
    CHECK(a.scope_prefix == 48);  // narrower than the source is fine (RFC 7871 7.2.1)
    a = steering.steer(names[0], client("2001:db8:3::1"));
    CHECK(v6s(a) == "2001:db8:e::3");
    CHECK(a.scope_prefix == 48);
}

TEST_CASE("GeoSteering: a name restricted to some edges") {
    const Fleet fleet = weighted_fleet();
    HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(3, 2, {"euc1-a", "apne1-a"}), name(5, 2, {"use1-b"})};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    auto a = steering.steer(names[0], client("127.1.0.1"));  // Chicago: us-east not allowed
    CHECK(v4s(a) == "127.10.0.2");
    CHECK(v6s(a) == "2001:db8:e::3");
    CHECK(a.scope_prefix == 15);
    // One region only: every client gets the same answer, scope /0.
    a = steering.steer(names[1], client("127.3.0.1"));
    CHECK(v4s(a) == "127.10.0.11");
    CHECK(a.scope_prefix == 0);
    health.set(2, false);
    a = steering.steer(names[0], client("127.1.0.1"));
    CHECK(v4s(a) == "127.10.0.3");

    const std::vector<Steered> unknown{name(0, 1, {"nope"})};
#ifdef NDEBUG
    CHECK_THROWS_WITH(GeoSteering(fleet, health, nullptr, Nets{}, std::nullopt, unknown),
                      Catch::Contains("nope"));
#endif
    const std::vector<Steered> twice{name(0, 1), name(0, 1)};
    CHECK_THROWS_AS(GeoSteering(fleet, health, nullptr, Nets{}, std::nullopt, twice),
                    std::invalid_argument);
}

TEST_CASE("GeoSteering: an edge with its own coordinates pulls its region closer") {
    Fleet fleet = regions();
    fleet.edges.push_back(edge("use1", kUsEast, fleet, {"127.10.0.1"}, {}));
    fleet.edges.push_back(edge("apne1", kApNortheast, fleet, {"127.10.0.3"}, {}));
    fleet.edges.push_back(edge("usw-in-use", kUsEast, fleet, {"127.10.0.9"}, {}));
    fleet.edges.back().latitude = 34.05;  // Los Angeles
    fleet.edges.back().longitude = -118.24;
    HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, std::nullopt, names);
    // Honolulu: LA (4,100 km) is nearer than Seoul (7,312 km).
    CHECK(regions_of(fleet, steering.steer(names[0], client("127.6.0.1"))) ==
          std::vector<std::string>{"us-east"});
}

namespace {

// The region ids of the v6 answer's addresses (regions_of is the v4 one).
std::vector<std::string> regions_of6(const Fleet& f, const SteeringAnswer& a) {
    std::vector<std::string> out;
    for (const auto& addr : a.v6) {
        for (const auto& e : f.edges) {
            if (std::find(e.v6.begin(), e.v6.end(), addr) != e.v6.end()) {
                out.push_back(f.regions[e.region].id);
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("GeoSteering: last_resort adds one address from the next-nearest healthy region") {
    // weighted_fleet: use1-a 127.10.0.1 (0), use1-b 127.10.0.11 (1, weight 3), euc1-a 127.10.0.2
    // (2, no IPv6), apne1-a 127.10.0.3 (3). Chicago is nearest us-east, then eu-central, then
    // ap-northeast; Seoul ap-northeast, eu-central, us-east; Berlin eu-central, us-east,
    // ap-northeast.
    struct Row {
        const char* what;
        const char* client;
        std::vector<std::size_t> down;  // edge indices
        bool last_resort;
        unsigned count;
        std::vector<std::string> edges;  // the name's edge subset (empty: all)
        std::vector<std::string> v4_regions;
        std::vector<std::string> v6_regions;
        bool fail_open = false;
    };
    const std::string us = "us-east", eu = "eu-central", ap = "ap-northeast";
    const std::vector<Row> rows{
        {"off: the nearest region only", "127.1.0.1", {}, false, 2, {}, {us, us}, {us, us}},
        {"on: the nearest region, then the next",
         "127.1.0.1",
         {},
         true,
         2,
         {},
         {us, us, eu},
         {us, us, ap}},  // eu-central has no IPv6: the next region that has it
        {"on, count 1", "127.1.0.1", {}, true, 1, {}, {us, eu}, {us, ap}},
        {"on, count above the region's edges: not padded",
         "127.1.0.1",
         {},
         true,
         4,
         {},
         {us, us, eu},
         {us, us, ap}},
        {"on, one edge of the region down", "127.1.0.1", {0}, true, 2, {}, {us, eu}, {us, ap}},
        {"on, the next region down: the one after it",
         "127.1.0.1",
         {2},
         true,
         2,
         {},
         {us, us, ap},
         {us, us, ap}},
        {"on, the nearest region down: answered from the next, last resort after it",
         "127.1.0.1",
         {0, 1},
         true,
         2,
         {},
         {eu, ap},
         {ap}},
        {"on, one healthy edge in all: no last resort",
         "127.1.0.1",
         {0, 1, 2},
         true,
         2,
         {},
         {ap},
         {ap}},
        {"on, Seoul", "127.3.0.1", {}, true, 2, {}, {ap, eu}, {ap, us}},
        {"on, Berlin", "127.2.0.1", {}, true, 2, {}, {eu, us}, {us, us, ap}},
        {"on, a name restricted to two regions",
         "127.1.0.1",
         {},
         true,
         2,
         {"euc1-a", "apne1-a"},
         {eu, ap},
         {ap}},
        {"on, a name restricted to one region: nothing farther",
         "127.1.0.1",
         {},
         true,
         2,
         {"use1-a", "use1-b"},
         {us, us},
         {us, us}},
        {"on, every edge down: fail open as without it",
         "127.1.0.1",
         {0, 1, 2, 3},
         true,
         2,
         {},
         {us, us, eu, ap},
         {us, us, ap},
         true},
    };
    const Fleet fleet = weighted_fleet();
    cdn::set_log_level(cdn::LogLevel::error);  // fail open: quiet
    for (const Row& row : rows) {
        INFO(row.what);
        HealthTable health(fleet.edges.size());
        for (const std::size_t e : row.down)
            health.set(e, false);
        Steered s = name(0, row.count, row.edges);
        s.last_resort = row.last_resort;
        const std::vector<Steered> names{s};
        const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
        for (int i = 0; i < 8; ++i) {  // the weighted draws vary; the regions do not
            const auto a = steering.steer(names[0], client(row.client));
            CHECK(a.fail_open == row.fail_open);
            CHECK(regions_of(fleet, a) == row.v4_regions);
            CHECK(regions_of6(fleet, a) == row.v6_regions);
            // The last resort never repeats an address of the answer.
            for (std::size_t x = 0; x < a.v4.size(); ++x)
                for (std::size_t y = x + 1; y < a.v4.size(); ++y)
                    CHECK(a.v4[x] != a.v4[y]);
        }
    }
    cdn::set_log_level(cdn::LogLevel::info);
}

TEST_CASE("GeoSteering: last_resort keeps the ECS scope and spreads by weight") {
    const Fleet fleet = weighted_fleet();
    const HealthTable health(fleet.edges.size());
    Steered on = name(0, 1);
    on.last_resort = true;
    const std::vector<Steered> names{name(1, 1), on};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    GeoSteering::seed_thread_rng(11);
    const auto berlin = client("127.2.0.1", 24, true);
    CHECK(steering.steer(names[1], berlin).scope_prefix ==
          steering.steer(names[0], berlin).scope_prefix);
    // Berlin's last resort is us-east: use1-b (weight 3) about 3/4 of the time.
    constexpr int kRounds = 4000;
    int heavy = 0;
    for (int i = 0; i < kRounds; ++i) {
        const auto a = steering.steer(names[1], berlin);
        REQUIRE(a.v4.size() == 2);
        CHECK(a.v4[0] == ip::make_address_v4("127.10.0.2"));
        heavy += a.v4[1] == ip::make_address_v4("127.10.0.11");
    }
    // 4 sigma of a binomial(4000, 0.75) is ~2.7%.
    CHECK(heavy / double(kRounds) == Approx(0.75).margin(0.03));
}

TEST_CASE("GeoSteering: steer_only picks only the families asked for") {
    const Fleet fleet = weighted_fleet();
    const HealthTable health(fleet.edges.size());
    const std::vector<Steered> names{name(0, 1)};
    const GeoSteering steering(fleet, health, test_db(), Nets{}, kUsEast, names);
    const auto berlin = client("127.2.0.1");
    const auto both = steering.steer(names[0], berlin);
    const auto v4 = steering.steer_only(names[0], berlin, Steering::Families::v4);
    const auto v6 = steering.steer_only(names[0], berlin, Steering::Families::v6);
    CHECK(v4s(v4) == v4s(both));
    CHECK(v4.v6.empty());
    CHECK(v6.v4.empty());
    // eu-central has no IPv6: from us-east, whose two edges are drawn by weight.
    CHECK(v6.v6.size() == 1);
    CHECK((v6s(v6) == "2001:db8:e::1" || v6s(v6) == "2001:db8:e::11"));
    CHECK(v4.scope_prefix == both.scope_prefix);
    CHECK(v6.scope_prefix == both.scope_prefix);
}

TEST_CASE("AnswerAddresses: copies and assignments hold the same addresses", "[geodns][steering]") {
    // Only the items pushed are constructed (issue 19); copies must carry exactly those.
    AnswerAddresses<ip::address_v6> a{ip::make_address_v6("2001:db8::1"),
                                      ip::make_address_v6("2001:db8::2")};
    const AnswerAddresses<ip::address_v6> b = a;  // copy
    REQUIRE(b.size() == 2);
    CHECK(b[0] == ip::make_address_v6("2001:db8::1"));
    CHECK(b[1] == ip::make_address_v6("2001:db8::2"));
    CHECK(b == a);
    AnswerAddresses<ip::address_v6> c{ip::make_address_v6("::1")};
    c = b;  // assignment replaces
    CHECK(c == b);
    const AnswerAddresses<ip::address_v6>& same = c;
    c = same;  // self-assignment keeps it
    CHECK(c.size() == 2);
    a.clear();
    CHECK(a.empty());
    CHECK(b.size() == 2);  // the copy is independent
    SteeringAnswer answer;
    answer.v4.push_back(ip::make_address_v4("192.0.2.1"));
    const SteeringAnswer moved = std::move(answer);
    REQUIRE(moved.v4.size() == 1);
    CHECK(moved.v4.front() == ip::make_address_v4("192.0.2.1"));
    CHECK(moved.v6.empty());
}
