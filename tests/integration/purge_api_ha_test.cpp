// purge_api instances on a real 3-member etcd cluster behave as one service: no reset for a
// log that is merely ahead of an instance, reads after writes on any instance, idempotent
// POSTs, one status for the fleet, retention with correct resets, fast 503s on a stalled etcd,
// and bursts through a leader kill and an instance kill with nothing lost or duplicated.
// Skipped (with a warning) without /usr/bin/etcd.
#include "tests/integration/etcd_cluster.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string ha_toml(const EtcdCluster& etcd, const std::string& extra = "") {
    return "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n\n[store]\nbackend = "
           "\"etcd\"\netcd_endpoints = " +
           etcd.toml_endpoints() + "\netcd_prefix = \"/ha/purge/\"\n" + extra;
}

Response post(std::uint16_t port, const std::string& body, const std::string& key = "",
              const std::string& token = kAdminToken) {
    HttpClient c(port);
    Headers h{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
    if (!key.empty()) h.emplace_back("Idempotency-Key", key);
    return c.request("POST", "/v1/purge", h, body);
}

json::value body_json(const Response& r) {
    INFO(r.body());
    return json::parse(r.body());
}

// Every event of a stream from `after` until it is synced and quiet: (seq, data) of purges,
// and the resets.
struct Drained {
    std::vector<std::pair<std::uint64_t, std::string>> purges;
    std::vector<std::string> resets;
};
Drained drain(std::uint16_t port, const std::string& edge, std::uint64_t after) {
    StreamClient s(port, edge, after);
    Drained d;
    REQUIRE(s.wait_synced(10s));
    while (auto e = s.next(300ms)) {
        if (e->event == "reset") d.resets.push_back(e->data);
        if (e->event == "purge") d.purges.emplace_back(std::stoull(e->id), e->data);
    }
    return d;
}

}  // namespace

