// The fleet geodns serves from its static [[edges]] and the registry's listing (pure merge), and
// the health table's choice for registered newcomers (up at once; static newcomers start down).
#include "geodns/registry/fleet_merge.hpp"
#include "geodns/health/edge_health.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::geodns;
using Catch::Matchers::Contains;

namespace {

Fleet static_fleet() {
    Fleet f;
    f.regions.push_back(Region{"us-east", 39, -77});
    f.regions.push_back(Region{"eu-central", 50, 8});
    EdgeInfo e;
    e.id = "use1";
    e.region = 0;
    e.latitude = 39;
    e.longitude = -77;
    e.v4.push_back(boost::asio::ip::make_address_v4("127.10.0.1"));
    e.health_url = "http://127.10.0.1:8081/healthz";
    f.edges.push_back(e);
    return f;
}

registration::RegisteredEdge registered(const std::string& id, const std::string& region,
                                        const std::string& ip) {
    registration::RegisteredEdge e;
    e.reg.id = id;
    e.reg.instance = "i-" + id;
    e.reg.region = region;
    e.reg.ipv4 = {ip};
    e.reg.http = "http://" + ip + ":8080";
    e.reg.admin = "http://" + ip + ":8081";
    return e;
}

}  // namespace

TEST_CASE("registry merge: registered edges join, override, create regions, or are skipped",
          "[geodns][registry]") {
    registration::RegistryListing l;
    l.edges.push_back(registered("euc1", "eu-central", "127.20.0.1"));
    auto over = registered("use1", "us-east", "127.20.0.2");  // overrides the static one
    over.reg.weight = 3;
    l.edges.push_back(over);
    auto newregion = registered("syd1", "ap-southeast", "127.20.0.3");
    newregion.reg.latitude = -33.9;
    newregion.reg.longitude = 151.2;
    l.edges.push_back(newregion);
    l.edges.push_back(registered("nowhere", "mars", "127.20.0.4"));  // no coordinates
    auto parent = registered("shield", "us-east", "127.20.0.5");
    parent.reg.role = "parent";
    l.edges.push_back(parent);
    auto noaddr = registered("noaddr", "us-east", "127.20.0.6");
    noaddr.reg.ipv4.clear();
    l.edges.push_back(noaddr);
    auto named = registered("named", "us-east", "127.20.0.7");
    named.reg.admin = "http://edge.example:8081";
    l.edges.push_back(named);

    const MergedFleet m = merge_fleet(static_fleet(), l);
    const Fleet& f = m.fleet;
    REQUIRE(f.edges.size() == 3);
    CHECK(f.edges[0].id == "use1");  // in place of the static one
    CHECK(f.edges[0].v4.at(0).to_string() == "127.20.0.2");
    CHECK(f.edges[0].weight == 3);
    CHECK(f.edges[0].health_url == "http://127.20.0.2:8081/healthz");
    CHECK(f.edges[1].id == "euc1");
    CHECK(f.regions[f.edges[1].region].id == "eu-central");
    CHECK(f.edges[1].latitude == 50);
    CHECK(f.edges[2].id == "syd1");
    REQUIRE(f.regions.size() == 3);
    CHECK(f.regions[2].id == "ap-southeast");
    CHECK(f.regions[2].latitude == Approx(-33.9));
    CHECK(m.registered == std::set<std::string, std::less<>>{"euc1", "syd1", "use1"});
    REQUIRE(m.skipped.size() == 4);
    CHECK_THAT(m.skipped[0], Contains("nowhere") && Contains("\"mars\""));
    CHECK_THAT(m.skipped[1], Contains("shield") && Contains("parent"));
    CHECK_THAT(m.skipped[2], Contains("noaddr") && Contains("no ipv4"));
    CHECK_THAT(m.skipped[3], Contains("named") && Contains("numeric"));

    // An empty listing is the static fleet.
    const MergedFleet none = merge_fleet(static_fleet(), {});
    CHECK(none.fleet.edges.size() == 1);
    CHECK(none.registered.empty());
}

TEST_CASE("registry merge: registered newcomers start up, static newcomers down",
          "[geodns][registry][health]") {
    MetricsRegistry registry;
    EdgeHealth health(registry);
    HttpCheckSettings settings;
    health.update(static_fleet(), settings, true);
    registration::RegistryListing l;
    l.edges.push_back(registered("euc1", "eu-central", "127.20.0.1"));
    const MergedFleet m = merge_fleet(static_fleet(), l);
    Fleet both = m.fleet;
    EdgeInfo extra = both.edges[0];
    extra.id = "static-new";
    both.edges.push_back(extra);
    auto t = health.update(both, settings, true, m.registered);
    REQUIRE(t->size() == 3);
    CHECK(t->up(0));        // stayed
    CHECK(t->up(1));        // registered: answered at once
    CHECK_FALSE(t->up(2));  // a static edge added by a reload: down until checked
    // A lapsed registration leaves the fleet (and its metrics).
    auto t2 = health.update(static_fleet(), settings, true);
    CHECK(t2->size() == 1);
    CHECK_THAT(registry.render(), !Contains("euc1"));
}
