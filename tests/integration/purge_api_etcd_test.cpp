// purge_api's etcd store backend against a real etcd (/usr/bin/etcd, Debian's etcd-server) on
// loopback ports: two purge_api processes share one log. Skipped (with a warning) without etcd.
// An edge given both instances ([purge] api = [A, B]) fails over from one to the other and
// back (its stream, its acknowledgements and its registration).
#include "tests/integration/cluster.hpp"
#include "tests/integration/etcd_cluster.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::uint16_t free_port() {
    return free_loopback_port();
}

// One etcd member on two free loopback ports; stop() (SIGKILL) and start() keep its data and
// ports.
class Etcd {
  public:
    explicit Etcd(const TempDir& dir) : cluster_(dir, 1) {}
    std::string url() const { return cluster_.url(0); }
    void stop() { cluster_.kill(0); }
    void start() { cluster_.start(0); }

  private:
    EtcdCluster cluster_;
};

std::string etcd_toml(const Etcd& etcd) {
    return "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n\n[store]\nbackend = "
           "\"etcd\"\netcd_endpoints = [\"" +
           etcd.url() + "\"]\netcd_prefix = \"/test/purge/\"\n";
}

// --- An edge in front of two instances ---

const std::string kHost = "www.example.com";
const std::string kSite = "http://" + kHost;
const std::string kConnected = "cdn_edge_purge_stream_connected";
const std::string kLastSeq = "cdn_edge_purge_last_seq";
const std::string kSwitches = "cdn_edge_purge_stream_switches_total";
// What the edge logs when an instance sends it a reset (it asked for a sequence the instance
// does not have): never expected here, where both instances share one log.
const std::string kResetLine = "the log was compacted past sequence";

std::string api_gauge(const std::string& url) {
    return "cdn_edge_purge_stream_api{url=\"" + url + "\"}";
}

// A metric sample, or `absent` while the edge does not export it (yet).
double metric_or(Edge& e, const std::string& sample, double absent = -1) {
    try {
        return e.metric(sample);
    } catch (const std::exception&) {
        return absent;
    }
}

std::string cache_of(Edge& e, const std::string& target) {
    const Response r = http_get(e.port(), target, {{"Host", kHost}});
    return r.result_int() == 200 ? std::string(r["X-Cache"])
                                 : "status " + std::to_string(r.result_int());
}

// A MISS (or HIT), then a HIT.
void warm(Edge& e, const std::string& target) {
    INFO(target);
    const std::string first = cache_of(e, target);
    CHECK((first == "MISS" || first == "HIT"));
    REQUIRE(cache_of(e, target) == "HIT");
}

// Whether the instance's (own, file-backed) registry holds the edge id.
bool registers(PurgeApi& api, const std::string& id) {
    const Response r = api.get("/v1/registry", kEdgeToken);
    if (r.result_int() != 200) return false;
    const json::value all = json::parse(r.body());
    for (const auto& e : all.at("edges").as_array())
        if (e.at("id").as_string() == id) return true;
    return false;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("etcd store: two instances share one log, survive restarts and etcd outages",
          "[purge_api][etcd]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    Etcd etcd(dir);
    const std::string toml = etcd_toml(etcd);
    auto a = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "a").string());
    PurgeApi b(dir, toml, (dir.path() / "b").string());

    StreamClient stream(b.port(), "edge-a", 0);
    REQUIRE(stream.wait_synced());

    const Response ra = a->purge(R"({"tags":["from-a"]})");
    CHECK(seq_of(ra) == 1);
    const Response rb = b.purge(R"({"tags":["from-b"]})");
    CHECK(seq_of(rb) == 2);

    auto e1 = stream.next();
    REQUIRE(e1);
    CHECK(e1->event == "purge");
    CHECK(e1->id == "1");
    CHECK(e1->data.find("from-a") != std::string::npos);
    auto e2 = stream.next();
    REQUIRE(e2);
    CHECK(e2->id == "2");
    CHECK(e2->data.find("from-b") != std::string::npos);

    // B knows A's purge by id (it polled it in).
    CHECK(b.get("/v1/purges/" + id_of(ra)).result_int() == 200);

    SECTION("concurrent appends on both instances get distinct, contiguous seqs") {
        std::vector<std::uint64_t> seqs_a, seqs_b;
        auto post_n = [](PurgeApi& api, std::vector<std::uint64_t>& out) {
            for (int i = 0; i < 8; ++i) {
                const Response r = api.purge(R"({"tags":["c"]})");
                if (r.result_int() == 200)
                    out.push_back(
                        json::parse(r.body()).at("result").at("seq").to_number<std::uint64_t>());
            }
        };
        std::thread ta([&] { post_n(*a, seqs_a); });
        std::thread tb([&] { post_n(b, seqs_b); });
        ta.join();
        tb.join();
        REQUIRE(seqs_a.size() == 8);
        REQUIRE(seqs_b.size() == 8);
        std::set<std::uint64_t> all(seqs_a.begin(), seqs_a.end());
        all.insert(seqs_b.begin(), seqs_b.end());
        CHECK(all.size() == 16);
        CHECK(*all.begin() == 3);
        CHECK(*all.rbegin() == 18);
        // The stream on B delivers all of them, in order.
        for (std::uint64_t s = 3; s <= 18; ++s) {
            auto e = stream.next();
            REQUIRE(e);
            CHECK(e->id == std::to_string(s));
        }
    }

    SECTION("a restarted instance continues the log") {
        a.reset();
        a = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "a").string());
        CHECK(a->get("/v1/purges/" + id_of(rb)).result_int() == 200);
        CHECK(seq_of(a->purge(R"({"tags":["after-restart"]})")) == 3);
        auto e = stream.next();
        REQUIRE(e);
        CHECK(e->id == "3");
    }

    SECTION("etcd down: 503 and unhealthy; back: purges work again") {
        etcd.stop();
        CHECK(a->purge(R"({"tags":["lost"]})").result_int() == 503);
        CHECK(eventually([&] { return b.get("/healthz").result_int() == 503; }));
        CHECK(b.purge(R"({"tags":["lost"]})").result_int() == 503);
        etcd.start();
        CHECK(eventually([&] { return a->get("/healthz").result_int() == 200; }));
        CHECK(seq_of(a->purge(R"({"tags":["back"]})")) == 3);
        auto e = stream.next();
        REQUIRE(e);
        CHECK(e->id == "3");
        CHECK(e->data.find("back") != std::string::npos);
    }
}

