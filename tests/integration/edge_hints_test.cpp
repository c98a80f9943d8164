// Issue 18: HEAD revalidation of a stored GET, edge-generated 103 Early Hints, and
// Expect: 100-continue, against a real edge and a real origin_sim.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("a HEAD revalidates a stale stored GET with a conditional HEAD and keeps its body",
          "[edge][head][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient client(edge.port());
    const std::string t = "/head.html?cc=max-age%3D2";
    auto first = client.get(t);
    REQUIRE(header(first, "X-Cache") == "MISS");
    std::this_thread::sleep_for(2100ms);  // stale now

    auto head = client.request("HEAD", t);
    CHECK(head.result_int() == 200);
    CHECK(header(head, "X-Cache") == "REVALIDATED");
    CHECK_THAT(header(head, "Cache-Status"), Contains("detail=\"head\""));
    CHECK(header(head, "Content-Length") == "1024");
    CHECK(header(head, "ETag") == header(first, "ETag"));
    CHECK(origin.method_count("HEAD") == 1);  // not a GET
    CHECK(origin.not_modified(t) == 1);       // conditional: answered 304
    CHECK(origin.count(t) == 2);

    // The stored GET was refreshed: fresh again, its body kept, no further origin request.
    auto get = client.get(t);
    CHECK(header(get, "X-Cache") == "HIT");
    CHECK(header(get, "Cache-Control") == "max-age=2");
    CHECK(std::stoi(header(get, "Age")) < 2);
    CHECK(get.body() == first.body());
    CHECK(origin.count(t) == 2);
    CHECK(origin.method_count("GET") == 1);
}

TEST_CASE("a HEAD after a deploy invalidates the stored GET", "[edge][head][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient client(edge.port());
    const std::string t = "/deploy.html?cc=max-age%3D2";
    auto first = client.get(t);
    REQUIRE(header(first, "X-Cache") == "MISS");
    HttpClient admin(origin.port());
    REQUIRE(admin.request("POST", "/_version").result_int() == 200);
    std::this_thread::sleep_for(2100ms);

    auto head = client.request("HEAD", t);
    CHECK(head.result_int() == 200);
    CHECK(header(head, "X-Cache") == "EXPIRED");
    CHECK_THAT(header(head, "Cache-Status"), Contains("head-invalidated"));
    CHECK(header(head, "ETag") != header(first, "ETag"));
    CHECK(header(head, "Content-Length") == "1024");
    CHECK(head.body().empty());
    CHECK(origin.method_count("HEAD") == 1);

    // Gone from the cache: the next GET fetches the new version in full.
    auto get = client.get(t);
    CHECK(header(get, "X-Cache") == "MISS");
    CHECK(header(get, "ETag") == header(head, "ETag"));
    CHECK(get.body() == cdn::origin_sim::make_body("/deploy.html", 2, 1024));
    CHECK(origin.method_count("GET") == 2);
    CHECK(origin.not_modified(t) == 0);
}
