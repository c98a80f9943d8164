// purge_api as a real process on an ephemeral loopback port, driven by curl, an HTTP client and
// raw stream sockets.
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Fast heartbeats and a short write timeout keep the tests short.
const std::string kStreamToml = "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n";

json::value parse(const std::string& s) {
    return json::parse(s);
}

int error_code(const Response& r) {
    return parse(r.body()).at("errors").at(0).at("code").to_number<int>();
}

std::string tags_body(std::size_t n) {
    std::string body = R"({"tags":[)";
    for (std::size_t i = 0; i < n; ++i)
        body += (i ? ",\"tag-" : "\"tag-") + std::to_string(i) + "\"";
    return body + "]}";
}

}  // namespace

TEST_CASE("tokens: 401 without a valid one, 403 outside a token's hosts", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir);
    // As an operator would, with curl.
    const auto no_token = run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                                       "POST", "-d", R"({"tags":["a"]})", api.url() + "/v1/purge"});
    CHECK(no_token.out == "401");
    const Response wrong = api.purge(R"({"tags":["a"]})", "admin-token-012345678X");
    CHECK(wrong.result_int() == 401);
    CHECK(error_code(wrong) == 10000);
    CHECK(api.purge(R"({"tags":["a"]})", kEdgeToken).result_int() == 401);

    const Response other = api.purge(R"({"files":["https://other.com/a.js"]})", kShopToken);
    CHECK(other.result_int() == 403);
    CHECK(error_code(other) == 10001);
    CHECK_THAT(other.body(), Contains("other.com"));
    CHECK(api.purge(R"({"tags":["a"]})", kShopToken).result_int() == 403);
    CHECK(api.purge(R"({"purge_everything":true})", kShopToken).result_int() == 403);
    CHECK(seq_of(api.purge(R"({"files":["https://shop.com/a.js"]})", kShopToken)) == 1);
    CHECK(seq_of(api.purge(R"({"prefixes":["shop.com/static/"]})", kShopToken)) == 2);

    // Edge endpoints take only the edge token; admin endpoints only admin tokens.
    CHECK(api.get("/v1/edges", kEdgeToken).result_int() == 401);
    StreamClient s(api.port(), "edge-a", 0, kAdminToken);
    CHECK_THAT(s.head(), Contains("401"));
    CHECK(api.metric("cdn_purge_api_rejected_total{reason=\"unauthenticated\"}") == 5);
    CHECK(api.metric("cdn_purge_api_rejected_total{reason=\"forbidden\"}") == 3);
}

TEST_CASE("bad bodies: 400 with a JSON error, 10,000 tags, 413 over max_body", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, "[limits]\nmax_body = \"64KiB\"\nmax_items = 1000\n");
    const Response many = api.purge(tags_body(10000));  // about 110 KiB
    CHECK(many.result_int() == 413);
    CHECK(error_code(many) == 1008);

    PurgeApi roomy(dir, "[limits]\nmax_body = \"1MiB\"\n", (dir.path() / "data2").string());
    const Response ten_k = roomy.purge(tags_body(10000));
    CHECK(ten_k.result_int() == 400);
    CHECK(error_code(ten_k) == 1005);
    CHECK_THAT(ten_k.body(), Contains("10000 values, at most 1000"));
    CHECK(roomy.purge("{\"tags\":").result_int() == 400);
    CHECK(roomy.purge(R"({"tags":["a"],"files":["https://a.com/"]})").result_int() == 400);
    CHECK(roomy.purge(R"({"files":["a.com/x"]})").result_int() == 400);
    CHECK(roomy.purge(R"({"hosts":[]})").result_int() == 400);
    CHECK(roomy.metric("cdn_purge_api_last_seq") == 0);
    CHECK(roomy.metric("cdn_purge_api_rejected_total{reason=\"too_many_items\"}") == 1);
}

TEST_CASE("a purge reaches a live stream at once and curl -N sees it too", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml);
    StreamClient s(api.port(), "edge-a", 0);
    CHECK_THAT(s.head(), Contains("200 OK"));
    CHECK_THAT(s.head(), Contains("text/event-stream"));
    CHECK(s.wait_synced() == std::optional<std::string>(R"({"seq":0})"));  // empty backlog
    CHECK(edge_entry(api, "edge-a").at("connected") == true);

    const auto t0 = std::chrono::steady_clock::now();
    const Response r = api.purge(R"({"files":["https://a.com/x.js"],"soft":true})");
    const auto e = s.next(3s);
    const auto latency = std::chrono::steady_clock::now() - t0;
    REQUIRE(e);
    CHECK(e->event == "purge");
    CHECK(e->id == "1");
    const json::object d = parse(e->data).as_object();
    CHECK(d.at("seq").to_number<int>() == 1);
    CHECK(d.at("id") == id_of(r).c_str());
    CHECK(d.at("kind") == "files");
    CHECK(d.at("values").at(0) == "https://a.com/x.js");
    CHECK(d.at("soft") == true);
    CHECK(d.at("time_ms").to_number<std::int64_t>() > 0);
    CHECK(latency < 1s);

    // Idle: heartbeats arrive (200 ms here).
    CHECK_FALSE(s.next(700ms));
    CHECK(s.pings() >= 2);

    api.purge(R"({"purge_everything":true})");
    const auto curl = run_command(
        {"curl", "-sN", "--max-time", "1", "-H", std::string("Authorization: Bearer ") + kEdgeToken,
         api.url() + "/v1/stream?edge=edge-c&after=0"},
        10s);
    CHECK_THAT(curl.out, Contains("id: 1\nevent: purge\ndata: {\"seq\":1,"));
    CHECK_THAT(curl.out, Contains("id: 2\nevent: purge\ndata: {\"seq\":2,"));
    CHECK_THAT(curl.out, Contains("\"kind\":\"everything\",\"values\":[],\"soft\":false}"));
    CHECK_THAT(curl.out, Contains("}\n\nevent: synced\ndata: {\"seq\":2}\n\n"));
    const auto e2 = s.next(2s);
    REQUIRE(e2);
    CHECK(e2->id == "2");
    CHECK(api.metric("cdn_purge_api_purges_total{kind=\"files\"}") == 1);
    CHECK(api.metric("cdn_purge_api_purges_total{kind=\"everything\"}") == 1);
    CHECK(api.metric("cdn_purge_api_last_seq") == 2);
    // SIGTERM with a stream open: a clean exit (ASan would make it non-zero).
    CHECK(api.process().terminate() == 0);
    CHECK(s.wait_end(2s));
}

TEST_CASE("a stream resumes after a sequence and continues live", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml);
    for (int i = 0; i < 3; ++i)
        REQUIRE(seq_of(api.purge(R"({"tags":["t)" + std::to_string(i) + R"("]})")) ==
                static_cast<std::uint64_t>(i + 1));
    StreamClient s(api.port(), "edge-a", 1);
    auto e = s.next();
    REQUIRE(e);
    CHECK(e->id == "2");
    CHECK_THAT(e->data, Contains("\"values\":[\"t1\"]"));
    e = s.next();
    REQUIRE(e);
    CHECK(e->id == "3");
    CHECK(s.wait_synced() == std::optional<std::string>(R"({"seq":3})"));  // after the backlog
    api.purge(R"({"hosts":["b.com"]})");
    e = s.next();
    REQUIRE(e);
    CHECK(e->id == "4");

    StreamClient caught_up(api.port(), "edge-b", 4);
    CHECK_FALSE(caught_up.next(500ms));  // nothing to send, only pings
    CHECK(caught_up.pings() >= 1);
}

TEST_CASE("a reader behind a compaction gets a reset first", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml + "[log]\nkeep = 2\n");
    for (int i = 1; i <= 5; ++i)
        REQUIRE(seq_of(api.purge(R"({"tags":["t)" + std::to_string(i) + R"("]})")) ==
                static_cast<std::uint64_t>(i));
    REQUIRE(eventually([&] { return api.metric("cdn_purge_api_log_compactions_total") >= 3; }));
    StreamClient s(api.port(), "edge-a", 0);
    auto e = s.next();
    REQUIRE(e);
    CHECK(e->event == "reset");
    CHECK(e->id.empty());
    const json::object reset = parse(e->data).as_object();
    CHECK(reset.at("compacted_through").to_number<int>() == 3);
    CHECK(reset.at("time_ms").to_number<std::int64_t>() > 0);
    e = s.next();
    REQUIRE(e);
    CHECK(e->id == "4");
    e = s.next();
    REQUIRE(e);
    CHECK(e->id == "5");

    StreamClient ahead(api.port(), "edge-b", 3);  // applied through the compaction point
    e = ahead.next();
    REQUIRE(e);
    CHECK(e->event == "purge");
    CHECK(e->id == "4");
}

TEST_CASE("acks show in /v1/edges and in a purge's status", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml);
    StreamClient s(api.port(), "edge-a", 0);
    REQUIRE(eventually([&] { return edge_entry(api, "edge-a").at("connected") == true; }));
    const std::string id = id_of(api.purge(R"({"prefixes":["a.com/img/"]})"));
    REQUIRE(s.next());

    auto status = [&] {
        const Response r = api.get("/v1/purges/" + id);
        REQUIRE(r.result_int() == 200);
        return parse(r.body()).as_object();
    };
    auto edge_status = [](const json::object& st, const char* edge) {
        for (const auto& e : st.at("edges").as_array())
            if (e.at("edge") == edge) return std::string(e.at("status").as_string());
        return std::string("missing");
    };
    json::object st = status();
    CHECK(st.at("seq").to_number<int>() == 1);
    CHECK(st.at("kind") == "prefixes");
    CHECK(edge_status(st, "edge-a") == "pending");      // connected, not acked
    CHECK(edge_status(st, "edge-b") == "unreachable");  // configured, never seen
    CHECK(st.at("complete") == false);

    CHECK(api.ack("edge-a", 1).result_int() == 204);
    json::object a = edge_entry(api, "edge-a");
    CHECK(a.at("last_applied_seq").to_number<int>() == 1);
    CHECK(a.at("connected") == true);
    CHECK(a.at("last_seen_ms").is_int64());
    st = status();
    CHECK(edge_status(st, "edge-a") == "applied");
    CHECK(st.at("complete") == false);

    CHECK(api.ack("edge-b", 1).result_int() == 204);
    st = status();
    CHECK(st.at("complete") == true);
    CHECK(st.at("completed_ms").to_number<std::int64_t>() >=
          st.at("time_ms").to_number<std::int64_t>());
    CHECK(api.ack("edge-b", 7).result_int() == 400);  // beyond the log
    CHECK(api.metric("cdn_purge_api_acks_total") == 2);
    CHECK(api.metric("cdn_purge_api_edges_connected") == 1);
    CHECK(api.get("/v1/purges/0000000000000000").result_int() == 404);
}

TEST_CASE("a restart keeps the log and the sequence, even after SIGKILL", "[purge_api]") {
    TempDir dir;
    std::string first_id;
    std::string data_dir;
    {
        PurgeApi api(dir, kStreamToml);
        data_dir = api.data_dir();
        first_id = id_of(api.purge(R"({"tags":["a"]})"));
        REQUIRE(seq_of(api.purge(R"({"tags":["b"]})")) == 2);
        CHECK(api.process().terminate() == 0);
    }
    {
        PurgeApi api(dir, kStreamToml, data_dir);
        CHECK(seq_of(api.purge(R"({"tags":["c"]})")) == 3);
        api.process().kill_hard();  // acknowledged means fsynced: nothing to lose
    }
    PurgeApi api(dir, kStreamToml, data_dir);
    CHECK(seq_of(api.purge(R"({"tags":["d"]})")) == 4);
    const Response old = api.get("/v1/purges/" + first_id);
    REQUIRE(old.result_int() == 200);
    CHECK(parse(old.body()).at("seq").to_number<int>() == 1);
    StreamClient s(api.port(), "edge-a", 0);
    for (int i = 1; i <= 4; ++i) {
        const auto e = s.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(i));
    }
}

