// Tiered caching with real processes: children send misses to parents chosen by rendezvous
// hashing of the key, fail over in the key's order, fall back to the origin, and stop loops
// (CDN-Loop, RFC 8586); Cache-Status names every hop (RFC 9211).
#include "tests/integration/cluster.hpp"
#include "tests/support/raw_connection.hpp"
#include "tests/support/scripted_origin.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <set>

using namespace cdn::test;

namespace {

constexpr const char* kAdminToken = "edge-admin-token-0123456789";

// A child's config: its name and one parent group.
std::string child_toml(const std::vector<std::string>& parent_urls, const std::string& extra = "") {
    std::string urls;
    for (const auto& u : parent_urls)
        urls += (urls.empty() ? "\"" : ", \"") + u + "\"";
    return fmt::format(
        "[admin]\npurge_token = \"{}\"\n[[parents]]\nname = \"shield\"\nurls = [{}]\n{}",
        kAdminToken, urls, extra);
}

std::string admin_toml() {
    return fmt::format("[admin]\npurge_token = \"{}\"\n", kAdminToken);
}

std::string url_of(const Edge& e) {
    return "http://127.0.0.1:" + std::to_string(e.port());
}

std::vector<std::string> name(const std::string& n) {
    return {"--name", n};
}

// Every Cache-Status field line joined as one list (RFC 9110 section 5.3): the stored parent's
// line, then this edge's.
std::string cache_status(const Response& r) {
    std::string out;
    for (const auto& f : r)
        if (f.name_string() == "Cache-Status")
            out += (out.empty() ? "" : ", ") + std::string(f.value());
    return out;
}

Response purge(Edge& edge, const std::string& body) {
    HttpClient c(edge.admin_port());
    return c.request("POST", "/purge",
                     {{"Content-Type", "application/json"},
                      {"Authorization", std::string("Bearer ") + kAdminToken}},
                     body);
}

}  // namespace

TEST_CASE("tiers: children share their parent's copy, Cache-Status lists every hop",
          "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge parent(dir, origin.url(), admin_toml(), name("parent-1"));
    Edge child1(dir, origin.url(), child_toml({url_of(parent)}), name("child-1"));
    Edge child2(dir, origin.url(), child_toml({url_of(parent)}), name("child-2"));

    const std::string t = "/tiered.js?size=5000";
    auto r1 = http_get(child1.port(), t);
    CHECK(r1.result_int() == 200);
    CHECK(r1.body().size() == 5000);
    CHECK(header(r1, "X-Cache") == "MISS");
    // The parent's entry first (nearer the origin), then the child's.
    const std::string status1 = cache_status(r1);
    INFO(status1);
    CHECK(status1.find("parent-1; fwd=uri-miss") != std::string::npos);
    CHECK(status1.find("child-1; fwd=uri-miss") != std::string::npos);
    CHECK(status1.find("parent-1") < status1.find("child-1"));

    // The other child misses too, but its parent has the object: the origin saw it once.
    REQUIRE(eventually([&] { return parent.metric("cdn_edge_cache_stores_total") >= 1; }));
    auto r2 = http_get(child2.port(), t);
    CHECK(r2.result_int() == 200);
    CHECK(r2.body() == r1.body());
    const std::string status2 = cache_status(r2);
    INFO(status2);
    CHECK(status2.find("parent-1; hit") != std::string::npos);
    CHECK(status2.find("child-2; fwd=uri-miss") != std::string::npos);
    CHECK(origin.count(t) == 1);
    CHECK(child1.metric("cdn_edge_parent_fetches_total") == 1);
    CHECK(child2.metric("cdn_edge_origin_fetches_total") == 0);
    // One X-Cache: this tier's.
    int x_caches = 0;
    for (const auto& f : r2)
        if (f.name_string() == "X-Cache") ++x_caches;
    CHECK(x_caches == 1);
}

TEST_CASE(
    "tiers: concurrent misses at many children cost one origin fetch (collapsing at the "
    "parent)",
    "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge parent(dir, origin.url(), admin_toml(), name("parent-1"));
    Edge child1(dir, origin.url(), child_toml({url_of(parent)}), name("child-1"));
    Edge child2(dir, origin.url(), child_toml({url_of(parent)}), name("child-2"));
    const std::string t = "/storm.js?delay=400&size=20000";
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 12; ++i)
        threads.emplace_back([&, i] {
            try {
                auto r = http_get(i % 2 ? child1.port() : child2.port(), t);
                if (r.result_int() == 200 && r.body().size() == 20000) ++ok;
            } catch (const std::exception&) {
            }
        });
    for (auto& th : threads)
        th.join();
    CHECK(ok == 12);
    CHECK(origin.count(t) == 1);
}

