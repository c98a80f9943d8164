// geodns health failover with real edges: three edge processes (one per region) checked by
// geodns over HTTP; killing the Seoul edge moves Seoul's clients to the next nearest region,
// restarting it brings them back, and with every edge down geodns fails open.
#include "tests/integration/geodns_fixture.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

std::unique_ptr<Process> start_edge(const TempDir& dir, int i, const std::string& admin) {
    const std::string addr = "127.10.0." + std::to_string(i + 1);
    return std::make_unique<Process>(
        std::vector<std::string>{EDGE_BIN, "--listen", addr + ":0", "--admin", admin, "--origin",
                                 "http://127.0.0.1:9", "--name", "edge" + std::to_string(i),
                                 "--threads", "1", "--no-access-log"},
        (dir.path() / ("edge" + std::to_string(i) + ".log")).string());
}

}  // namespace

TEST_CASE("geodns: a dead region's clients move to the next nearest and come back",
          "[geodns][failover]") {
    TempDir dir;
    std::vector<std::unique_ptr<Process>> edges;
    std::vector<std::string> admins;
    for (int i = 0; i < 3; ++i) {
        edges.push_back(start_edge(dir, i, "127.10.0." + std::to_string(i + 1) + ":0"));
        const auto port = edges.back()->wait_for_port("admin on");
        admins.push_back("127.10.0." + std::to_string(i + 1) + ":" + std::to_string(port));
    }
    std::vector<std::string> urls;
    for (const auto& a : admins)
        urls.push_back("http://" + a + "/healthz");
    GeoDns dns(dir, geodns_config(urls));
    auto seoul = [&] { return dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "A"}); };
    CHECK(seoul() == std::vector<std::string>{"127.10.0.3"});

    // Seoul's edge dies: after fall (2) failed checks 200 ms apart, Seoul's clients get the next
    // nearest region (Frankfurt, 8,500 km, before Ashburn, 11,100 km).
    edges[2]->kill_hard();
    CHECK(eventually([&] { return seoul() == std::vector<std::string>{"127.10.0.2"}; }, 10s));
    dns.process().wait_for_log("geodns: edge apne1");
    CHECK_THAT(http_get(dns.admin_port(), "/v1/edges").body(),
               Contains(R"("id":"apne1","region":"ap-northeast")"));
    CHECK(dns.metric(R"(cdn_geodns_edge_up{edge="apne1",region="ap-northeast"})") == 0);
    CHECK(
        dns.metric(
            R"(cdn_geodns_health_transitions_total{edge="apne1",region="ap-northeast",to="down"})") ==
        1);

    // It comes back on the same admin address: after rise (2) good checks, Seoul is answered
    // by Seoul again.
    edges[2] = start_edge(dir, 2, admins[2]);
    edges[2]->wait_for_port("admin on");
    CHECK(eventually([&] { return seoul() == std::vector<std::string>{"127.10.0.3"}; }, 10s));

    // Every edge down: fail open with all of them, a short TTL and one log line.
    for (auto& e : edges)
        e->kill_hard();
    CHECK(eventually([&] { return seoul().size() == 3; }, 10s));
    auto all = seoul();
    std::sort(all.begin(), all.end());
    CHECK(all == std::vector<std::string>{"127.10.0.1", "127.10.0.2", "127.10.0.3"});
    const std::string answer = dig(dns.port(), {"+noall", "+answer", "www.cdn.example", "A"});
    CHECK_THAT(answer, Contains("\t5\tIN\tA"));
    CHECK(dns.metric("cdn_geodns_fail_open_total") >= 1);
}