TEST_CASE("HA: instances on one etcd cluster answer as one service", "[purge_api][etcd][ha]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 3);
    const std::string toml = ha_toml(etcd);
    PurgeApi a(dir, toml, (dir.path() / "a").string());
    PurgeApi b(dir, toml, (dir.path() / "b").string());
    // data_dir holds only the registry with etcd; it is created as the file store's is.
    CHECK(std::filesystem::is_directory(dir.path() / "a"));

    // 1. A purge taken by A is readable on B at once, and an edge that saw it on A and moves
    // to B is never told to reset (B waits for the shared log instead).
    for (int i = 0; i < 30; ++i) {
        const Response r = post(a.port(), R"({"tags":["t)" + std::to_string(i) + R"("]})");
        const std::uint64_t seq = seq_of(r);
        CHECK(b.get("/v1/purges/" + id_of(r)).result_int() == 200);
        StreamClient s(b.port(), "edge-a", seq);
        const auto synced = s.wait_synced(5s);
        REQUIRE(synced);
        CHECK(*synced == R"({"seq":)" + std::to_string(seq) + "}");
        const auto e = s.next(0ms);
        CHECK_FALSE(e.has_value());  // no reset, nothing else
    }
    CHECK(b.metric("cdn_purge_api_streams_opened_total") == 30);

    // 2. Idempotency-Key: a retry on the other instance returns the first purge.
    const Response first = post(a.port(), R"({"tags":["idem"]})", "key-1");
    const std::uint64_t head = seq_of(first);
    const Response retry = post(b.port(), R"({"tags":["idem"]})", "key-1");
    CHECK(seq_of(retry) == head);
    CHECK(id_of(retry) == id_of(first));
    CHECK(retry["Idempotent-Replayed"] == "true");
    const Response other = post(b.port(), R"({"tags":["something-else"]})", "key-1");
    CHECK(other.result_int() == 409);
    CHECK(body_json(other).at("errors").at(0).at("code") == 1012);
    // Keys are per token: another client's "key-1" is its own purge.
    CHECK(seq_of(post(b.port(), R"({"hosts":["shop.com"]})", "key-1", kShopToken)) == head + 1);
    CHECK(seq_of(post(b.port(), R"({"tags":["after-idem"]})")) == head + 2);

    // 3. One status for the fleet: edge-a streams from A, edge-b from B; each acks where it
    // streams; both instances give the same answer.
    StreamClient sa(a.port(), "edge-a", head + 2);
    auto sb = std::make_unique<StreamClient>(b.port(), "edge-b", head + 2);
    REQUIRE(sa.wait_synced());
    REQUIRE(sb->wait_synced());
    const Response p = post(a.port(), R"({"files":["https://shop.com/x.js"]})");
    const std::uint64_t pseq = seq_of(p);
    REQUIRE(sa.next());
    REQUIRE(sb->next());
    CHECK(a.ack("edge-a", pseq).result_int() == 204);
    CHECK(b.ack("edge-b", pseq).result_int() == 204);
    auto status = [&](PurgeApi& api) { return body_json(api.get("/v1/purges/" + id_of(p))); };
    CHECK(eventually([&] {
        const json::value sa_ = status(a), sb_ = status(b);
        return sa_.at("complete") == true && sb_.at("complete") == true &&
               sa_.at("edges") == sb_.at("edges") &&
               sa_.at("completed_ms") == sb_.at("completed_ms");
    }));
    auto edges_view = [&](PurgeApi& api) {
        std::map<std::string, std::pair<std::uint64_t, bool>> out;
        const json::value all = body_json(api.get("/v1/edges"));
        for (const json::value& e : all.as_array())
            out[std::string(e.at("edge").as_string())] = {
                e.at("last_applied_seq").to_number<std::uint64_t>(), e.at("connected").as_bool()};
        return out;
    };
    CHECK(eventually([&] {
        const auto va = edges_view(a), vb = edges_view(b);
        return va == vb && va.at("edge-a") == std::pair<std::uint64_t, bool>{pseq, true} &&
               va.at("edge-b") == std::pair<std::uint64_t, bool>{pseq, true};
    }));
    // An ack for a seq this instance has not seen yet is not refused when the log has it.
    const std::uint64_t next = seq_of(post(a.port(), R"({"tags":["n"]})"));
    CHECK(b.ack("edge-b", next).result_int() == 204);
    CHECK(b.ack("edge-b", next + 100).result_int() == 400);  // truly beyond the log

    // edge-b's stream ends on B: A sees it go.
    sb.reset();
    CHECK(eventually([&] { return edges_view(a).at("edge-b").second == false; }));

    // 4. One registry: an edge registered on A is listed on B, renews its lease on B (after a
    // failover) and deregisters there; A follows.
    auto registry_call = [](PurgeApi& api, const std::string& method, const std::string& target,
                            const std::string& body) {
        HttpClient c(api.port());
        return c.request(method, target, {{"Authorization", std::string("Bearer ") + kEdgeToken}},
                         body);
    };
    auto listed = [&](PurgeApi& api) {
        const json::value l = body_json(api.get("/v1/registry"));
        std::set<std::string> ids;
        for (const json::value& e : l.at("edges").as_array())
            ids.insert(std::string(e.at("id").as_string()));
        return ids;
    };
    const std::string reg =
        R"({"instance":"nonce-1","http":"http://127.0.0.2:8080","ipv4":["127.0.0.2"]})";
    CHECK(registry_call(a, "PUT", "/v1/registry/edge-r", reg).result_int() == 200);
    CHECK(eventually([&] { return listed(b).contains("edge-r"); }));
    CHECK(registry_call(b, "POST", "/v1/registry/edge-r/heartbeat", R"({"instance":"nonce-1"})")
              .result_int() == 200);
    // Another process with the same id is refused on either instance.
    CHECK(registry_call(b, "PUT", "/v1/registry/edge-r",
                        R"({"instance":"nonce-2","http":"http://127.0.0.3:8080"})")
              .result_int() == 409);
    CHECK(registry_call(b, "DELETE", "/v1/registry/edge-r?instance=nonce-1", "").result_int() ==
          204);
    CHECK(eventually([&] { return !listed(a).contains("edge-r"); }));

    // 5. A stream for a seq the shared log never had (its data was lost): a reset to the
    // log's end, on either instance.
    StreamClient lost(b.port(), "edge-lost", next + 1000);
    const auto reset = lost.next(5s);
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    CHECK(reset->data.find(R"("compacted_through":)" + std::to_string(next)) != std::string::npos);
}

TEST_CASE("HA: retention trims etcd and resets only edges behind the trim",
          "[purge_api][etcd][ha]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 3);
    const std::string toml = ha_toml(etcd, "compact_every = \"1s\"\n\n[log]\nkeep = 10\n");
    PurgeApi a(dir, toml, (dir.path() / "a").string());
    PurgeApi b(dir, toml, (dir.path() / "b").string());
    std::uint64_t last = 0;
    for (int i = 0; i < 40; ++i)
        last = seq_of(
            post(i % 2 ? b.port() : a.port(), R"({"tags":["r)" + std::to_string(i) + R"("]})"));
    CHECK(last == 40);
    // Trimmed to the newest 10 (a trim starts past keep + keep/4), by one of the instances.
    CHECK(eventually([&] { return etcd.count("/ha/purge/log/", "/ha/purge/log0") <= 12; }, 10s));
    CHECK(a.metric("cdn_purge_api_etcd_trims_total") + b.metric("cdn_purge_api_etcd_trims_total") >=
          1);
    // etcd's history is compacted behind it: old revisions are gone.
    CHECK(eventually(
        [&] {
            try {
                etcd.call("/v3/kv/range", R"({"key":")" + EtcdCluster::b64("/ha/purge/seq") +
                                              R"(","revision":"2"})");
                return false;
            } catch (const std::exception& e) {
                return std::string(e.what()).find("compacted") != std::string::npos;
            }
        },
        10s));

    // An edge behind the trim gets a reset (to the trim point), then every purge kept; an edge
    // within the kept part gets no reset.
    for (PurgeApi* api : {&a, &b}) {
        const Drained behind = drain(api->port(), "edge-old", 0);
        REQUIRE(behind.resets.size() == 1);
        CHECK(behind.resets[0].find(R"("compacted_through":)") != std::string::npos);
        REQUIRE_FALSE(behind.purges.empty());
        CHECK(behind.purges.back().first == last);
        const Drained current = drain(api->port(), "edge-new", last - 3);
        CHECK(current.resets.empty());
        CHECK(current.purges.size() == 3);
    }

    // Keys deleted by hand (the whole log and the trim record): a restarted instance continues
    // after the last seq and stays healthy, instead of refusing every POST.
    etcd.del("/ha/purge/log/", "/ha/purge/log0");
    etcd.del("/ha/purge/compacted", "/ha/purge/compacted\x01");
    PurgeApi c(dir, toml, (dir.path() / "c").string());
    CHECK(c.get("/healthz").result_int() == 200);
    CHECK(seq_of(post(c.port(), R"({"tags":["after-wipe"]})")) == last + 1);
    CHECK(eventually([&] { return a.metric("cdn_purge_api_last_seq") == last + 1; }));
}