TEST_CASE("a newer stream for the same edge replaces the older one", "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml);
    StreamClient first(api.port(), "edge-a", 0);
    REQUIRE(eventually([&] { return edge_entry(api, "edge-a").at("connected") == true; }));
    StreamClient second(api.port(), "edge-a", 0);
    CHECK_THAT(second.head(), Contains("200 OK"));
    CHECK(first.wait_end(3s));
    api.purge(R"({"tags":["x"]})");
    const auto e = second.next();
    REQUIRE(e);
    CHECK(e->id == "1");
    CHECK(api.metric("cdn_purge_api_streams_ended_total{reason=\"replaced\"}") == 1);
    CHECK(edge_entry(api, "edge-a").at("connected") == true);
    CHECK(api.process().terminate() == 0);
}

TEST_CASE("a stream client that does not read is cut off while the rest keeps working",
          "[purge_api]") {
    TempDir dir;
    PurgeApi api(dir, kStreamToml + "[limits]\nmax_body = \"4MiB\"\n");
    // Never reads, with a tiny receive window: the server's writes back up.
    StreamClient hostile(api.port(), "edge-a", 0, kEdgeToken, 4096);
    StreamClient healthy(api.port(), "edge-b", 0);
    REQUIRE(eventually([&] { return api.metric("cdn_purge_api_edges_connected") == 2; }));

    // Four purges of 1000 URLs of ~2 KB: about 8 MB of events, more than the kernel buffers.
    const std::string path(2000, 'p');
    std::string body = R"({"files":[)";
    for (int i = 0; i < 1000; ++i)
        body += (i ? ",\"https://a.com/" : "\"https://a.com/") + path + std::to_string(i) + "\"";
    body += "]}";
    for (int i = 1; i <= 4; ++i) {
        REQUIRE(seq_of(api.purge(body)) == static_cast<std::uint64_t>(i));
        for (;;) {  // keep the healthy reader current
            const auto e = healthy.next(5s);
            REQUIRE(e);
            if (e->id == std::to_string(i)) break;
        }
    }
    REQUIRE(eventually(
        [&] { return api.metric(R"(cdn_purge_api_streams_ended_total{reason="slow"})") == 1; },
        10s));
    CHECK(edge_entry(api, "edge-a").at("connected") == false);
    CHECK(edge_entry(api, "edge-b").at("connected") == true);

    // Other requests were never held up.
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(http_get(api.port(), "/healthz").result_int() == 200);
    CHECK(seq_of(api.purge(R"({"tags":["after"]})")) == 5);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    const auto e = healthy.next();
    REQUIRE(e);
    CHECK(e->id == "5");
    CHECK(api.process().terminate() == 0);
}
