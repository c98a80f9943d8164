// Bad input and bad origins: each gets a clear answer and the edge keeps serving.
#include "tests/integration/cluster.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Fixture {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge{dir, origin.url(),
              "[timeouts]\norigin_response = \"1s\"\nclient_request = \"1s\"\n"
              "[limits]\nmax_header_size = \"4KiB\"\nmax_body_size = \"64KiB\"\n"};

    void still_serving() {
        auto r = http_get(edge.port(), "/still-ok");
        CHECK(r.result_int() == 200);
    }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "a malformed request gets 400 and the edge keeps serving",
                 "[edge][bad-input]") {
    CHECK_THAT(raw_exchange(edge.port(), "GARBAGE\r\n\r\n"), StartsWith("HTTP/1.1 400"));
    CHECK_THAT(raw_exchange(edge.port(), "GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
    CHECK_THAT(raw_exchange(edge.port(), "GET /x HTTP/9.9\r\nHost: a\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
    // HTTP/1.1 without Host, and a Host with characters no host has.
    CHECK_THAT(raw_exchange(edge.port(), "GET /x HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 400"));
    CHECK_THAT(raw_exchange(edge.port(), "GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
    CHECK_THAT(raw_exchange(edge.port(), "GET x HTTP/1.1\r\nHost: a\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
    CHECK_THAT(raw_exchange(edge.port(),
                            "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
    CHECK(edge.metric("cdn_edge_requests_total{outcome=\"error\"}") >= 7);
    still_serving();
}

TEST_CASE_METHOD(Fixture, "oversized headers get 431, an oversized body 413", "[edge][bad-input]") {
    const std::string big(8000, 'a');
    CHECK_THAT(
        raw_exchange(edge.port(), "GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n"),
        StartsWith("HTTP/1.1 431"));
    const std::string body(100 * 1024, 'b');
    CHECK_THAT(raw_exchange(edge.port(), "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                                             std::to_string(body.size()) + "\r\n\r\n" + body),
               StartsWith("HTTP/1.1 413"));
    still_serving();
    CHECK(origin.count("/upload") == 0);
}

TEST_CASE_METHOD(Fixture, "a request that stalls is cut off and logged as 408",
                 "[edge][bad-input]") {
    const auto start = std::chrono::steady_clock::now();
    const std::string reply =
        raw_exchange(edge.port(), "GET /x HTTP/1.1\r\nHost: a\r\n", std::chrono::seconds(5));
    // Closed by the edge after client_request (1 s), well before our 5 s patience ran out.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
    CHECK(reply.empty());
    CHECK_THAT(edge.process().wait_for_log("status=408"), Contains("cache=ERROR"));
    still_serving();
}

TEST_CASE_METHOD(Fixture, "a hanging origin gets 504, a broken one 502", "[edge][origin]") {
    auto hang = http_get(edge.port(), "/slow?fault=hang");
    CHECK(hang.result_int() == 504);
    CHECK(std::string(hang["X-Cache"]) == "ERROR");
    CHECK_THAT(std::string(hang["Cache-Status"]), Contains("origin-timeout"));
    auto reset = http_get(edge.port(), "/reset?fault=reset");
    CHECK(reset.result_int() == 502);
    // The body is relayed as it arrives, so an origin that stops half way leaves the client
    // with a short body and a closed connection (as any proxy must), and nothing is stored.
    const std::string trunc = "/trunc?fault=truncate&size=100000";
    const std::string raw = raw_exchange(
        edge.port(), "GET " + trunc + " HTTP/1.1\r\nHost: a\r\n\r\n", std::chrono::seconds(5));
    CHECK_THAT(raw, StartsWith("HTTP/1.1 200"));
    CHECK(raw.size() < 100000);
    CHECK_THROWS(http_get(edge.port(), trunc));
    CHECK(origin.count(trunc) == 2);
    CHECK(edge.metric("cdn_edge_origin_errors_total{reason=\"timeout\"}") == 1);
    still_serving();
}

TEST_CASE("an unreachable origin gets 502", "[edge][origin]") {
    TempDir dir;
    // Bind and close a port so nothing listens there.
    std::uint16_t dead_port = 0;
    {
        OriginSim tmp(dir);
        dead_port = tmp.port();
        tmp.process().terminate();
    }
    Edge edge(dir, "http://127.0.0.1:" + std::to_string(dead_port));
    auto r = http_get(edge.port(), "/anything");
    CHECK(r.result_int() == 502);
    CHECK_THAT(std::string(r["Cache-Status"]), Contains("origin-unreachable"));
}

TEST_CASE_METHOD(Fixture, "other methods pass through with their body, 5xx is not cached",
                 "[edge][origin]") {
    HttpClient c(edge.port());
    auto post = c.request("POST", "/api/items", {{"Content-Type", "text/plain"}}, "hello-body");
    CHECK(post.result_int() == 200);
    CHECK(std::string(post["X-Cache"]) == "PASS");
    CHECK(std::string(post["X-Method"]) == "POST");
    CHECK(post.body() == "hello-body");
    auto del = c.request("DELETE", "/api/items/1");
    CHECK(std::string(del["X-Method"]) == "DELETE");
    CHECK(origin.count("/api/items") == 1);
    c.get("/err?status=500&cc=");
    CHECK(c.get("/err?status=500&cc=").result_int() == 500);
    CHECK(origin.count("/err?status=500&cc=") == 2);
}

TEST_CASE_METHOD(Fixture, "hop-by-hop fields stay on their hop, Via and X-Forwarded-For are added",
                 "[edge][origin]") {
    auto r = http_get(edge.port(), "/_echo",
                      {{"Connection", "keep-alive, X-Secret-Hop"},
                       {"X-Secret-Hop", "1"},
                       {"Keep-Alive", "timeout=5"},
                       {"X-End-To-End", "yes"},
                       {"X-Forwarded-For", "203.0.113.9"}});
    REQUIRE(r.result_int() == 200);
    const auto headers = boost::json::parse(r.body()).at("headers").as_object();
    auto has = [&](const char* n) {
        for (const auto& [k, v] : headers)
            if (boost::beast::iequals(std::string_view(k), n)) return true;
        return false;
    };
    auto value = [&](const char* n) -> std::string {
        for (const auto& [k, v] : headers)
            if (boost::beast::iequals(std::string_view(k), n))
                return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
        return {};
    };
    CHECK_FALSE(has("X-Secret-Hop"));
    CHECK_FALSE(has("Keep-Alive"));
    CHECK(value("X-End-To-End") == "yes");
    CHECK_THAT(value("Via"), Contains("1.1 test-edge"));
    CHECK(value("X-Forwarded-For") == "203.0.113.9, 127.0.0.1");
}

TEST_CASE("keep-alive: many requests on one connection, HTTP/1.0 closes", "[edge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient c(edge.port());
    for (int i = 0; i < 50; ++i) {
        c.get("/k" + std::to_string(i % 5));
        REQUIRE(c.connected());
    }
    const std::string reply =
        raw_exchange(edge.port(), "GET /k1 HTTP/1.0\r\nHost: a\r\n\r\n", std::chrono::seconds(5));
    CHECK_THAT(reply, StartsWith("HTTP/1.1 200"));
    CHECK_THAT(reply, Contains("Connection: close"));
}

TEST_CASE("admin: /healthz and /metrics", "[edge][admin]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    auto health = http_get(edge.admin_port(), "/healthz");
    CHECK(health.result_int() == 200);
    auto metrics = http_get(edge.admin_port(), "/metrics");
    CHECK(metrics.result_int() == 200);
    for (const char* m :
         {"cdn_edge_requests_total", "cdn_edge_bytes_sent_total", "cdn_edge_origin_fetches_total",
          "cdn_edge_origin_errors_total", "cdn_edge_request_duration_seconds_bucket",
          "cdn_edge_cache_bytes", "cdn_edge_cache_objects"})
        CHECK_THAT(metrics.body(), Contains(m));
    CHECK(http_get(edge.admin_port(), "/nope").result_int() == 404);
}

TEST_CASE("one access-log line per request", "[edge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    http_get(edge.port(), "/logged?x=1");
    const std::string line = edge.process().wait_for_log("url=\"/logged?x=1\"");
    CHECK_THAT(line, Contains("status=200"));
    CHECK_THAT(line, Contains("cache=MISS"));
    CHECK_THAT(line, Contains("dur_ms="));
}

TEST_CASE("start-up: --help, bad config, bad flags", "[edge][config]") {
    TempDir dir;
    auto help = run_command({EDGE_BIN, "--help"});
    CHECK(help.status == 0);
    CHECK_THAT(help.out, Contains("--origin"));

    const std::string cfg =
        dir.write("bad.toml", "[server]\nlisten = \"127.0.0.1:0\"\n\n[cache]\nmemory = \"lots\"\n");
    Process bad({EDGE_BIN, "--config", cfg}, (dir.path() / "bad.log").string());
    CHECK(bad.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(bad.log(), Contains("bad.toml:5: cache.memory"));

    Process no_origin({EDGE_BIN, "--listen", "127.0.0.1:0"}, (dir.path() / "no.log").string());
    CHECK(no_origin.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(no_origin.log(), Contains("no origin"));

    Process bad_flag({EDGE_BIN, "--listen", "nowhere", "--origin", "http://127.0.0.1:1"},
                     (dir.path() / "flag.log").string());
    CHECK(bad_flag.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(bad_flag.log(), Contains("--listen"));
}

TEST_CASE("edge --check validates a config without starting, and names what is wrong",
          "[edge][config]") {
    TempDir dir;
    const std::string good = dir.write(
        "good.toml",
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[[origin]]\nurl = \"http://127.0.0.1:9\"\n");
    const auto ok = run_command({EDGE_BIN, "--config", good, "--check"});
    INFO(ok.out);
    CHECK(ok.status == 0);
    CHECK_THAT(ok.out, Contains("configuration is valid: 1 http listener(s)"));
    CHECK_THAT(ok.out, Contains("1 origin group(s) with 1 server(s)"));
    CHECK_THAT(ok.out, !Contains("http on"));  // nothing was started

    const std::string bad =
        dir.write("bad.toml", "[server]\nlisten = [\"127.0.0.1:0\"]\n[http2]\nreset_rate = 0\n");
    Process no({EDGE_BIN, "--config", bad, "--check", "--origin", "http://127.0.0.1:9"},
               (dir.path() / "check.log").string());
    CHECK(no.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(no.log(), Contains("bad.toml:4: http2.reset_rate"));
}

TEST_CASE("SIGTERM stops the edge cleanly", "[edge]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    http_get(edge.port(), "/before-stop");
    CHECK(edge.process().terminate() == 0);
    CHECK(origin.process().terminate() == 0);
}

TEST_CASE_METHOD(Fixture, "a client cannot break or forge access-log lines", "[edge][bad-input]") {
    raw_exchange(edge.port(),
                 "GET /a\"b\\c HTTP/1.1\r\nHost: x\" status=200 y\r\nConnection: close\r\n\r\n",
                 std::chrono::seconds(5));
    const std::string line = edge.process().wait_for_log("url=\"/a\\\"b\\\\c\"");
    CHECK_THAT(edge.process().log(), Contains("host=\"x\\\" status=200 y\""));
    CHECK_THAT(line, Contains("status=400"));
}