TEST_CASE("HA: a stalled etcd answers 503 within the deadline, and a keyed retry applies once",
          "[purge_api][etcd][ha]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 3);
    PurgeApi a(dir, ha_toml(etcd, "timeout = \"1s\"\n"), (dir.path() / "a").string());
    CHECK(seq_of(post(a.port(), R"({"tags":["before"]})")) == 1);

    for (std::size_t i = 0; i < etcd.size(); ++i)
        etcd.pause(i);
    const auto t0 = std::chrono::steady_clock::now();
    const Response stalled = post(a.port(), R"({"tags":["during"]})", "stall-key");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(stalled.result_int() == 503);
    CHECK(stalled["Retry-After"] == "1");
    CHECK(took < 2500ms);  // the request's own deadline (1 s), not two 2 s timeouts
    CHECK(eventually([&] { return a.get("/healthz").result_int() == 503; }, 5s));
    // While unhealthy, a POST is refused at once: nothing was sent.
    const Response refused = post(a.port(), R"({"tags":["refused"]})");
    CHECK(refused.result_int() == 503);
    CHECK(refused.body().find("not applied") != std::string::npos);
    for (std::size_t i = 0; i < etcd.size(); ++i)
        etcd.resume(i);
    CHECK(eventually([&] { return a.get("/healthz").result_int() == 200; }, 10s));

    // The retry with the same key: applied exactly once, whether the stalled txn went through.
    Response again;
    CHECK(eventually([&] {
        again = post(a.port(), R"({"tags":["during"]})", "stall-key");
        return again.result_int() == 200;
    }));
    const Drained all = drain(a.port(), "edge-check", 0);
    int during = 0;
    for (const auto& [seq, data] : all.purges)
        if (data.find(R"("during")") != std::string::npos) ++during;
    CHECK(during == 1);
    CHECK(all.purges.back().first == seq_of(again));
}