TEST_CASE("etcd store: an unreachable etcd at start-up is an error", "[purge_api][etcd]") {
    TempDir dir;
    const std::string toml = "[store]\nbackend = \"etcd\"\netcd_endpoints = [\"http://127.0.0.1:" +
                             std::to_string(free_port()) + "\"]\n";
    CHECK_THROWS(PurgeApi(dir, toml));
}

TEST_CASE("etcd store: an edge fails over from one purge_api instance to the other and back",
          "[purge_api][etcd][failover]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    Etcd etcd(dir);
    const std::string toml = etcd_toml(etcd);
    // A comes back at its address after it is killed.
    const std::string a_listen = "127.0.0.1:" + std::to_string(free_port());
    const std::string a_data = (dir.path() / "a").string();
    auto a = std::make_unique<PurgeApi>(dir, toml, a_data, a_listen);
    auto b = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "b").string());
    const std::string a_url = a->url(), b_url = b->url();
    OriginSim origin(dir);
    Edge edge(dir, origin.url(),
              "[purge]\napi = [\"" + a_url + "\", \"" + b_url + "\"]\ntoken = \"" + kEdgeToken +
                  "\"\nedge_id = \"edge-a\"\n[fleet]\nregion = \"eu-central\"\n");
    edge.process().wait_for_log("purge stream: caught up");
    CHECK(edge.metric(kConnected) == 1);
    CHECK(edge.metric(api_gauge(a_url)) == 1);  // the first in the list
    CHECK(edge.metric(api_gauge(b_url)) == 0);
    CHECK(edge.metric(kSwitches) == 0);
    CHECK(eventually([&] { return registers(*a, "edge-a"); }));

    // A purge through A reaches the edge.
    warm(edge, "/f/1");
    const std::uint64_t s1 = seq_of(a->purge(R"({"files":[")" + kSite + R"(/f/1"]})"));
    REQUIRE(eventually([&] { return metric_or(edge, kLastSeq) >= static_cast<double>(s1); }));
    CHECK(cache_of(edge, "/f/1") == "MISS");
    CHECK(eventually([&] { return api_applied(*a, "edge-a") == s1; }));

    // A dies: the edge moves to B at once and resumes after s1.
    warm(edge, "/f/2");
    a->process().kill_hard();
    REQUIRE(eventually([&] { return metric_or(edge, api_gauge(b_url)) == 1; }, 5s));
    CHECK(edge.metric(api_gauge(a_url)) == 0);
    CHECK(edge.metric(kConnected) == 1);
    const std::uint64_t s2 = seq_of(b->purge(R"({"files":[")" + kSite + R"(/f/2"]})"));
    CHECK(s2 == s1 + 1);
    REQUIRE(eventually([&] { return metric_or(edge, kLastSeq) >= static_cast<double>(s2); }));
    CHECK(cache_of(edge, "/f/2") == "MISS");
    CHECK(cache_of(edge, "/f/1") == "HIT");  // refilled after s1, not purged again
    // The acknowledgement went to B (the instance of the stream).
    CHECK(eventually([&] { return api_applied(*b, "edge-a") == s2; }));
    CHECK(edge_entry(*b, "edge-a").at("connected").as_bool());
    // The registration moved to B too (at its next heartbeat; B already lists the edge, since
    // the instances share the registry).
    CHECK(registers(*b, "edge-a"));
    CHECK(eventually(
        [&] {
            return edge.process().log().find("registry: registered as edge-a with " + b_url) !=
                   std::string::npos;
        },
        10s));
    {
        const std::string log = edge.process().log();
        INFO(log);
        CHECK(occurrences(log, "purge stream: switching from " + a_url + " to " + b_url + " (") ==
              1);
        CHECK(occurrences(log, "purge stream: connected to " + b_url) == 1);
        CHECK(occurrences(log, kResetLine) == 0);
        CHECK_THAT(log, Catch::Contains("registry: registered as edge-a with " + b_url));
    }
    CHECK(edge.metric(kSwitches) == 1);

    // A is back, B dies: the edge returns to A and takes what was purged through it.
    a = std::make_unique<PurgeApi>(dir, toml, a_data, a_listen);
    REQUIRE(a->url() == a_url);
    warm(edge, "/f/3");
    b->process().kill_hard();
    REQUIRE(eventually([&] { return metric_or(edge, api_gauge(a_url)) == 1; }, 5s));
    CHECK(edge.metric(api_gauge(b_url)) == 0);
    const std::uint64_t s3 = seq_of(a->purge(R"({"files":[")" + kSite + R"(/f/3"]})"));
    CHECK(s3 == s2 + 1);
    REQUIRE(eventually([&] { return metric_or(edge, kLastSeq) >= static_cast<double>(s3); }));
    CHECK(cache_of(edge, "/f/3") == "MISS");
    CHECK(eventually([&] { return api_applied(*a, "edge-a") == s3; }));
    CHECK(eventually([&] { return registers(*a, "edge-a"); }, 10s));
    const std::string log = edge.process().log();
    INFO(log);
    CHECK(occurrences(log, "purge stream: switching from " + a_url + " to " + b_url + " (") == 1);
    CHECK(occurrences(log, "purge stream: switching from " + b_url + " to " + a_url + " (") == 1);
    CHECK(occurrences(log, kResetLine) == 0);
    CHECK(edge.metric(kSwitches) == 2);
}

