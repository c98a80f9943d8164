// Self-registration end to end, with real processes on loopback: edges register with purge_api
// (short leases), a second edge with a held id is refused on both sides and says who holds it,
// SIGTERM deregisters, SIGKILL lets the lease lapse; geodns learns a registered edge within 2 s,
// keeps the last fleet while purge_api is away, and forgets an edge whose lease lapsed.
#include "tests/integration/cluster.hpp"
#include "tests/integration/etcd_cluster.hpp"
#include "tests/integration/geodns_fixture.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace json = boost::json;

namespace {

constexpr const char* kOrigin = "http://127.0.0.1:9";  // never fetched here

// An edge with [purge] at `api` (a TOML value: "\"URL\"" or a list), the given id and [fleet]
// settings.
std::string edge_toml(const std::string& api, const std::string& id,
                      const std::string& fleet = "") {
    return "[purge]\napi = " + api + "\ntoken = \"" + kEdgeToken + "\"\nedge_id = \"" + id +
           "\"\n[fleet]\nregion = \"eu-central\"\n" + fleet;
}
std::string edge_toml(const PurgeApi& api, const std::string& id, const std::string& fleet = "") {
    return edge_toml("\"" + api.url() + "\"", id, fleet);
}

json::array registered(PurgeApi& api) {
    const Response r = api.get("/v1/registry", kEdgeToken);
    REQUIRE(r.result_int() == 200);
    return json::parse(r.body()).at("edges").as_array();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1))
        ++n;
    return n;
}

// geodns over the three test regions, no static edges, the fleet from the registry at `url` (a
// TOML value); edges are checked every 200 ms.
std::string geodns_registry_config(const std::string& url) {
    std::ostringstream c;
    c << "[server]\nthreads = 1\n\n[rrl]\nexempt = [\"127.0.0.0/8\"]\n\n";
    c << "[geo]\ndatabase = \"" << geodns_test_data("geodns-test.mmdb") << "\"\n"
      << "default_region = \"eu-central\"\n\n";
    c << "[health]\ninterval = \"200ms\"\ntimeout = \"1s\"\nrise = 2\nfall = 2\n\n";
    c << "[registry]\nurl = " << url << "\ntoken = \"" << kEdgeToken << "\"\nwait = \"10s\"\n\n";
    c << kTestRegions;
    c << R"(
[[zones]]
origin = "cdn.example"
ns = ["ns1"]

[zones.soa]
serial = 1

[[zones.records]]
name = "ns1"
type = "A"
values = ["127.0.0.53"]

[[zones.steered]]
name = "www"
ttl = "20s"
count = 4
)";
    return c.str();
}
std::string geodns_registry_config(const PurgeApi& api) {
    return geodns_registry_config("\"" + api.url() + "\"");
}

bool answers(GeoDns& dns, const std::string& address) {
    const auto a = dig_short(dns.port(), {"www.cdn.example", "A"});
    return std::find(a.begin(), a.end(), address) != a.end();
}

}  // namespace

