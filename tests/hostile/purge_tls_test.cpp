// purge_api over TLS, with real processes: purge_api with a [tls] listener (a test CA and
// certificates made at test time, tests/integration/pki.hpp), edges with `[purge] api =
// "https://..."`. An edge that trusts the CA receives purges end to end (stream and acks over
// TLS); one that trusts another CA, or checks another name, does not connect and says why (once,
// not once per retry); plain HTTP on the TLS port gets no HTTP answer; a certificate reload
// (SIGHUP) applies to new connections. curl and openssl s_client play the operator.
#include "tests/integration/cluster.hpp"
#include "tests/integration/pki.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <signal.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;
namespace json = boost::json;

namespace {

const std::string kHost = "www.example.com";
const std::string kStreamToml = "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n";

std::string cache_of(Edge& e, const std::string& target) {
    const Response r = http_get(e.port(), target, {{"Host", kHost}});
    return r.result_int() == 200 ? header(r, "X-Cache")
                                 : "status " + std::to_string(r.result_int());
}

double metric_or(std::uint16_t port, const std::string& sample) {
    return scrape_metric(port, sample).value_or(-1);
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// A test CA with "purge" (purge.test and 127.0.0.1) and "named" (purge.test only), and purge_api
// serving HTTPS with one of them (plain HTTP stays on loopback, where the test reads metrics).
struct TlsFixture {
    explicit TlsFixture(const std::string& cert = "purge") {
        pki.issue("purge", {"purge.test", "IP:127.0.0.1"}, 0x5001);
        pki.issue("named", {"purge.test"}, 0x5002);
        api = std::make_unique<PurgeApi>(
            dir, kStreamToml + "[tls]\nlisten = \"127.0.0.1:0\"\n" + "cert = \"" +
                     pki.path(cert + ".pem") + "\"\nkey = \"" + pki.path(cert + ".key") + "\"\n");
        tls_port = api->process().wait_for_port("purge_api: https on");
    }
    std::string https_url() const { return "https://127.0.0.1:" + std::to_string(tls_port); }
    // An edge following purge_api over https as `id`, with extra [purge] keys.
    std::unique_ptr<Edge> edge(const std::string& id, const std::string& keys) {
        return std::make_unique<Edge>(dir, origin.url(),
                                      "[purge]\napi = \"" + https_url() + "\"\ntoken = \"" +
                                          kEdgeToken + "\"\nedge_id = \"" + id + "\"\n" + keys);
    }
    std::string trust(const Pki& p) const { return "tls_ca = \"" + p.path("ca.pem") + "\"\n"; }
    // curl against purge_api's HTTPS port, trusting the test CA: the body, then the status code.
    CommandResult curl(const std::string& target, const std::string& token,
                       const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv = {"curl",       "-s",
                                         "--max-time", "10",
                                         "-w",         "\n%{http_code}",
                                         "--cacert",   pki.path("ca.pem"),
                                         "-H",         "Authorization: Bearer " + token};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(https_url() + target);
        return run_command(argv);
    }
    std::uint64_t api_applied(const std::string& id) {
        const CommandResult r = curl("/v1/edges", kAdminToken);
        const std::string body = r.out.substr(0, r.out.rfind('\n'));
        json::error_code ec;
        const json::value v = json::parse(body, ec);
        if (ec || !v.is_array()) return 0;
        for (const auto& e : v.as_array())
            if (e.at("edge").as_string() == id && e.at("connected").as_bool())
                return e.at("last_applied_seq").to_number<std::uint64_t>();
        return 0;
    }

    TempDir dir;
    Pki pki{dir};
    OriginSim origin{dir};
    std::unique_ptr<PurgeApi> api;
    std::uint16_t tls_port = 0;
};

}  // namespace

TEST_CASE("purge tls: an edge that trusts purge_api's CA gets purges end to end over https",
          "[hostile][purge_tls]") {
    TlsFixture f;
    auto edge = f.edge("edge-a", f.trust(f.pki));
    edge->process().wait_for_log("purge stream: caught up");
    // The same through flags: --purge-api https://... --purge-tls-ca.
    Edge flagged(f.dir, f.origin.url(), "",
                 {"--purge-api", f.https_url(), "--purge-token", kEdgeToken, "--purge-tls-ca",
                  f.pki.path("ca.pem")});
    flagged.process().wait_for_log("purge stream: caught up");
    CHECK(edge->metric("cdn_edge_purge_stream_connected") == 1);
    CHECK_THAT(f.api->process().log(),
               Contains("stream: edge edge-a connected from") && Contains("(tls)"));

    for (Edge* e : {edge.get(), &flagged}) {
        CHECK(cache_of(*e, "/tls/a.txt") == "MISS");
        CHECK(cache_of(*e, "/tls/a.txt") == "HIT");
    }
    // The operator purges over https too (curl, the test CA).
    const CommandResult r = f.curl("/v1/purge", kAdminToken,
                                   {"-H", "Content-Type: application/json", "-d",
                                    R"({"files":["http://)" + kHost + R"(/tls/a.txt"]})"});
    INFO(r.out);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Contains("\"success\":true") && Contains("\n200"));
    for (Edge* e : {edge.get(), &flagged})
        CHECK(eventually([&] { return cache_of(*e, "/tls/a.txt") == "MISS"; }));
    // The acknowledgements came back over TLS as well.
    CHECK(eventually([&] { return f.api_applied("edge-a") == 1; }));
    CHECK(eventually([&] { return f.api_applied("test-edge") == 1; }));
    CHECK(metric_or(f.api->port(), "cdn_purge_api_tls_handshakes_total") >= 4);
    CHECK(edge->metric(R"(cdn_edge_purge_stream_failures_total{reason="tls"})") == 0);
}

TEST_CASE("purge tls: an edge that trusts another CA does not connect and says why, once",
          "[hostile][purge_tls]") {
    TlsFixture f;
    TempDir other_dir;
    Pki other(other_dir);
    auto edge = f.edge("edge-a", f.trust(other));
    edge->process().wait_for_log("certificate verify failed");
    // It keeps retrying with backoff (100 ms, 200 ms, 400 ms...), each attempt counted...
    REQUIRE(eventually(
        [&] { return edge->metric(R"(cdn_edge_purge_stream_failures_total{reason="tls"})") >= 4; },
        std::chrono::seconds(15)));
    CHECK(edge->metric("cdn_edge_purge_stream_connected") == 0);
    // ... and logged once (the same reason again is held back for 30 s); the registration,
    // which goes to the same purge_api with the same TLS settings, says so once too.
    const std::string log = edge->process().log();
    INFO(log);
    CHECK(occurrences(log, "purge stream: TLS handshake with") == 1);
    CHECK(occurrences(log, "registry: TLS handshake with") == 1);
    CHECK_THAT(log, Contains("certificate verify failed: unable to get local issuer certificate"));
    // purge_api saw the handshakes fail and no stream open.
    CHECK(metric_or(f.api->port(), "cdn_purge_api_tls_handshake_failures_total") >= 1);
    CHECK(metric_or(f.api->port(), "cdn_purge_api_edges_connected") == 0);
    // A purge meanwhile does not reach it.
    CHECK(cache_of(*edge, "/x.txt") == "MISS");
    CHECK(cache_of(*edge, "/x.txt") == "HIT");
    REQUIRE(f.api->purge(R"({"purge_everything":true})").result_int() == 200);
    CHECK(cache_of(*edge, "/x.txt") == "HIT");
}

TEST_CASE("purge tls: the name checked is the URL's host unless tls_server_name says otherwise",
          "[hostile][purge_tls]") {
    TlsFixture f("named");  // a certificate for purge.test only, not 127.0.0.1
    auto by_ip = f.edge("edge-a", f.trust(f.pki));
    auto by_name = f.edge("edge-b", f.trust(f.pki) + "tls_server_name = \"purge.test\"\n");
    by_name->process().wait_for_log("purge stream: caught up");
    by_ip->process().wait_for_log("certificate verify failed");
    CHECK_THAT(by_ip->process().log(), Contains("server name \"127.0.0.1\""));
    CHECK(by_ip->metric("cdn_edge_purge_stream_connected") == 0);
    CHECK(by_name->metric("cdn_edge_purge_stream_connected") == 1);
}

TEST_CASE("purge tls: plain HTTP on the TLS port gets no HTTP answer and purges nothing",
          "[hostile][purge_tls]") {
    TlsFixture f;
    const std::string body = R"({"purge_everything":true})";
    const std::string request =
        "POST /v1/purge HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
        "Bearer " +
        std::string(kAdminToken) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    const std::string answer = raw_exchange(f.tls_port, request);
    INFO(answer);
    CHECK(answer.find("HTTP/1.") == std::string::npos);
    // curl with http:// on the TLS port fails too.
    const CommandResult c =
        run_command({"curl", "-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://127.0.0.1:" + std::to_string(f.tls_port) + "/healthz"});
    CHECK(c.out == "000");
    CHECK(eventually([&] {
        return metric_or(f.api->port(), "cdn_purge_api_tls_handshake_failures_total") >= 2;
    }));
    CHECK(metric_or(f.api->port(), "cdn_purge_api_last_seq") == 0);
    // The same request over TLS works (the port is alive).
    const CommandResult ok = f.curl("/healthz", kAdminToken);
    CHECK(ok.out == "ok\n\n200");
}

TEST_CASE("purge tls: SIGHUP reloads the certificate for new connections, a bad one is kept out",
          "[hostile][purge_tls]") {
    TlsFixture f;
    auto edge = f.edge("edge-a", f.trust(f.pki));
    edge->process().wait_for_log("purge stream: caught up");
    auto serial = [&] {
        return sh("openssl s_client -connect 127.0.0.1:" + std::to_string(f.tls_port) +
                  " -servername purge.test </dev/null 2>/dev/null | openssl x509 -noout -serial")
            .out;
    };
    REQUIRE_THAT(serial(), Contains("serial=5001"));
    // A new certificate in place of the old one (same files), then SIGHUP.
    f.pki.issue("next", {"purge.test", "IP:127.0.0.1"}, 0x5003);
    std::filesystem::copy_file(f.pki.path("next.pem"), f.pki.path("purge.pem"),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(f.pki.path("next.key"), f.pki.path("purge.key"),
                               std::filesystem::copy_options::overwrite_existing);
    ::kill(f.api->process().pid(), SIGHUP);
    f.api->process().wait_for_log("tls: reloaded");
    CHECK_THAT(serial(), Contains("serial=5003"));
    // A file that does not load is refused; the current certificate stays.
    f.dir.write("junk.pem", "not a certificate\n");
    std::filesystem::copy_file(f.dir.path() / "junk.pem", f.pki.path("purge.pem"),
                               std::filesystem::copy_options::overwrite_existing);
    ::kill(f.api->process().pid(), SIGHUP);
    f.api->process().wait_for_log("tls: reload failed");
    CHECK_THAT(serial(), Contains("serial=5003"));
    CHECK(f.api->process().running());
    // The edge's stream lived through it.
    CHECK(edge->metric("cdn_edge_purge_stream_connected") == 1);
    REQUIRE(f.api->purge(R"({"purge_everything":true})").result_int() == 200);
    CHECK(eventually([&] { return f.api_applied("edge-a") == 1; }));
}

TEST_CASE("purge tls: a certificate that does not load stops purge_api at start-up",
          "[hostile][purge_tls]") {
    TempDir dir;
    Pki pki(dir);
    pki.issue("a", {"purge.test"}, 0x5101);
    pki.issue("b", {"purge.test"}, 0x5102);
    pki.issue_expired("old");
    auto start = [&](const std::string& cert, const std::string& key) {
        Process p(
            {PURGE_API_BIN, "--data-dir", (dir.path() / "data").string(), "--listen", "127.0.0.1:0",
             "--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key},
            (dir.path() / "bad.log").string());
        const int status = p.wait_exit(std::chrono::seconds(10));
        return std::pair{status, p.log()};
    };
    auto [s1, l1] = start(pki.path("a.pem"), pki.path("b.key"));
    CHECK(s1 == 2);
    CHECK_THAT(l1, Contains("tls.key") && Contains("does not match the certificate"));
    auto [s2, l2] = start(pki.path("old.pem"), pki.path("old.key"));
    CHECK(s2 == 2);
    CHECK_THAT(l2, Contains("tls.cert") && Contains("certificate expired"));
    auto [s3, l3] = start("/nonexistent/cert.pem", pki.path("a.key"));
    CHECK(s3 == 2);
    CHECK_THAT(l3, Contains("tls.cert: /nonexistent/cert.pem: cannot read"));
}