TEST_CASE(
    "etcd store: an edge whose first purge_api refuses connections streams from the next "
    "one at once",
    "[purge_api][etcd][failover]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    Etcd etcd(dir);
    PurgeApi b(dir, etcd_toml(etcd), (dir.path() / "b").string());
    const std::string dead = "http://127.0.0.1:" + std::to_string(free_port());  // nobody listens
    OriginSim origin(dir);
    // The list as a flag this time: --purge-api A,B.
    Edge edge(dir, origin.url(), "[fleet]\nregion = \"eu-central\"\n",
              {"--purge-api", dead + "," + b.url(), "--purge-token", kEdgeToken});
    // The edge's admin port is up: the stream starts about now. No backoff: well within 2 s
    // (the first backoff alone would be 100 ms; a purge_api is asked within milliseconds).
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return metric_or(edge, kConnected) == 1; }, 2s));
    const auto took = std::chrono::steady_clock::now() - started;
    INFO("streaming after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                            << " ms");
    CHECK(took < 2s);
    CHECK(edge.metric(api_gauge(b.url())) == 1);
    CHECK(edge.metric(api_gauge(dead)) == 0);
    CHECK(edge.metric(kSwitches) == 1);
    CHECK(edge.metric(R"(cdn_edge_purge_stream_failures_total{reason="connect"})") >= 1);
    // Purges flow through B, and it is B the edge registered with.
    warm(edge, "/g/1");
    const std::uint64_t s1 = seq_of(b.purge(R"({"files":[")" + kSite + R"(/g/1"]})"));
    REQUIRE(eventually([&] { return metric_or(edge, kLastSeq) >= static_cast<double>(s1); }));
    CHECK(cache_of(edge, "/g/1") == "MISS");
    CHECK(eventually([&] { return api_applied(b, "test-edge") == s1; }));
    CHECK(eventually([&] { return registers(b, "test-edge"); }));
    const std::string log = edge.process().log();
    INFO(log);
    CHECK(occurrences(log, "purge stream: switching from " + dead + " to " + b.url() +
                               " (cannot connect to " + dead + " (stream)") == 1);
    CHECK(occurrences(log, kResetLine) == 0);
    CHECK_THAT(log, Catch::Contains("registry: registered as test-edge with " + b.url()));
}