TEST_CASE(
    "registry: an edge registers, a second one with its id is refused on both sides, "
    "SIGTERM deregisters",
    "[registry][integration]") {
    TempDir dir;
    PurgeApi api(dir, "[registry]\nlease_ttl = \"1s\"\n");
    Edge a(dir, kOrigin, edge_toml(api, "edge-x"));
    a.process().wait_for_log("registry: registered as edge-x");
    json::array edges = registered(api);
    REQUIRE(edges.size() == 1);
    const json::object& e = edges[0].as_object();
    CHECK(e.at("id").as_string() == "edge-x");
    CHECK(e.at("region").as_string() == "eu-central");
    CHECK(e.at("http").as_string() == "http://127.0.0.1:" + std::to_string(a.port()));
    CHECK(e.at("admin").as_string() == "http://127.0.0.1:" + std::to_string(a.admin_port()));
    CHECK(e.at("ipv4").as_array().at(0).as_string() == "127.0.0.1");
    const std::string holder(e.at("instance").as_string());
    CHECK(a.metric("cdn_edge_registered") == 1);
    CHECK(eventually([&] { return a.metric("cdn_edge_purge_stream_connected") == 1; }));
    // Reads need a token; an admin token may read too.
    CHECK(api.get("/v1/registry", "nope").result_int() == 401);
    CHECK(api.get("/v1/registry", kAdminToken).result_int() == 200);

    // Another edge configured with the same id (on other ports): refused, naming the holder, in
    // its registration and its purge stream, once each; the first keeps its stream.
    Edge b(dir, kOrigin, edge_toml(api, "edge-x"));
    const std::string refusal = b.process().wait_for_log("registry: ");
    b.process().wait_for_log("refused the id edge-x");
    b.process().wait_for_log("refused the stream of edge id edge-x (409)");
    std::this_thread::sleep_for(2500ms);  // several retries of both (lease 1 s, backoff)
    const std::string blog = b.process().log();
    CHECK_THAT(blog, Contains("instance " + holder) &&
                         Contains("http://127.0.0.1:" + std::to_string(a.port())));
    CHECK(count_of(blog, "refused the id edge-x") == 1);
    CHECK(count_of(blog, "refused the stream of edge id edge-x") == 1);
    CHECK(b.metric("cdn_edge_registered") == 0);
    CHECK(b.metric("cdn_edge_purge_stream_connected") == 0);
    CHECK(a.metric("cdn_edge_purge_stream_connected") == 1);
    CHECK(registered(api).at(0).at("instance").as_string() == holder);
    CHECK(api.metric(R"(cdn_purge_api_registry_events_total{event="refused"})") >= 2);
    CHECK(api.metric("cdn_purge_api_registry_edges") == 1);
    // The 409 itself, as an operator's curl sees it.
    {
        HttpClient c(api.port());
        const Response r = c.request(
            "PUT", "/v1/registry/edge-x", {{"Authorization", std::string("Bearer ") + kEdgeToken}},
            R"({"instance":"someone","http":"http://127.0.0.9:80","ipv4":["127.0.0.9"]})");
        CHECK(r.result_int() == 409);
        CHECK_THAT(r.body(), Contains(holder) && Contains("registered since"));
        const Response bad = c.request("PUT", "/v1/registry/edge-y",
                                       {{"Authorization", std::string("Bearer ") + kEdgeToken}},
                                       R"({"instance":"x","http":"http://h:1","weight":0})");
        CHECK(bad.result_int() == 400);
        CHECK_THAT(bad.body(), Contains("weight"));
    }

    // SIGTERM: the holder deregisters on its way out; the other edge takes the id and its
    // stream within a lease period or two.
    REQUIRE(a.process().terminate() == 0);
    CHECK_THAT(a.process().log(), Contains("registry: deregistered edge-x"));
    CHECK(api.metric(R"(cdn_purge_api_registry_events_total{event="deregister"})") == 1);
    REQUIRE(eventually([&] { return b.metric("cdn_edge_registered") == 1; }, 10s));
    CHECK(registered(api).at(0).at("http").as_string() ==
          "http://127.0.0.1:" + std::to_string(b.port()));
    CHECK(eventually([&] { return b.metric("cdn_edge_purge_stream_connected") == 1; }, 10s));
    (void)refusal;
}

TEST_CASE(
    "registry: geodns answers a registered edge within 2 s, keeps the fleet while "
    "purge_api is away, and drops a SIGKILLed edge once its lease lapses",
    "[registry][integration][geodns]") {
    TempDir dir;
    auto api = std::make_unique<PurgeApi>(dir, "[registry]\nlease_ttl = \"1s\"\n");
    const std::uint16_t api_port = api->port();
    const std::string data_dir = api->data_dir();
    GeoDns dns(dir, geodns_registry_config(*api));
    REQUIRE(eventually([&] { return dns.metric("cdn_geodns_registry_connected") == 1; }));
    CHECK_FALSE(answers(dns, "127.0.0.77"));

    Edge e(dir, kOrigin, edge_toml(*api, "reg-1", "advertise_ipv4 = [\"127.0.0.77\"]\n"));
    e.process().wait_for_log("registry: registered as reg-1");
    const auto registered_at = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return answers(dns, "127.0.0.77"); }, 5s));
    CHECK(std::chrono::steady_clock::now() - registered_at < 2s);
    CHECK(dns.metric("cdn_geodns_registry_edges") == 1);
    // Its health comes from its admin port: it stays up.
    std::this_thread::sleep_for(800ms);
    CHECK(answers(dns, "127.0.0.77"));

    // purge_api away: geodns keeps the last fleet (well past the lease) and says so once.
    REQUIRE(api->process().terminate() == 0);
    REQUIRE(eventually([&] { return dns.metric("cdn_geodns_registry_connected") == 0; }));
    std::this_thread::sleep_for(1500ms);
    CHECK(answers(dns, "127.0.0.77"));
    CHECK(count_of(dns.process().log(), "keeping the last known fleet") == 1);

    // Back on the same port and data: the registration was kept (its lease restarted).
    api = std::make_unique<PurgeApi>(dir, "[registry]\nlease_ttl = \"1s\"\n", data_dir,
                                     "127.0.0.1:" + std::to_string(api_port));
    REQUIRE(eventually([&] { return dns.metric("cdn_geodns_registry_connected") == 1; }, 10s));
    CHECK(answers(dns, "127.0.0.77"));

    // kill -9: no deregistration; the lease lapses and geodns stops answering the edge.
    e.process().kill_hard();
    REQUIRE(eventually([&] { return registered(*api).empty(); }, 5s));
    CHECK(eventually([&] { return !answers(dns, "127.0.0.77"); }, 3s));
    CHECK(dns.metric("cdn_geodns_registry_edges") == 0);
    CHECK(api->metric(R"(cdn_purge_api_registry_events_total{event="expire"})") == 1);
}

