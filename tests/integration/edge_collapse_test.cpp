// Request collapsing: concurrent misses for one key cause one origin fetch; uncacheable
// responses release the waiters and turn on hit-for-pass; no key stays locked.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;

namespace {

struct Result {
    unsigned status = 0;
    std::string x_cache;
    std::string body;
};

// n clients request target at the same moment (each on its own connection).
std::vector<Result> concurrent_gets(std::uint16_t port, const std::string& target, int n) {
    std::vector<Result> results(static_cast<std::size_t>(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            try {
                auto r = http_get(port, target);
                results[static_cast<std::size_t>(i)] = {r.result_int(), std::string(r["X-Cache"]),
                                                        r.body()};
            } catch (const std::exception&) {
                // status 0 marks the failure
            }
        });
    }
    for (auto& t : threads)
        t.join();
    return results;
}

}  // namespace

TEST_CASE("concurrent misses for one key cause exactly one origin fetch", "[edge][collapse]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string t = "/hot.js?delay=500&size=100000";
    const auto results = concurrent_gets(edge.port(), t, 20);
    const std::string expected = cdn::origin_sim::make_body("/hot.js", 1, 100000);
    int misses = 0;
    for (const auto& r : results) {
        CHECK(r.status == 200);
        CHECK(r.body == expected);
        if (r.x_cache == "MISS") ++misses;
    }
    CHECK(misses == 1);
    CHECK(origin.count(t) == 1);
    CHECK(edge.metric("cdn_edge_collapsed_total") == 19);
    CHECK(edge.metric("cdn_edge_fills_inflight") == 0);
}

TEST_CASE("an uncacheable response releases the waiters, then hit-for-pass skips waiting",
          "[edge][collapse]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string t = "/mine?delay=300&cc=private";
    for (const auto& r : concurrent_gets(edge.port(), t, 8))
        CHECK(r.status == 200);
    CHECK(origin.count(t) == 8);  // nobody got another user's private response
    CHECK(edge.metric("cdn_edge_collapsed_total") == 0);
    for (const auto& r : concurrent_gets(edge.port(), t, 8))
        CHECK(r.status == 200);
    CHECK(origin.count(t) == 16);
    CHECK(edge.metric("cdn_edge_hit_for_pass_total") == 8);
}

TEST_CASE("a waiter gives up after collapse_timeout, a failing leader never locks the key",
          "[edge][collapse]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[cache]\ncollapse_timeout = \"200ms\"\n");
    const std::string slow = "/slow?delay=1500";
    for (const auto& r : concurrent_gets(edge.port(), slow, 4))
        CHECK(r.status == 200);
    CHECK(origin.count(slow) == 4);  // the three waiters fetched on their own

    const std::string broken = "/broken?fault=reset";
    for (const auto& r : concurrent_gets(edge.port(), broken, 6))
        CHECK(r.status == 502);
    CHECK(edge.metric("cdn_edge_fills_inflight") == 0);
    CHECK(http_get(edge.port(), broken).result_int() == 502);
    CHECK(http_get(edge.port(), "/fine-after").result_int() == 200);
}