TEST_CASE(
    "tiers: keys spread over parents by hashing, the same owner from every child, and "
    "failover to the next parent when one dies",
    "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge pa(dir, origin.url(), admin_toml(), name("parent-a"));
    Edge pb(dir, origin.url(), admin_toml(), name("parent-b"));
    Edge pc(dir, origin.url(), admin_toml(), name("parent-c"));
    // The children list their parents in different orders: HRW does not care.
    Edge c1(dir, origin.url(), child_toml({url_of(pa), url_of(pb), url_of(pc)}), name("child-1"));
    Edge c2(dir, origin.url(), child_toml({url_of(pc), url_of(pa), url_of(pb)}), name("child-2"));

    constexpr int kKeys = 60;
    auto target = [](int i) { return "/k/" + std::to_string(i) + "?size=100"; };
    std::map<std::string, int> owners;
    for (int i = 0; i < kKeys; ++i) {
        auto r = http_get(c1.port(), target(i));
        REQUIRE(r.result_int() == 200);
        const std::string cs = cache_status(r);
        const std::string owner = cs.substr(0, cs.find(';'));
        ++owners[owner];
    }
    // Every parent owns a share (60 keys over 3: each gets far more than none).
    CHECK(owners.size() == 3);
    for (const auto& [owner, n] : owners) {
        INFO(owner << " owns " << n);
        CHECK(n >= 8);
    }
    // The second child finds every key at its owner: no new origin fetch.
    REQUIRE(eventually([&] {
        return pa.metric("cdn_edge_cache_stores_total") + pb.metric("cdn_edge_cache_stores_total") +
                   pc.metric("cdn_edge_cache_stores_total") >=
               kKeys;
    }));
    for (int i = 0; i < kKeys; ++i) {
        auto r = http_get(c2.port(), target(i));
        REQUIRE(r.result_int() == 200);
        CHECK(cache_status(r).find("; hit") != std::string::npos);
    }
    CHECK(origin.total() == static_cast<std::uint64_t>(kKeys));

    // parent-b dies. A child that has nothing cached yet asks for the same keys: every
    // request succeeds; the keys of a and c are still at their owners, b's alone move to their
    // next parent, and cost one origin fetch each.
    pb.process().kill_hard();
    Edge c3(dir, origin.url(), child_toml({url_of(pb), url_of(pc), url_of(pa)}), name("child-3"));
    int errors = 0;
    for (int i = 0; i < kKeys; ++i)
        if (http_get(c3.port(), target(i)).result_int() != 200) ++errors;
    CHECK(errors == 0);
    INFO("parent-b owned " << owners["parent-b"]);
    CHECK(origin.total() == static_cast<std::uint64_t>(kKeys + owners["parent-b"]));
    CHECK(c3.metric("cdn_edge_parent_failures_total") >= 1);
    CHECK(c3.metric("cdn_edge_parent_fallbacks_total") == 0);
}

TEST_CASE("tiers: every parent down means the origin, on_failure = error means a 502",
          "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    // A parent that answers garbage and one that is not there at all.
    ScriptedOrigin garbage(
        [](const RecordedRequest&) { return std::string("NOT HTTP AT ALL\r\n\r\n"); });
    const std::string nobody = "http://127.0.0.1:9";  // discard port: refused on loopback
    Edge child(dir, origin.url(), child_toml({garbage.url(), nobody}), name("child-1"));
    auto r = http_get(child.port(), "/fallback?size=10");
    CHECK(r.result_int() == 200);
    CHECK(origin.count("/fallback?size=10") == 1);
    CHECK(child.metric("cdn_edge_parent_failures_total") == 2);
    CHECK(child.metric("cdn_edge_parent_fallbacks_total") == 1);

    Edge strict(dir, origin.url(), child_toml({garbage.url()}, "on_failure = \"error\"\n"),
                name("child-2"));
    auto s = http_get(strict.port(), "/strict?size=10");
    CHECK(s.result_int() == 502);
    CHECK(origin.count("/strict?size=10") == 0);
}

