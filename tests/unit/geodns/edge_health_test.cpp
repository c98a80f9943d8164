// geodns' health checks across reloads (no checks started here, so no I/O): an edge that stays
// keeps its state, one that arrives starts down (up at start-up), one that goes loses its
// metrics, and with checks off every edge counts as up.
#include "geodns/health/edge_health.hpp"

#include "common/config.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::geodns;
using Catch::Matchers::Contains;

namespace {

Fleet fleet_of(std::initializer_list<const char*> ids) {
    Fleet f;
    f.regions.push_back(Region{"us-east", 39, -77});
    f.regions.push_back(Region{"eu-central", 50, 8});
    unsigned n = 0;
    for (const char* id : ids) {
        EdgeInfo e;
        e.id = id;
        e.region = 0;
        e.v4.push_back(boost::asio::ip::make_address_v4("127.10.0." + std::to_string(++n)));
        e.health_url = "http://127.0.0.1:9/healthz";
        f.edges.push_back(std::move(e));
    }
    return f;
}

}  // namespace

TEST_CASE("edge health follows the fleet across reloads", "[geodns][health]") {
    MetricsRegistry registry;
    EdgeHealth health(registry);
    HttpCheckSettings settings;
    auto t1 = health.update(fleet_of({"a", "b"}), settings, true);
    REQUIRE(t1->size() == 2);
    CHECK(t1->up(0));  // at start-up every edge counts as up
    CHECK(t1->up(1));
    t1->set(1, false);  // what the checks would do: b is down

    // c arrives, a and b stay (in another order): b is still down, c starts down.
    auto t2 = health.update(fleet_of({"b", "c", "a"}), settings, true);
    REQUIRE(t2->size() == 3);
    CHECK(!t2->up(0));  // b
    CHECK(!t2->up(1));  // c: not answered before its checks pass
    CHECK(t2->up(2));   // a
    // The generations share the state: a flip shows in both.
    t2->set(2, false);
    CHECK(!t1->up(0));
    CHECK_THAT(registry.render(), Contains(R"(cdn_geodns_edge_up{edge="c",region="us-east"} 0)"));

    // a goes away: its metrics go with it; b moves region and is relabelled.
    Fleet moved = fleet_of({"b", "c"});
    moved.edges[0].region = 1;
    auto t3 = health.update(moved, settings, true);
    const std::string text = registry.render();
    CHECK_THAT(text, !Contains(R"(edge="a")"));
    CHECK_THAT(text, Contains(R"(cdn_geodns_edge_up{edge="b",region="eu-central"} 0)"));
    CHECK_THAT(text, !Contains(R"(edge="b",region="us-east")"));
    CHECK_THAT(
        text,
        Contains(R"(cdn_geodns_health_transitions_total{edge="c",region="us-east",to="up"})"));

    // Checks off: every edge counts as up, new ones too.
    auto t4 = health.update(fleet_of({"b", "c", "d"}), settings, false);
    CHECK(t4->up(0));
    CHECK(t4->up(1));
    CHECK(t4->up(2));
}

TEST_CASE("a fleet with a bad health URL changes nothing", "[geodns][health]") {
    MetricsRegistry registry;
    EdgeHealth health(registry);
    auto t1 = health.update(fleet_of({"a"}), HttpCheckSettings{}, true);
    t1->set(0, false);
    Fleet bad = fleet_of({"a", "b"});
    bad.edges[1].health_url = "http://edge.example/healthz";
    CHECK_THROWS_AS(health.update(bad, HttpCheckSettings{}, true), ConfigError);
    auto t2 = health.update(fleet_of({"a"}), HttpCheckSettings{}, true);
    CHECK(!t2->up(0));
    CHECK_THAT(registry.render(), !Contains(R"(edge="b")"));
}
