// Purges applied through the edge's admin port (POST /purge): what each kind removes, soft
// against hard, and a purge that arrives while a fill is on its way. (Purges through purge_api,
// across several edges, are in purge_e2e_test.cpp.)
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace cdn::test;

namespace {

// The admin purge needs a token ([admin] purge_token; tests/hostile/admin_purge_test.cpp has
// what happens without one).
constexpr const char* kAdminToken = "edge-admin-token-0123456789";
const std::string kAdminToml = std::string("[admin]\npurge_token = \"") + kAdminToken + "\"\n";

Response purge(Edge& edge, const std::string& body) {
    HttpClient c(edge.admin_port());
    return c.request("POST", "/purge",
                     {{"Content-Type", "application/json"},
                      {"Authorization", std::string("Bearer ") + kAdminToken}},
                     body);
}

std::string cache_of(Edge& edge, const std::string& target, const Headers& h = {}) {
    return header(http_get(edge.port(), target, h), "X-Cache");
}

}  // namespace

TEST_CASE("admin purge: each kind removes what it names and nothing else", "[edge][purge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), kAdminToml);
    const std::string host = "localhost";  // the Host the test client sends
    const std::vector<std::string> urls = {"/img/a.png?tags=red", "/img/b.png?tags=red,blue",
                                           "/css/c.css?tags=blue", "/d.txt"};
    auto warm = [&] {
        for (const auto& u : urls) {
            http_get(edge.port(), u);
            // The fill stores the object just after the client has its last byte.
            REQUIRE(eventually([&] { return cache_of(edge, u) == "HIT"; }));
        }
    };
    auto states = [&] {
        std::vector<std::string> out;
        for (const auto& u : urls)
            out.push_back(cache_of(edge, u));
        return out;
    };
    using V = std::vector<std::string>;
    warm();
    CHECK(purge(edge, R"({"files":["http://)" + host + R"(/d.txt"]})").result_int() == 200);
    CHECK(states() == V{"HIT", "HIT", "HIT", "MISS"});
    warm();
    CHECK(purge(edge, R"({"prefixes":[")" + host + R"(/img/"]})").result_int() == 200);
    CHECK(states() == V{"MISS", "MISS", "HIT", "HIT"});
    warm();
    CHECK(purge(edge, R"({"tags":["blue"]})").result_int() == 200);
    CHECK(states() == V{"HIT", "MISS", "MISS", "HIT"});
    warm();
    CHECK(purge(edge, R"({"hosts":["other.example"]})").result_int() == 200);
    CHECK(states() == V{"HIT", "HIT", "HIT", "HIT"});
    CHECK(purge(edge, R"({"purge_everything":true})").result_int() == 200);
    CHECK(states() == V{"MISS", "MISS", "MISS", "MISS"});
    // Bad bodies: a clear 400, nothing purged.
    warm();
    for (const char* bad : {"{", R"({"tags":[]})", R"({"tags":["a"],"hosts":["b"]})",
                            R"({"files":["no-scheme/x"]})", R"({"colour":"red"})"}) {
        const auto r = purge(edge, bad);
        CHECK(r.result_int() == 400);
        CHECK(r.body().find("\"success\":false") != std::string::npos);
    }
    CHECK(states() == V{"HIT", "HIT", "HIT", "HIT"});
}

TEST_CASE("admin purge: every Vary variant of a URL goes", "[edge][purge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), kAdminToml);
    const std::string u = "/v.js?vary=Accept-Encoding";
    const Headers gz{{"Accept-Encoding", "gzip"}}, br{{"Accept-Encoding", "br"}};
    http_get(edge.port(), u, gz);
    http_get(edge.port(), u, br);
    REQUIRE(eventually([&] { return cache_of(edge, u, gz) == "HIT"; }));
    REQUIRE(eventually([&] { return cache_of(edge, u, br) == "HIT"; }));
    REQUIRE(purge(edge, R"({"files":["http://localhost)" + u + R"("]})").result_int() == 200);
    CHECK(cache_of(edge, u, gz) == "MISS");
    CHECK(cache_of(edge, u, br) == "MISS");
}

TEST_CASE("admin purge: soft marks stale (revalidated), hard removes", "[edge][purge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), kAdminToml);
    http_get(edge.port(), "/s?tags=t");
    REQUIRE(eventually([&] { return cache_of(edge, "/s?tags=t") == "HIT"; }));
    purge(edge, R"({"tags":["t"],"soft":true})");
    CHECK(cache_of(edge, "/s?tags=t") == "REVALIDATED");
    CHECK(cache_of(edge, "/s?tags=t") == "HIT");
    purge(edge, R"({"tags":["t"]})");
    CHECK(cache_of(edge, "/s?tags=t") == "MISS");
}

// Regression: an object took its insertion sequence when the origin's response arrived, so a
// purge sent while the fetch was under way did not cover what the fetch then stored.
TEST_CASE("admin purge: a purge during a slow fill covers what the fill stores", "[edge][purge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), kAdminToml);
    const std::string u = "/slow?delay=600ms";
    auto first = std::async(std::launch::async, [&] { return http_get(edge.port(), u); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the fetch is under way
    REQUIRE(purge(edge, R"({"purge_everything":true})").result_int() == 200);
    CHECK(header(first.get(), "X-Cache") == "MISS");
    CHECK(cache_of(edge, u) == "MISS");
}