TEST_CASE("tiers: CDN-Loop stops a request that comes back, and caps hops", "[edge][tiers]") {
    TempDir dir;
    ScriptedOrigin origin([](const RecordedRequest&) { return http_response(200, "ok"); });
    Edge edge(dir, origin.url(), "", name("edge-x"));
    // Its own name already in CDN-Loop: 508, not forwarded.
    auto r = http_get(edge.port(), "/a", {{"CDN-Loop", "other-cdn, edge-x; v=1"}});
    CHECK(r.result_int() == 508);
    CHECK(cache_status(r).find("detail=\"loop\"") != std::string::npos);
    // Eight caches already: 508 too.
    auto many = http_get(edge.port(), "/b",
                         {{"CDN-Loop", "c1, c2, c3, c4"}, {"CDN-Loop", "c5, c6, c7, c8"}});
    CHECK(many.result_int() == 508);
    CHECK(origin.requests().empty());
    CHECK(edge.metric("cdn_edge_loops_total") == 2);
    // A request that passes on carries the others' entries and this edge's own.
    auto ok = http_get(edge.port(), "/c", {{"CDN-Loop", "other-cdn"}});
    CHECK(ok.result_int() == 200);
    const auto seen = origin.requests();
    REQUIRE(seen.size() == 1);
    std::vector<std::string> loop;
    for (const auto& [n, v] : seen[0].fields)
        if (n == "CDN-Loop" || n == "cdn-loop") loop.push_back(v);
    CHECK(loop == std::vector<std::string>{"other-cdn", "edge-x"});
}

TEST_CASE("tiers: a parent that sends the request back answers 508, the child goes on",
          "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    // The parent shares the child's name: it sees itself in CDN-Loop, as with a real loop.
    Edge parent(dir, origin.url(), admin_toml(), name("same"));
    Edge child(dir, origin.url(), child_toml({url_of(parent)}), name("same"));
    auto r = http_get(child.port(), "/loop?size=10");
    CHECK(r.result_int() == 200);
    CHECK(child.metric("cdn_edge_parent_loops_total") == 1);
    CHECK(parent.metric("cdn_edge_loops_total") == 1);
    CHECK(origin.count("/loop?size=10") == 1);
}

TEST_CASE("tiers: a soft purge revalidates through the parent, which revalidates with the origin",
          "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge parent(dir, origin.url(), admin_toml(), name("parent-1"));
    Edge child(dir, origin.url(), child_toml({url_of(parent)}), name("child-1"));
    const std::string t = "/soft?tags=t&size=10";
    REQUIRE(http_get(child.port(), t).result_int() == 200);
    REQUIRE(eventually([&] { return header(http_get(child.port(), t), "X-Cache") == "HIT"; }));
    for (Edge* e : {&parent, &child})
        REQUIRE(purge(*e, R"({"tags":["t"],"soft":true})").result_int() == 200);
    auto r = http_get(child.port(), t);
    CHECK(r.result_int() == 200);
    CHECK(header(r, "X-Cache") == "REVALIDATED");
    const std::string cs = cache_status(r);
    INFO(cs);
    CHECK(cs.find("child-1; fwd=stale; fwd-status=304") != std::string::npos);
    CHECK(origin.count(t) == 2);
    CHECK(origin.not_modified(t) == 1);  // the parent asked the origin with its validators
}

TEST_CASE("tiers: stale-if-error serves the child's copy when parent and origin fail",
          "[edge][tiers]") {
    TempDir dir;
    auto origin = std::make_unique<OriginSim>(dir);
    const std::string origin_url = origin->url();
    Edge parent(dir, origin_url, admin_toml(), name("parent-1"));
    Edge child(dir, origin_url, child_toml({url_of(parent)}), name("child-1"));
    const std::string t = "/sie?cc=max-age%3D1%2C%20stale-if-error%3D600&size=10";
    REQUIRE(http_get(child.port(), t).result_int() == 200);
    origin.reset();                                                // the origin goes away
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // both copies stale
    auto r = http_get(child.port(), t);
    CHECK(r.result_int() == 200);
    CHECK(cache_status(r).find("stale-if-error") != std::string::npos);
}

namespace {

// A TCP port free on 127.0.0.1 right now (for peers that must know each other's ports before
// they start).
std::uint16_t free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

std::string peering_toml(const std::vector<std::uint16_t>& ports) {
    std::string peers;
    for (auto p : ports)
        peers += (peers.empty() ? "\"" : ", \"") + fmt::format("http://127.0.0.1:{}", p) + "\"";
    return fmt::format("[peering]\npeers = [{}]\n", peers);
}

}  // namespace