TEST_CASE("HA: bursts through a leader kill and an instance kill lose and duplicate nothing",
          "[purge_api][etcd][ha]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 3);
    const std::string toml = ha_toml(etcd);
    std::vector<std::unique_ptr<PurgeApi>> apis;
    for (const char* n : {"a", "b", "c"})
        apis.push_back(std::make_unique<PurgeApi>(dir, toml, (dir.path() / n).string()));
    std::vector<std::uint16_t> ports;
    for (auto& p : apis)
        ports.push_back(p->port());

    // Two stream readers (edges) on A and B, reading everything as it comes.
    std::atomic<bool> done{false};
    auto reader = [&](std::uint16_t port, const std::string& edge, std::vector<std::uint64_t>& seqs,
                      int& resets) {
        StreamClient s(port, edge, 0);
        auto take = [&](const SseEvent& e) {
            if (e.event == "reset") ++resets;
            if (e.event == "purge") seqs.push_back(std::stoull(e.id));
        };
        while (!done.load())
            if (auto e = s.next(200ms)) take(*e);
        while (auto e = s.next(1000ms))
            take(*e);
    };
    std::vector<std::uint64_t> seqs_a, seqs_b;
    int resets_a = 0, resets_b = 0;
    std::thread ra([&] { reader(ports[0], "edge-a", seqs_a, resets_a); });
    std::thread rb([&] { reader(ports[1], "edge-b", seqs_b, resets_b); });

    // Three clients, 120 purges each, each with its own Idempotency-Key; a failure (503, a
    // dead instance) is retried with the same key on the next instance.
    constexpr int kClients = 3, kPerClient = 120;
    std::mutex mu;
    std::map<std::string, std::uint64_t> answered;  // key -> seq
    std::atomic<int> sent{0};
    std::atomic<bool> c_dead{false};
    auto client = [&](int c) {
        for (int i = 0; i < kPerClient; ++i) {
            const std::string key = "k-" + std::to_string(c) + "-" + std::to_string(i);
            const std::string body = R"({"tags":[")" + key + R"("]})";
            for (int attempt = 0; attempt < 200; ++attempt) {
                std::size_t inst = static_cast<std::size_t>(c + i + attempt) % 3;
                if (inst == 2 && c_dead.load()) inst = static_cast<std::size_t>(attempt) % 2;
                try {
                    const Response r = post(ports[inst], body, key);
                    if (r.result_int() == 200) {
                        std::lock_guard lk(mu);
                        answered[key] =
                            json::parse(r.body()).at("result").at("seq").to_number<std::uint64_t>();
                        break;
                    }
                } catch (const std::exception&) {
                    // connection refused: the instance was killed
                }
                std::this_thread::sleep_for(20ms);
            }
            ++sent;
        }
    };
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back(client, c);

    // A third in: kill the etcd leader. Two thirds in: kill instance C.
    REQUIRE(eventually([&] { return sent.load() >= kClients * kPerClient / 3; }, 60s));
    const auto leader = etcd.leader();
    REQUIRE(leader);
    etcd.kill(*leader);
    REQUIRE(eventually([&] { return sent.load() >= 2 * kClients * kPerClient / 3; }, 60s));
    c_dead = true;
    apis[2]->process().kill_hard();
    for (auto& t : clients)
        t.join();
    done = true;
    ra.join();
    rb.join();

    // Every purge was answered, each exactly once in the log, with distinct contiguous seqs.
    REQUIRE(answered.size() == static_cast<std::size_t>(kClients * kPerClient));
    std::set<std::uint64_t> seqs;
    for (const auto& [key, seq] : answered)
        seqs.insert(seq);
    CHECK(seqs.size() == answered.size());
    const Drained log = drain(ports[0], "edge-audit", 0);
    CHECK(log.resets.empty());
    std::map<std::string, int> times;
    for (const auto& [seq, data] : log.purges) {
        const auto v = json::parse(data);
        times[std::string(v.at("values").at(0).as_string())]++;
    }
    CHECK(times.size() == answered.size());
    for (const auto& [key, n] : times) {
        INFO(key);
        CHECK(n == 1);
    }
    for (std::size_t i = 0; i < log.purges.size(); ++i)
        CHECK(log.purges[i].first == i + 1);
    // The edges got every purge, in order, never a reset.
    CHECK(resets_a == 0);
    CHECK(resets_b == 0);
    CHECK(seqs_a.size() == log.purges.size());
    CHECK(seqs_b.size() == log.purges.size());
    CHECK(std::is_sorted(seqs_a.begin(), seqs_a.end()));
    CHECK(std::is_sorted(seqs_b.begin(), seqs_b.end()));
}

