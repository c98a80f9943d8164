// Purge end to end: real origin_sim, purge_api and two edges subscribed to its stream. Every
// purge goes through POST /v1/purge and is checked on both edges: each kind, soft against hard,
// an edge with a disk cache killed (-9) during a burst of purges, and purge_api restarted under
// the edges. Waits are condition polls (eventually, wait_for_log), never bare sleeps.
#include "tests/integration/cluster.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cdn::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kHost = "www.example.com";
const std::string kSite = "http://" + kHost;
// Fast heartbeats: an edge knows it caught up (and reconnects) quickly.
const std::string kStreamToml = "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n";
const std::string kConnected = "cdn_edge_purge_stream_connected";
const std::string kLastSeq = "cdn_edge_purge_last_seq";

// The edge's [purge] section: purge_api at `api_port`, under the id purge_api knows. Without
// registration: an edge killed here comes back on another port under the same id, which the
// registry would (rightly) refuse until the old lease lapses; integration_registry tests that.
std::string purge_toml(std::uint16_t api_port, const std::string& id) {
    return "[purge]\napi = \"http://127.0.0.1:" + std::to_string(api_port) + "\"\ntoken = \"" +
           kEdgeToken + "\"\nedge_id = \"" + id + "\"\n[fleet]\nregister = false\n";
}

// A metric sample, or `absent` while the edge does not export it (yet).
double metric_or(Edge& e, const std::string& sample, double absent = -1) {
    try {
        return e.metric(sample);
    } catch (const std::exception&) {
        return absent;
    }
}

Response get(Edge& e, const std::string& target, Headers extra = {},
             const std::string& host = kHost) {
    extra.emplace_back("Host", host);
    return http_get(e.port(), target, extra);
}

std::string cache_of(Edge& e, const std::string& target, Headers extra = {},
                     const std::string& host = kHost) {
    const Response r = get(e, target, std::move(extra), host);
    return r.result_int() == 200 ? header(r, "X-Cache")
                                 : "status " + std::to_string(r.result_int());
}

// A port that was free a moment ago (bound to 0, then closed), for a purge_api that must come
// back at the same address.
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    ::close(fd);
    return ntohs(sa.sin_port);
}

// origin_sim, purge_api (known edges edge-a and edge-b) and both edges, each having caught up
// with the (empty) log.
struct Cluster {
    explicit Cluster(const std::string& edge_a_toml = "", std::uint16_t api_port = 0)
        : origin(dir),
          api(std::make_unique<PurgeApi>(dir, kStreamToml, "",
                                         "127.0.0.1:" + std::to_string(api_port))) {
        start_edge(0, edge_a_toml);
        start_edge(1, "");
    }

    void start_edge(std::size_t i, const std::string& extra_toml) {
        auto e =
            std::make_unique<Edge>(dir, origin.url(), purge_toml(api->port(), ids[i]) + extra_toml);
        e->process().wait_for_log("purge stream: caught up");
        if (edges.size() <= i) edges.resize(i + 1);
        edges[i] = std::move(e);
    }
    Edge& a() { return *edges[0]; }
    Edge& b() { return *edges[1]; }

    std::uint64_t purge(const std::string& body) { return seq_of(api->purge(body)); }
    // Both edges applied every purge up to seq (what the edge reports, and what it acked).
    bool applied_everywhere(std::uint64_t seq) {
        for (std::size_t i = 0; i < edges.size(); ++i)
            if (metric_or(*edges[i], kLastSeq) < static_cast<double>(seq) ||
                api_applied(*api, ids[i]) < seq)
                return false;
        return true;
    }
    // Requests target on both edges: a MISS, then a HIT.
    void warm(const std::string& target, Headers extra = {}, const std::string& host = kHost) {
        for (auto& e : edges) {
            INFO(target << " on " << e->port());
            const std::string first = cache_of(*e, target, extra, host);
            CHECK((first == "MISS" || first == "HIT"));
            REQUIRE(cache_of(*e, target, extra, host) == "HIT");
        }
    }

    TempDir dir;
    OriginSim origin;
    std::unique_ptr<PurgeApi> api;
    const std::vector<std::string> ids = {"edge-a", "edge-b"};
    std::vector<std::unique_ptr<Edge>> edges;
};

}  // namespace