TEST_CASE(
    "registry: two purge_api instances on etcd share it, and an edge and geodns that know both "
    "move to the other when one dies",
    "[registry][integration][geodns][etcd]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 1);
    const std::string toml =
        "[registry]\nlease_ttl = \"2s\"\n\n[store]\nbackend = \"etcd\"\n"
        "etcd_endpoints = " +
        etcd.toml_endpoints() + "\netcd_prefix = \"/reg/\"\n";
    auto a = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "a").string());
    PurgeApi b(dir, toml, (dir.path() / "b").string());
    const std::string both = "[\"" + a->url() + "\", \"" + b.url() + "\"]";
    GeoDns dns(dir, geodns_registry_config(both));
    REQUIRE(eventually([&] { return dns.metric("cdn_geodns_registry_connected") == 1; }));

    // Registered through A (the first in its list): B lists it too.
    Edge e(dir, kOrigin, edge_toml(both, "reg-ha", "advertise_ipv4 = [\"127.0.0.78\"]\n"));
    e.process().wait_for_log("registry: registered as reg-ha with " + a->url());
    REQUIRE(eventually([&] { return answers(dns, "127.0.0.78"); }, 5s));
    CHECK(eventually([&] { return registered(b).size() == 1; }));

    // A dies: the edge renews on B, geodns reads B; the edge stays in the answers well past its
    // 2 s lease.
    a->process().kill_hard();
    CHECK(eventually(
        [&] {
            return dns.process().log().find("trying " + b.url()) != std::string::npos &&
                   dns.metric("cdn_geodns_registry_connected") == 1;
        },
        10s));
    std::this_thread::sleep_for(3s);
    CHECK(answers(dns, "127.0.0.78"));
    REQUIRE(registered(b).size() == 1);
    CHECK(registered(b).at(0).at("id").as_string() == "reg-ha");
    // A new edge registering with B is learned through B.
    Edge f(dir, kOrigin,
           edge_toml("\"" + b.url() + "\"", "reg-b", "advertise_ipv4 = [\"127.0.0.79\"]\n"));
    CHECK(eventually([&] { return answers(dns, "127.0.0.79"); }, 5s));
}
