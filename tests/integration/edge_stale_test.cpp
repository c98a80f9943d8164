// Stale serving (RFC 5861): stale-while-revalidate never blocks a client; stale-if-error and the
// configured grace stand in for a failed origin, unless the origin forbade serving stale.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// Polls until pred() holds or the bound passes; returns whether it held.
}  // namespace

TEST_CASE("stale-while-revalidate answers at once and refreshes once in the background",
          "[edge][stale][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient client(edge.port());
    // The origin takes 1 s to answer (which counts toward the Age, RFC 9111 4.2.3), so each copy
    // is fresh for about 1 s of its 2 s max-age; then it may be served stale for 60 s while it
    // is refreshed.
    const std::string t = "/swr.js?cc=max-age%3D2%2C%20stale-while-revalidate%3D60&delay=1000";
    auto first = client.get(t);
    REQUIRE(header(first, "X-Cache") == "MISS");
    std::this_thread::sleep_for(2100ms);

    const auto start = std::chrono::steady_clock::now();
    auto stale = client.get(t);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(header(stale, "X-Cache") == "STALE");
    CHECK_THAT(header(stale, "Cache-Status"), Contains("stale-while-revalidate"));
    CHECK(stale.body() == first.body());
    CHECK(elapsed < 500ms);  // did not wait for the 1 s origin
    // More requests while the refresh is under way: still served stale, no second refresh.
    for (int i = 0; i < 5; ++i)
        CHECK(header(client.get(t), "X-Cache") == "STALE");

    CHECK(eventually([&] { return header(client.get(t), "X-Cache") == "HIT"; }));
    CHECK(origin.count(t) == 2);  // the first fill and exactly one refresh
}

TEST_CASE("a failed origin is covered by stale-if-error or grace, not past must-revalidate",
          "[edge][stale][slow]") {
    TempDir dir;
    auto origin = std::make_unique<OriginSim>(dir);
    Edge edge(dir, origin->url(), "[cache]\ngrace = \"1h\"\n");
    Edge strict(dir, origin->url(), "[cache]\ngrace = \"0s\"\n");
    HttpClient client(edge.port());
    HttpClient strict_client(strict.port());
    const std::string sie = "/sie?cc=max-age%3D1%2C%20stale-if-error%3D600";
    const std::string grace = "/grace?cc=max-age%3D1";
    const std::string must = "/must?cc=max-age%3D1%2C%20must-revalidate";
    const std::string no_cache = "/nocache?cc=no-cache";
    const auto sie_body = client.get(sie).body();
    const auto grace_body = client.get(grace).body();
    client.get(must);
    client.get(no_cache);
    strict_client.get(grace);
    strict_client.get(sie);

    origin->process().terminate();  // the origin is gone: connections are refused
    std::this_thread::sleep_for(2100ms);

    auto a = client.get(sie);
    CHECK(a.result_int() == 200);
    CHECK(header(a, "X-Cache") == "STALE");
    CHECK_THAT(header(a, "Cache-Status"), Contains("stale-if-error"));
    CHECK(a.body() == sie_body);
    auto b = client.get(grace);
    CHECK(b.result_int() == 200);
    CHECK(header(b, "X-Cache") == "STALE");
    CHECK(b.body() == grace_body);
    CHECK(client.get(must).result_int() == 502);
    CHECK(client.get(no_cache).result_int() == 502);
    // Without grace only the origin's own stale-if-error helps.
    CHECK(strict_client.get(grace).result_int() == 502);
    CHECK(strict_client.get(sie).result_int() == 200);
    CHECK(edge.metric("cdn_edge_requests_total{outcome=\"stale\"}") == 2);
}