TEST_CASE("peering: a PoP fetches each key once and keeps one copy, at its owner",
          "[edge][tiers][peering]") {
    TempDir dir;
    OriginSim origin(dir);
    const std::vector<std::uint16_t> ports = {free_port(), free_port(), free_port()};
    std::vector<std::unique_ptr<Edge>> pop;
    for (std::size_t i = 0; i < ports.size(); ++i)
        pop.push_back(std::make_unique<Edge>(
            dir, origin.url(), peering_toml(ports),
            std::vector<std::string>{"--name", "pop-" + std::to_string(i), "--listen",
                                     "127.0.0.1:" + std::to_string(ports[i])}));
    constexpr int kKeys = 30;
    // Every edge asks for every key: one origin fetch per key.
    for (auto& e : pop)
        for (int k = 0; k < kKeys; ++k) {
            auto r = http_get(e->port(), "/p/" + std::to_string(k) + "?size=300");
            REQUIRE(r.result_int() == 200);
            REQUIRE(r.body().size() == 300);
        }
    CHECK(origin.total() == static_cast<std::uint64_t>(kKeys));
    // One copy in the PoP: the edges' objects add up to the keys, each edge holding some.
    double objects = 0;
    for (auto& e : pop) {
        REQUIRE(eventually([&] { return e->metric("cdn_edge_fills_inflight") == 0; }));
        const double n = e->metric("cdn_edge_cache_objects{tier=\"memory\"}");
        CHECK(n > 0);
        objects += n;
    }
    CHECK(objects == kKeys);
    double peer_fetches = 0;
    for (auto& e : pop)
        peer_fetches += e->metric("cdn_edge_peer_fetches_total");
    CHECK(peer_fetches == 2 * kKeys);  // each key: its owner fetched, the two others asked it
    // A peer that goes away: the others fetch its keys themselves, without an error.
    pop[2]->process().kill_hard();
    int errors = 0;
    for (int k = 0; k < kKeys; ++k)
        if (http_get(pop[0]->port(), "/q/" + std::to_string(k) + "?size=300").result_int() != 200)
            ++errors;
    CHECK(errors == 0);
}

TEST_CASE("peering: a hot key spreads past its owner when the owner is over the load cap",
          "[edge][tiers][peering]") {
    TempDir dir;
    OriginSim origin(dir);
    const std::vector<std::uint16_t> ports = {free_port(), free_port(), free_port()};
    std::vector<std::unique_ptr<Edge>> pop;
    for (std::size_t i = 0; i < ports.size(); ++i)
        pop.push_back(std::make_unique<Edge>(
            dir, origin.url(), peering_toml(ports) + "load_cap = 1.25\n",
            std::vector<std::string>{"--name", "pop-" + std::to_string(i), "--listen",
                                     "127.0.0.1:" + std::to_string(ports[i])}));
    // Find an edge that does not own the hot key (its first request goes to a peer).
    const std::string hot = "/hot?size=1000&delay=300&cc=no-store";
    std::size_t asker = 0;
    for (; asker < pop.size(); ++asker) {
        http_get(pop[asker]->port(), hot);
        if (pop[asker]->metric("cdn_edge_peer_fetches_total") > 0) break;
    }
    REQUIRE(asker < pop.size());
    // Many clients at once at that edge: past the cap, the next peer in the key's order takes
    // some of them.
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 12; ++i)
        threads.emplace_back([&] {
            try {
                if (http_get(pop[asker]->port(), hot).result_int() == 200) ++ok;
            } catch (const std::exception&) {
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(ok == 12);
    CHECK(pop[asker]->metric("cdn_edge_peer_spills_total") > 0);
}

TEST_CASE("tiers: a parent that hangs is given up after the group's response_timeout",
          "[edge][tiers]") {
    TempDir dir;
    OriginSim origin(dir);
    ScriptedOrigin hanging([](const RecordedRequest&) { return http_response(200, "late"); });
    hanging.trickle(0, std::chrono::seconds(5));  // not one byte for 5 s
    Edge parent(dir, origin.url(), admin_toml(), name("parent-ok"));
    // Two parents; whichever owns the key, a request whose owner hangs moves on in 300 ms.
    Edge child(dir, origin.url(),
               child_toml({hanging.url(), url_of(parent)}, "response_timeout = \"300ms\"\n"),
               name("child-1"));
    // Which parent owns a key depends on the parents' URLs (ports picked at random): with two,
    // 6 keys all miss the hanging one once in 64 runs, so go on (up to 40) until one hit it.
    int hung = 0, requests = 0;
    for (int i = 0; i < 40 && (i < 6 || hung == 0); ++i) {
        ++requests;
        const auto start = std::chrono::steady_clock::now();
        auto r = http_get(child.port(), "/h/" + std::to_string(i) + "?size=10");
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(r.result_int() == 200);
        CHECK(took < std::chrono::seconds(3));
        if (took > std::chrono::milliseconds(250)) ++hung;
    }
    CHECK(hung >= 1);  // the hanging parent owned some of the keys
    CHECK(child.metric("cdn_edge_parent_failures_total") == hung);
    CHECK(origin.total() == static_cast<std::uint64_t>(requests));
}