TEST_CASE("purge e2e: a files purge reaches both edges and every Vary variant", "[purge][e2e]") {
    Cluster c;
    const std::string varied = "/v/app.js?vary=Accept-Encoding";
    const std::string plain = "/v/other.js";
    const Headers gzip = {{"Accept-Encoding", "gzip"}};
    const Headers br = {{"Accept-Encoding", "br"}};
    c.warm(varied, gzip);
    c.warm(varied, br);
    c.warm(plain);
    REQUIRE(c.origin.count(varied) == 4);  // two variants on two edges

    const std::uint64_t seq = c.purge(R"({"files":[")" + kSite + varied + R"("]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, varied, gzip) == "MISS");
        CHECK(cache_of(*e, varied, br) == "MISS");
        CHECK(cache_of(*e, varied, br) == "HIT");  // refilled
        CHECK(cache_of(*e, plain) == "HIT");
    }
    CHECK(c.origin.count(varied) == 8);

    // Each edge normalises the URL as it does its cache keys: scheme and host case, the default
    // port, and https for an object fetched over http (a user purges the URL they see).
    const std::uint64_t seq2 = c.purge(R"({"files":["HTTPS://WWW.Example.COM:443/v/other.js"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq2); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, plain) == "MISS");
        CHECK(cache_of(*e, varied, gzip) == "HIT");
    }
}

