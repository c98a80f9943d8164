// Several origins per host: balancing, retries of idempotent requests on another origin, a
// circuit breaker that makes a dead origin fail fast, active health checks, and stale content
// when no origin is available.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

std::string group(const std::vector<std::string>& urls, const std::string& extra = "") {
    std::string toml = "[[origin]]\nhosts = [\"*\"]\nurls = [";
    for (std::size_t i = 0; i < urls.size(); ++i)
        toml += (i ? ", \"" : "\"") + urls[i] + "\"";
    return toml + "]\n" + extra;
}

std::string up_metric(const OriginSim& o) {
    return "cdn_edge_origin_up{origin=\"" + o.url() + "\"}";
}

}  // namespace

TEST_CASE("round robin spreads requests over the origins", "[edge][origins]") {
    TempDir dir;
    OriginSim a(dir), b(dir);
    Edge edge(dir, "", group({a.url(), b.url()}, "balance = \"round_robin\"\n"));
    HttpClient c(edge.port());
    for (int i = 0; i < 10; ++i)
        CHECK(c.get("/rr?cc=no-store").result_int() == 200);
    CHECK(a.count("/rr?cc=no-store") == 5);
    CHECK(b.count("/rr?cc=no-store") == 5);
}

TEST_CASE("a dead origin: idempotent requests retry elsewhere, then its breaker opens",
          "[edge][origins]") {
    TempDir dir;
    OriginSim a(dir), b(dir);
    Edge edge(
        dir, "",
        group({a.url(), b.url()},
              "retries = 1\n[origin.circuit_breaker]\nfailures = 2\nreset_timeout = \"60s\"\n"));
    const std::string a_metric = up_metric(a);
    a.process().terminate();
    HttpClient c(edge.port());
    for (int i = 0; i < 10; ++i)
        CHECK(c.get("/f?cc=no-store").result_int() == 200);
    CHECK(b.count("/f?cc=no-store") == 10);
    // Two failures opened the breaker; after that the dead origin is not even tried.
    CHECK(edge.metric("cdn_edge_origin_retries_total") == 2);
    CHECK(edge.metric(a_metric) == 0);
    CHECK(edge.metric(up_metric(b)) == 1);
}

TEST_CASE("non-idempotent requests are not retried", "[edge][origins]") {
    TempDir dir;
    OriginSim a(dir), b(dir);
    Edge edge(dir, "",
              group({a.url(), b.url()}, "retries = 1\n[origin.circuit_breaker]\nfailures = 100\n"));
    a.process().terminate();
    HttpClient c(edge.port());
    int failed = 0;
    for (int i = 0; i < 4; ++i)
        if (c.request("POST", "/order", {}, "x").result_int() == 502) ++failed;
    CHECK(failed >= 1);
    CHECK(b.count("/order") == static_cast<std::uint64_t>(4 - failed));
    CHECK(edge.metric("cdn_edge_origin_retries_total") == 0);
}

TEST_CASE("health checks take a failing origin out of rotation", "[edge][origins]") {
    TempDir dir;
    const std::string sick_cfg =
        dir.write("sick.toml", "[[object]]\npath = \"/health\"\nstatus = 503\n");
    OriginSim sick(dir, {"--config", sick_cfg});
    OriginSim well(dir);
    Edge edge(dir, "",
              group({sick.url(), well.url()},
                    "[origin.health_check]\npath = \"/health\"\ninterval = \"100ms\"\n"
                    "timeout = \"500ms\"\nfall = 1\nrise = 1\n"));
    REQUIRE(eventually([&] { return edge.metric(up_metric(sick)) == 0; }));
    CHECK(edge.metric(up_metric(well)) == 1);
    CHECK(edge.metric("cdn_edge_origin_health_transitions_total") >= 1);
    HttpClient c(edge.port());
    for (int i = 0; i < 6; ++i)
        CHECK(c.get("/after?cc=no-store").result_int() == 200);
    CHECK(sick.count("/after?cc=no-store") == 0);
    CHECK(well.count("/after?cc=no-store") == 6);
    CHECK_THAT(edge.process().log(), Contains("is down"));
}

TEST_CASE("no origin available: stale content if there is some, else a fast 503",
          "[edge][origins][stale]") {
    TempDir dir;
    OriginSim a(dir);
    Edge edge(dir, "",
              group({a.url()},
                    "[origin.health_check]\npath = \"/\"\ninterval = \"100ms\"\n"
                    "timeout = \"300ms\"\nfall = 1\n"));
    HttpClient c(edge.port());
    const auto body = c.get("/cached?cc=max-age%3D1").body();
    a.process().terminate();
    REQUIRE(eventually([&] { return edge.metric(up_metric(a)) == 0; }));
    std::this_thread::sleep_for(1100ms);  // let the cached copy go stale
    auto stale = c.get("/cached?cc=max-age%3D1");
    CHECK(stale.result_int() == 200);
    CHECK(std::string(stale["X-Cache"]) == "STALE");
    CHECK(stale.body() == body);
    auto none = c.get("/never-cached");
    CHECK(none.result_int() == 503);
    CHECK_THAT(std::string(none["Cache-Status"]), Contains("no-origin-available"));
}