TEST_CASE("HA: a hole in the etcd log is never skipped", "[purge_api][etcd][ha]") {
    SKIP_WITHOUT_ETCD();
    TempDir dir;
    EtcdCluster etcd(dir, 1);
    const std::string toml = ha_toml(etcd);
    PurgeApi a(dir, toml, (dir.path() / "a").string());
    for (int i = 0; i < 3; ++i)
        CHECK(seq_of(post(a.port(), R"({"tags":["h)" + std::to_string(i) + R"("]})")) ==
              static_cast<std::uint64_t>(i + 1));
    StreamClient s(a.port(), "edge-a", 3);
    REQUIRE(s.wait_synced());

    // Someone writes seq 5 (and moves `seq`) with no seq 4: a hole.
    auto record = [](int seq) {
        return R"({"seq":)" + std::to_string(seq) + R"(,"id":"00000000000000)" +
               std::to_string(10 + seq) +
               R"(","time_ms":1795337295426,"kind":"tags","values":["x)" + std::to_string(seq) +
               R"("],"soft":false})";
    };
    auto put = [&](const std::string& key, const std::string& value) {
        etcd.call("/v3/kv/put", R"({"key":")" + EtcdCluster::b64(key) + R"(","value":")" +
                                    EtcdCluster::b64(value) + R"("})");
    };
    put("/ha/purge/log/00000000000000000005", record(5));
    put("/ha/purge/seq", "5");
    // The instance stops at 4: unhealthy, no purge taken, seq 5 not streamed, said once.
    CHECK(eventually([&] { return a.get("/healthz").result_int() == 503; }, 5s));
    CHECK(post(a.port(), R"({"tags":["refused"]})").result_int() == 503);
    CHECK_FALSE(s.next(500ms).has_value());
    CHECK(a.process().log().find("has a hole after seq 3") != std::string::npos);
    // A new instance refuses to start on it, naming the hole.
    CHECK_THROWS_WITH(PurgeApi(dir, toml, (dir.path() / "b").string()),
                      Catch::Contains("has a hole after seq 3"));

    // Repaired (seq 4 written): the instance reads on, streams 4 and 5, takes purges again.
    put("/ha/purge/log/00000000000000000004", record(4));
    CHECK(eventually([&] { return a.get("/healthz").result_int() == 200; }, 5s));
    auto e4 = s.next(5s);
    REQUIRE(e4);
    CHECK(e4->id == "4");
    auto e5 = s.next(5s);
    REQUIRE(e5);
    CHECK(e5->id == "5");
    CHECK(seq_of(post(a.port(), R"({"tags":["after-repair"]})")) == 6);

    // The newest record deleted by hand (`seq` still says 6): appending after 5 would leave a
    // hole, so the instance stops until the record is back.
    const std::string six =
        etcd.call("/v3/kv/range",
                  R"({"key":")" + EtcdCluster::b64("/ha/purge/log/00000000000000000006") + R"("})")
            .at("kvs")
            .at(0)
            .at("value")
            .as_string()
            .c_str();
    etcd.del("/ha/purge/log/00000000000000000006", "/ha/purge/log/00000000000000000007");
    PurgeApi c(dir, toml, (dir.path() / "c").string());  // loads the log up to 5
    CHECK(post(c.port(), R"({"tags":["on-top"]})").result_int() == 503);
    CHECK(eventually([&] { return c.get("/healthz").result_int() == 503; }, 5s));
    CHECK(c.process().log().find("seq is 6 but the log under /ha/purge/log/ ends at 5") !=
          std::string::npos);
    etcd.call("/v3/kv/put", R"({"key":")" + EtcdCluster::b64("/ha/purge/log/00000000000000000006") +
                                R"(","value":")" + six + R"("})");
    CHECK(eventually([&] { return c.get("/healthz").result_int() == 200; }, 5s));
    CHECK(seq_of(post(c.port(), R"({"tags":["on-top"]})")) == 7);
}