TEST_CASE("purge e2e: a prefix purge reaches both edges", "[purge][e2e]") {
    Cluster c;
    const std::vector<std::string> inside = {"/static/v1/a.css", "/static/v1/b/c.js",
                                             "/static/v1/d.png?x=1"};
    const std::vector<std::string> outside = {"/static/v2/a.css", "/static/v1.css", "/other"};
    for (const auto& t : inside)
        c.warm(t);
    for (const auto& t : outside)
        c.warm(t);
    const std::uint64_t seq = c.purge(R"({"prefixes":[")" + kHost + R"(/static/v1/"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq); }));
    for (auto& e : c.edges) {
        for (const auto& t : inside) {
            INFO(t);
            CHECK(cache_of(*e, t) == "MISS");
        }
        for (const auto& t : outside) {
            INFO(t);
            CHECK(cache_of(*e, t) == "HIT");
        }
    }
    // The URL form: the scheme does not matter.
    const std::uint64_t seq2 = c.purge(R"({"prefixes":["https://)" + kHost + R"(/static/v2"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq2); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, outside[0]) == "MISS");
        CHECK(cache_of(*e, outside[1]) == "HIT");
        CHECK(cache_of(*e, inside[0]) == "HIT");
    }
}

TEST_CASE("purge e2e: a tag shared by 50 objects purges all of them on both edges",
          "[purge][e2e]") {
    Cluster c;
    std::vector<std::string> tagged;
    for (int i = 0; i < 50; ++i)
        tagged.push_back("/t/" + std::to_string(i) + "?tags=shared,item-" + std::to_string(i));
    const std::string untagged = "/t/free?tags=other";
    for (const auto& t : tagged)
        c.warm(t);
    c.warm(untagged);
    const std::uint64_t seq = c.purge(R"({"tags":["shared"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq); }));
    for (auto& e : c.edges) {
        int missed = 0;
        for (const auto& t : tagged)
            missed += cache_of(*e, t) == "MISS";
        CHECK(missed == 50);
        CHECK(cache_of(*e, untagged) == "HIT");
        CHECK(cache_of(*e, tagged[7]) == "HIT");  // refilled after the purge: not covered
    }
    // Tags are exact: a tag purge of "item-3" touches that object only.
    const std::uint64_t seq2 = c.purge(R"({"tags":["item-3"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq2); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, tagged[3]) == "MISS");
        CHECK(cache_of(*e, tagged[4]) == "HIT");
    }
}

TEST_CASE("purge e2e: a host purge and purge_everything reach both edges", "[purge][e2e]") {
    Cluster c;
    const std::string img = "img.example.com";
    const std::vector<std::string> targets = {"/h/1.png", "/h/2.png"};
    for (const auto& t : targets) {
        c.warm(t);
        c.warm(t, {}, img);
    }
    const std::uint64_t seq = c.purge(R"({"hosts":[")" + img + R"("]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq); }));
    for (auto& e : c.edges)
        for (const auto& t : targets) {
            INFO(t);
            CHECK(cache_of(*e, t, {}, img) == "MISS");
            CHECK(cache_of(*e, t) == "HIT");
        }

    // Everything: both hosts, every object.
    for (const auto& t : targets)
        c.warm(t, {}, img);
    const std::uint64_t all = c.purge(R"({"purge_everything":true})");
    REQUIRE(eventually([&] { return c.applied_everywhere(all); }));
    for (auto& e : c.edges)
        for (const auto& t : targets) {
            INFO(t);
            CHECK(cache_of(*e, t, {}, img) == "MISS");
            CHECK(cache_of(*e, t) == "MISS");
            CHECK(cache_of(*e, t) == "HIT");
        }
}

TEST_CASE("purge e2e: soft purge revalidates and hard purge refetches", "[purge][e2e]") {
    Cluster c;
    const std::string soft = "/s/soft.css";
    const std::string hard = "/s/hard.css";
    c.warm(soft);
    c.warm(hard);
    REQUIRE(c.origin.not_modified(soft) == 0);

    const std::uint64_t s1 = c.purge(R"({"files":[")" + kSite + soft + R"("],"soft":true})");
    const std::uint64_t s2 = c.purge(R"({"files":[")" + kSite + hard + R"("]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(std::max(s1, s2)); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, soft) == "REVALIDATED");
        CHECK(cache_of(*e, hard) == "MISS");
        // The 304 refreshed the stored copy: fresh again, the soft purge no longer applies.
        CHECK(cache_of(*e, soft) == "HIT");
    }
    // A conditional request per edge answered 304; the hard purge cost two full fetches more.
    CHECK(c.origin.not_modified(soft) == 2);
    CHECK(c.origin.count(soft) == 4);
    CHECK(c.origin.count(hard) == 4);
    CHECK(c.origin.not_modified(hard) == 0);
}

TEST_CASE(
    "purge e2e: with the origin down a soft-purged object is served stale (stale-if-error) and "
    "a hard-purged one is not",
    "[purge][e2e]") {
    Cluster c;
    const std::string soft = "/sie/soft?cc=max-age%3D600%2C%20stale-if-error%3D600";
    const std::string hard = "/sie/hard?cc=max-age%3D600%2C%20stale-if-error%3D600";
    std::vector<std::string> bodies;
    for (auto& e : c.edges) {
        bodies.push_back(get(*e, soft).body());
        REQUIRE(cache_of(*e, soft) == "HIT");
    }
    c.warm(hard);
    const std::uint64_t s1 = c.purge(R"({"files":[")" + kSite + soft + R"("],"soft":true})");
    const std::uint64_t s2 = c.purge(R"({"files":[")" + kSite + hard + R"("]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(std::max(s1, s2)); }));

    REQUIRE(c.origin.process().terminate() == 0);  // connections are refused from now on
    for (std::size_t i = 0; i < c.edges.size(); ++i) {
        Edge& e = *c.edges[i];
        const Response r = get(e, soft);
        CHECK(r.result_int() == 200);
        CHECK(header(r, "X-Cache") == "STALE");
        CHECK(r.body() == bodies[i]);
        const Response h = get(e, hard);
        CHECK(h.result_int() >= 500);  // nothing left to serve: purged for good
        CHECK(header(h, "X-Cache") != "HIT");
        CHECK(header(h, "X-Cache") != "STALE");
    }
}

TEST_CASE(
    "purge e2e: a disk edge killed during a burst of purges catches up and serves none "
    "of the purged objects",
    "[purge][e2e][disk]") {
    TempDir disk_dir;
    const std::string disk = (disk_dir.path() / "cache").string();
    // 1 MiB of memory in one shard and admission "all": objects of 30 KB are pushed to disk.
    const std::string disk_toml =
        "[cache]\nmemory = \"1MiB\"\nshards = 1\n[cache.disk]\npath = \"" + disk +
        "\"\nsize = \"16MiB\"\nsegment_size = \"1MiB\"\n"
        "admission = \"all\"\n";
    Cluster c(disk_toml);
    auto target = [](int i) {
        return "/d/" + std::to_string(i) + ".bin?size=30000&tags=t" + std::to_string(i);
    };
    constexpr int kObjects = 20, kPurged = 10;
    // On edge-a each object is asked for once, so memory evicts them in arrival order (S3-FIFO
    // keeps objects hit while new), first among everything, and onto the disk.
    std::vector<std::string> version_before;
    for (int i = 0; i < kObjects; ++i) {
        const Response r = get(c.a(), target(i));
        REQUIRE(r.result_int() == 200);
        REQUIRE(header(r, "X-Cache") == "MISS");
        version_before.push_back(header(r, "X-Object-Version"));
        REQUIRE(cache_of(c.b(), target(i)) == "MISS");
        REQUIRE(cache_of(c.b(), target(i)) == "HIT");
    }
    // Push them out of memory onto the disk and wait until every one is written.
    const std::string admitted = "cdn_edge_disk_admissions_total{result=\"admitted\"}";
    for (int i = 0; i < 60 && metric_or(c.a(), admitted, 0) < kObjects; ++i)
        REQUIRE(get(c.a(), "/filler/" + std::to_string(i) + "?size=150000").result_int() == 200);
    REQUIRE(metric_or(c.a(), admitted, 0) >= kObjects);
    REQUIRE(eventually([&] {
        return metric_or(c.a(), "cdn_edge_disk_writes_total", 0) >= metric_or(c.a(), admitted, 0);
    }));
    // A deploy changes the objects about to be purged: a purged copy would show the old version.
    for (int i = 0; i < kPurged; ++i) {
        const std::string path = "/d/" + std::to_string(i) + ".bin";
        HttpClient o(c.origin.port());
        REQUIRE(o.request("POST", "/_version?path=" + url_encode(path)).result_int() == 200);
    }

    // The burst: files purges, then tag purges; edge-a dies (kill -9) after the third POST,
    // without waiting for it to apply that one.
    std::uint64_t last = 0;
    for (int i = 0; i < kPurged; ++i) {
        last = i < 6 ? c.purge(R"({"files":[")" + kSite + target(i) + R"("]})")
                     : c.purge(R"({"tags":["t)" + std::to_string(i) + R"("]})");
        if (i == 2) c.a().process().kill_hard();
    }
    REQUIRE(eventually([&] { return api_applied(*c.api, "edge-b") == last; }));
    CHECK(api_applied(*c.api, "edge-a") < last);
    CHECK(eventually([&] { return !edge_entry(*c.api, "edge-a").at("connected").as_bool(); }));

    // Back on the same disk: the stream replays what it missed before the disk is read.
    c.start_edge(0, disk_toml);
    c.a().process().wait_for_log("serving from disk (purges caught up)");
    REQUIRE(eventually([&] { return c.applied_everywhere(last); }));
    CHECK(metric_or(c.a(), kLastSeq) == static_cast<double>(last));
    const double disk_hits0 = metric_or(c.a(), "cdn_edge_disk_lookups_total{result=\"hit\"}", 0);
    for (int i = 0; i < kObjects; ++i) {
        INFO(target(i));
        const Response r = get(c.a(), target(i));
        REQUIRE(r.result_int() == 200);
        if (i < kPurged) {
            CHECK(header(r, "X-Cache") == "MISS");
            CHECK(header(r, "X-Object-Version") != version_before[i]);
            CHECK(cache_of(c.b(), target(i)) == "MISS");
        } else {
            CHECK(header(r, "X-Cache") == "HIT");
            CHECK(header(r, "X-Object-Version") == version_before[i]);
        }
    }
    CHECK(metric_or(c.a(), "cdn_edge_disk_lookups_total{result=\"hit\"}", 0) - disk_hits0 >=
          kObjects - kPurged);
    const json::object entry = edge_entry(*c.api, "edge-a");
    CHECK(entry.at("last_applied_seq").to_number<std::uint64_t>() == last);
    CHECK(entry.at("connected").as_bool());
}

TEST_CASE("purge e2e: purge_api restarted on the same port: edges reconnect and keep applying",
          "[purge][e2e]") {
    const std::uint16_t port = free_port();
    Cluster c("", port);
    const std::string data_dir = c.api->data_dir();
    c.warm("/r/1");
    c.warm("/r/2");
    c.warm("/r/3");
    const std::uint64_t s1 = c.purge(R"({"files":[")" + kSite + R"(/r/1"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(s1); }));

    // SIGTERM: the streams end; the edges retry with a backoff while it is gone.
    REQUIRE(c.api->process().terminate() == 0);
    c.api.reset();
    for (auto& e : c.edges)
        CHECK(eventually([&] { return metric_or(*e, kConnected) == 0; }));
    c.api = std::make_unique<PurgeApi>(c.dir, kStreamToml, data_dir,
                                       "127.0.0.1:" + std::to_string(port));
    REQUIRE(c.api->port() == port);
    for (auto& e : c.edges)
        REQUIRE(eventually([&] { return metric_or(*e, kConnected) == 1; }, 10s));

    // The log survived: numbering continues, and both edges apply what comes next.
    const std::uint64_t s2 = c.purge(R"({"files":[")" + kSite + R"(/r/2"]})");
    CHECK(s2 == s1 + 1);
    const std::uint64_t s3 = c.purge(R"({"tags":["nothing-has-this"]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(s3); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, "/r/1") == "MISS");  // purged by s1, not asked for since
        CHECK(cache_of(*e, "/r/1") == "HIT");
        CHECK(cache_of(*e, "/r/2") == "MISS");
        CHECK(cache_of(*e, "/r/3") == "HIT");
    }
}

TEST_CASE(
    "purge e2e: purge_api restarted without its log: edges drop what they cached and apply "
    "the new log's purges",
    "[purge][e2e]") {
    const std::uint16_t port = free_port();
    Cluster c("", port);
    for (const char* t : {"/lost/1", "/lost/2", "/lost/3"})
        c.warm(t);
    std::uint64_t seq = 0;
    for (int i = 0; i < 3; ++i)
        seq = c.purge(R"({"tags":["unused-)" + std::to_string(i) + R"("]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(seq); }));

    // The data directory is gone: a new, empty log on the same address. The edges ask for
    // purges after 3; purge_api answers with a reset to its end (0) and the current time.
    REQUIRE(c.api->process().terminate() == 0);
    c.api.reset();
    c.api = std::make_unique<PurgeApi>(c.dir, kStreamToml, (c.dir.path() / "new-data").string(),
                                       "127.0.0.1:" + std::to_string(port));
    for (auto& e : c.edges) {
        e->process().wait_for_log("the log was compacted past sequence");
        CHECK(cache_of(*e, "/lost/1") == "MISS");  // everything cached before the reset
    }
    c.warm("/lost/2");
    // Sequences 1.. again: each must be applied (and acknowledged), not taken for the old ones.
    const std::uint64_t s1 = c.purge(R"({"files":[")" + kSite + R"(/lost/2"]})");
    CHECK(s1 == 1);
    CHECK(eventually(
        [&] { return api_applied(*c.api, "edge-a") >= s1 && api_applied(*c.api, "edge-b") >= s1; },
        3s));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, "/lost/2") == "MISS");
        CHECK(metric_or(*e, kLastSeq) == static_cast<double>(s1));
    }
}

TEST_CASE("purge e2e: the Cloudflare zone API reaches both edges, limited to its zone",
          "[purge][e2e]") {
    Cluster c;
    const std::string img = "img.example.com";
    const std::vector<std::string> targets = {"/z/1.png", "/z/2.png"};
    for (const auto& t : targets) {
        c.warm(t);
        c.warm(t, {}, img);
    }
    // As a Cloudflare client would send it, with curl.
    auto zone_purge = [&](const std::string& zone, const std::string& body) {
        const CommandResult r = run_command(
            {"curl", "-s", "-X", "POST", c.api->url() + "/client/v4/zones/" + zone + "/purge_cache",
             "-H", std::string("Authorization: Bearer ") + kAdminToken, "-H",
             "Content-Type: application/json", "--data", body});
        INFO(r.out);
        REQUIRE(r.status == 0);
        const json::value v = json::parse(r.out);
        REQUIRE(v.at("success") == true);
        // The envelope carries the purge id; its seq is in GET /v1/purges/<id>.
        const Response got =
            c.api->get("/v1/purges/" + std::string(v.at("result").at("id").as_string()));
        REQUIRE(got.result_int() == 200);
        return json::parse(got.body()).at("seq").to_number<std::uint64_t>();
    };

    // Everything in zone img.example.com: that host only.
    const std::uint64_t all = zone_purge(img, R"({"purge_everything":true})");
    REQUIRE(eventually([&] { return c.applied_everywhere(all); }));
    for (auto& e : c.edges)
        for (const auto& t : targets) {
            INFO(t);
            CHECK(cache_of(*e, t, {}, img) == "MISS");
            CHECK(cache_of(*e, t) == "HIT");
        }

    // One file of zone www.example.com, in Cloudflare's {"url", "headers"} form.
    const std::uint64_t one = zone_purge(
        kHost, R"({"files":[{"url":")" + kSite + targets[0] + R"(","headers":{"Origin":"x"}}]})");
    REQUIRE(eventually([&] { return c.applied_everywhere(one); }));
    for (auto& e : c.edges) {
        CHECK(cache_of(*e, targets[0]) == "MISS");
        CHECK(cache_of(*e, targets[1]) == "HIT");
    }
}
