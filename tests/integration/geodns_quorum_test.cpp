// Several health observers (geodns/README.md, "Several observers"): two geodns instances check
// the same real edges and fetch each other's verdicts. One of them is cut off from Seoul's edge
// (without network namespaces: its health URL for that edge is a dead port, so only its checks
// fail). One observer's "down" is not a quorum: both keep answering Seoul with Seoul. When the
// edge really dies both observers see it, and both drain it; when it comes back, both answer it
// again.
#include "tests/integration/geodns_fixture.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

std::unique_ptr<Process> start_edge(const TempDir& dir, int i, const std::string& admin) {
    const std::string addr = "127.10.0." + std::to_string(i + 1);
    return std::make_unique<Process>(
        std::vector<std::string>{EDGE_BIN, "--listen", addr + ":0", "--admin", admin, "--origin",
                                 "http://127.0.0.1:9", "--name", "quorum-edge" + std::to_string(i),
                                 "--threads", "1", "--no-access-log"},
        (dir.path() / ("edge" + std::to_string(i) + ".log")).string());
}

// geodns_config with the observer settings in its [health] table.
std::string observer_config(const std::vector<std::string>& urls, const std::string& observer,
                            const std::vector<std::uint16_t>& peer_admin_ports) {
    std::string config = geodns_config(urls);
    std::string peers;
    for (auto p : peer_admin_ports)
        peers += (peers.empty() ? "\"" : ", \"") + std::string("http://127.0.0.1:") +
                 std::to_string(p) + "\"";
    const std::string anchor = "fall = 2\n";
    const auto at = config.find(anchor);
    if (at == std::string::npos) throw std::logic_error("geodns_config has no [health] fall");
    config.insert(at + anchor.size(), "observer = \"" + observer + "\"\npeers = [" + peers + "]\n");
    return config;
}

}  // namespace

TEST_CASE("geodns: one observer cut off from an edge does not drain it, a quorum does",
          "[geodns][quorum]") {
    TempDir dir;
    std::vector<std::unique_ptr<Process>> edges;
    std::vector<std::string> urls;
    std::vector<std::string> admins;
    for (int i = 0; i < 3; ++i) {
        edges.push_back(start_edge(dir, i, "127.10.0." + std::to_string(i + 1) + ":0"));
        const auto port = edges.back()->wait_for_port("admin on");
        admins.push_back("127.10.0." + std::to_string(i + 1) + ":" + std::to_string(port));
        urls.push_back("http://" + admins.back() + "/healthz");
    }
    // Observer A is cut off from Seoul's edge: nothing listens where it checks it.
    std::vector<std::string> cut_off = urls;
    cut_off[2] = "http://127.10.0.3:9/healthz";

    // A starts alone with the real URLs (its peer's admin port is not known yet), B lists A;
    // then A learns B's port and its cut-off URL by a reload.
    GeoDns a(dir, observer_config(urls, "geodns-a", {}), "geodns-a");
    GeoDns b(dir, observer_config(urls, "geodns-b", {a.admin_port()}), "geodns-b");
    {
        std::ofstream out(a.config_path(), std::ios::trunc);
        out << observer_config(cut_off, "geodns-a", {b.admin_port()});
    }
    ::kill(a.process().pid(), SIGHUP);
    a.process().wait_for_log("geodns: reloaded");

    auto seoul = [](GeoDns& dns) {
        return dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "A"});
    };
    const std::vector<std::string> seoul_edge{"127.10.0.3"}, frankfurt_edge{"127.10.0.2"};
    const std::string apne1 = R"(edge="apne1",region="ap-northeast")";

    // A's own checks take Seoul's edge down, and A knows B sees it up: overruled.
    REQUIRE(eventually(
        [&] {
            return a.metric("cdn_geodns_health_transitions_total{" + apne1 + R"(,to="down"})") == 1;
        },
        5s));
    CHECK(eventually(
        [&] {
            return a.metric(R"(cdn_geodns_observer_up{observer="http://127.0.0.1:)" +
                            std::to_string(b.admin_port()) + "\"}") == 1 &&
                   a.metric("cdn_geodns_quorum_overruled_total{" + apne1 + "}") >= 1;
        },
        5s));
    CHECK(a.metric("cdn_geodns_observers_down{" + apne1 + "}") == 1);
    CHECK(a.metric("cdn_geodns_edge_up{" + apne1 + "}") == 1);
    CHECK(a.metric("cdn_geodns_quorum") == 2);
    const std::string view = http_get(a.admin_port(), "/v1/edges").body();
    CHECK_THAT(view, Contains(R"("observer":"geodns-b")"));
    CHECK_THAT(view, Contains(R"("own":{"up":false)"));
    CHECK_THAT(http_get(b.admin_port(), "/v1/health/observations").body(),
               Contains(R"("observer":"geodns-b")"));

    // Both keep answering Seoul with Seoul's edge, over several check intervals.
    for (int i = 0; i < 5; ++i) {
        CHECK(seoul(a) == seoul_edge);
        CHECK(seoul(b) == seoul_edge);
        std::this_thread::sleep_for(200ms);  // let checks and fetches run (not a timing bound)
    }

    // Seoul's edge really dies: B sees it too, that is a quorum (2 of 2): both drain it.
    edges[2]->kill_hard();
    CHECK(eventually([&] { return seoul(a) == frankfurt_edge && seoul(b) == frankfurt_edge; }, 8s));
    CHECK(b.metric("cdn_geodns_edge_up{" + apne1 + "}") == 0);
    a.process().wait_for_log("geodns: edge apne1: down by quorum");

    // It comes back: B sees it up, A still cannot reach it, a lone "down" again: both answer it.
    edges[2] = start_edge(dir, 2, admins[2]);
    edges[2]->wait_for_port("admin on");
    CHECK(eventually([&] { return seoul(a) == seoul_edge && seoul(b) == seoul_edge; }, 8s));
    CHECK(a.metric("cdn_geodns_edge_up{" + apne1 + "}") == 1);
}
