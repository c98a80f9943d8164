// TLS from the edge to its origins: a real edge in front of origin_sim serving HTTPS
// (--tls-listen, with certificates made at test time by tests/integration/pki.hpp). origin_sim
// also listens on plain HTTP, where the test reads its counters (requests, TLS handshakes and
// resumptions).
#include "tests/integration/cluster.hpp"
#include "tests/integration/pki.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

// origin_sim with an HTTPS listener presenting PKI certificate `cert` (cert.pem / cert.key).
struct TlsOrigin {
    TlsOrigin(const TempDir& dir, const Pki& pki, const std::string& cert)
        : sim(dir, {"--tls-listen", "127.0.0.1:0", "--tls-cert", pki.path(cert + ".pem"),
                    "--tls-key", pki.path(cert + ".key")}),
          tls_port(sim.process().wait_for_port("https on")) {}
    std::string url() const { return "https://127.0.0.1:" + std::to_string(tls_port); }
    std::uint64_t stat(const char* field) {
        const auto res = http_get(sim.port(), "/_stats");
        return boost::json::value_to<std::uint64_t>(boost::json::parse(res.body()).at(field));
    }

    OriginSim sim;
    std::uint16_t tls_port;
};

// A CA, "origin" (origin.test and 127.0.0.1) and "other" (other.test only).
struct OriginTlsFixture {
    TempDir dir;
    Pki pki{dir};
    OriginTlsFixture() {
        pki.issue("origin", {"origin.test", "IP:127.0.0.1"}, 0x4001);
        pki.issue("other", {"other.test"}, 0x4002);
    }
    // An [[origin]] table for url with extra keys (one per line).
    std::string group(const std::string& url, const std::string& keys = "") const {
        return "[[origin]]\nurl = \"" + url + "\"\n" + keys;
    }
    std::string trust_test_ca() const { return "tls_ca = \"" + pki.path("ca.pem") + "\"\n"; }
};

Response get(Edge& edge, const std::string& target) {
    return http_get(edge.port(), target, {{"Host", "www.example.test"}});
}

}  // namespace

TEST_CASE_METHOD(OriginTlsFixture, "origin tls: verified against tls_ca, miss then hit",
                 "[edge][origin_tls]") {
    TlsOrigin origin(dir, pki, "origin");
    Edge edge(dir, "", group(origin.url(), trust_test_ca()));
    auto first = get(edge, "/tls/a.css");
    INFO(first);
    CHECK(first.result_int() == 200);
    CHECK_THAT(header(first, "Cache-Status"), Contains("fwd=uri-miss"));
    CHECK(first.body().size() == 1024);
    auto second = get(edge, "/tls/a.css");
    INFO(second);
    CHECK(second.result_int() == 200);
    CHECK_THAT(header(second, "Cache-Status"), Contains("hit"));
    CHECK(origin.sim.count("/tls/a.css") == 1);
    // The request went over TLS: origin_sim counted a handshake.
    CHECK(origin.stat("tls_handshakes") >= 1);
}

TEST_CASE_METHOD(OriginTlsFixture,
                 "origin tls: --origin https verifies against the system store by default",
                 "[edge][origin_tls]") {
    TlsOrigin origin(dir, pki, "origin");
    Edge edge(dir, origin.url());  // the test CA is not in the system store
    auto r = get(edge, "/tls/unknown-ca");
    INFO(r);
    CHECK(r.result_int() == 502);
    CHECK_THAT(header(r, "Cache-Status"), Contains("detail=\"origin-tls\""));
    CHECK_THAT(r.body(), Contains("origin TLS handshake failed"));
    CHECK(origin.sim.count("/tls/unknown-ca") == 0);
    CHECK(edge.metric("cdn_edge_origin_errors_total{reason=\"tls\"}") >= 1);
    // The log (warning and access-log detail) says why.
    CHECK(eventually([&] {
        return edge.process().log().find(
                   "certificate verify failed: unable to get local issuer "
                   "certificate") != std::string::npos;
    }));
    // The access log is written within its flush interval, not at once.
    CHECK_NOTHROW(edge.process().wait_for_log("detail=\"origin-tls: certificate verify failed"));
}

TEST_CASE_METHOD(OriginTlsFixture,
                 "origin tls: a name mismatch is refused, tls_server_name fixes it",
                 "[edge][origin_tls]") {
    TlsOrigin origin(dir, pki, "other");  // a certificate for other.test only
    SECTION("the URL's IP address is not in the certificate") {
        Edge edge(dir, "", group(origin.url(), trust_test_ca()));
        auto r = get(edge, "/tls/ip");
        INFO(r);
        CHECK(r.result_int() == 502);
        CHECK(eventually(
            [&] { return edge.process().log().find("IP address mismatch") != std::string::npos; }));
    }
    SECTION("host_header names another host") {
        Edge edge(dir, "",
                  group(origin.url(), trust_test_ca() + "host_header = \"origin.test:443\"\n"));
        auto r = get(edge, "/tls/name");
        INFO(r);
        CHECK(r.result_int() == 502);
        CHECK(eventually(
            [&] { return edge.process().log().find("hostname mismatch") != std::string::npos; }));
        CHECK_THAT(edge.process().log(), Contains("server name \"origin.test\""));
    }
    SECTION("tls_server_name is the certificate's name") {
        Edge edge(dir, "",
                  group(origin.url(), trust_test_ca() + "host_header = \"origin.test\"\n" +
                                          "tls_server_name = \"other.test\"\n"));
        auto r = get(edge, "/tls/named");
        INFO(r);
        CHECK(r.result_int() == 200);
        CHECK(origin.sim.count("/tls/named") == 1);
    }
}

TEST_CASE_METHOD(OriginTlsFixture, "origin tls: tls_verify = false accepts an unknown CA",
                 "[edge][origin_tls]") {
    TlsOrigin origin(dir, pki, "other");  // unknown CA and the wrong name: both ignored
    Edge edge(dir, "", group(origin.url(), "tls_verify = false\n"));
    auto r = get(edge, "/tls/unverified");
    INFO(r);
    CHECK(r.result_int() == 200);
    CHECK(origin.sim.count("/tls/unverified") == 1);
    CHECK_THAT(edge.process().log(), Contains("origin[0] (hosts *): tls_verify = false"));
}

TEST_CASE_METHOD(OriginTlsFixture,
                 "origin tls: an unreadable or invalid tls_ca is a config error naming the file",
                 "[edge][origin_tls]") {
    struct Case {
        std::string ca, says;
    };
    const std::vector<Case> cases = {
        {pki.path("missing-ca.pem"), "cannot read CA bundle"},
        {pki.path("origin.key"), "is not a PEM CA bundle"},
    };
    int seq = 0;
    for (const Case& c : cases) {
        const std::string config =
            dir.write("bad-ca-" + std::to_string(seq) + ".toml",
                      "[server]\nlisten = [\"127.0.0.1:0\"]\n" +
                          group("https://127.0.0.1:9", "tls_ca = \"" + c.ca + "\"\n"));
        Process edge({EDGE_BIN, "--config", config},
                     (dir.path() / ("bad-ca-" + std::to_string(seq++) + ".log")).string());
        CHECK(edge.wait_exit(std::chrono::seconds(20)) == 2);
        INFO(edge.log());
        CHECK_THAT(edge.log(), Contains(c.says));
        CHECK_THAT(edge.log(), Contains(c.ca));
        CHECK_THAT(edge.log(), Contains(".toml:5: origin[0].tls_ca"));
    }
}

TEST_CASE_METHOD(OriginTlsFixture,
                 "origin tls: health checks of https origins speak TLS with the group's settings",
                 "[edge][origin_tls]") {
    TlsOrigin good(dir, pki, "origin");
    TlsOrigin bad(dir, pki, "other");  // the name check fails
    const std::string check =
        "[origin.health_check]\npath = \"/hc\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n"
        "rise = 1\nfall = 1\n";
    Edge edge(dir, "",
              group(good.url(), "hosts = [\"good.test\"]\n" + trust_test_ca()) + check +
                  group(bad.url(), "hosts = [\"bad.test\"]\n" + trust_test_ca()) + check);
    const std::string good_up = "cdn_edge_origin_up{origin=\"" + good.url() + "\"}";
    const std::string bad_up = "cdn_edge_origin_up{origin=\"" + bad.url() + "\"}";
    // Several checks answered over TLS (fall = 1: one failure would have marked it down).
    REQUIRE(eventually([&] { return good.sim.count("/hc") >= 3; }));
    CHECK(edge.metric(good_up) == 1);
    CHECK(eventually([&] { return edge.metric(bad_up) == 0; }));
    CHECK(bad.sim.count("/hc") == 0);
    CHECK_THAT(edge.process().log(), Contains("certificate verify failed: IP address mismatch"));
    CHECK(edge.metric(good_up) == 1);
}

TEST_CASE_METHOD(OriginTlsFixture,
                 "origin tls: keep-alive reuses one connection, a new one resumes the session",
                 "[edge][origin_tls]") {
    TlsOrigin origin(dir, pki, "origin");
    Edge edge(dir, "", group(origin.url(), trust_test_ca()));
    // One client connection: its requests stay on one edge worker, whose pool they share.
    HttpClient client(edge.port());
    const cdn::test::Headers host = {{"Host", "www.example.test"}};
    CHECK(client.get("/ka/1", host).result_int() == 200);
    CHECK(client.get("/ka/2", host).result_int() == 200);
    CHECK(origin.sim.count("/ka/1") == 1);
    CHECK(origin.sim.count("/ka/2") == 1);
    CHECK(origin.stat("tls_handshakes") == 1);
    CHECK(origin.stat("tls_resumed") == 0);
    // A 400 from origin_sim closes its connection: the next miss needs a new one, which resumes
    // the session the first one left.
    CHECK(client.get("/ka/3?size=bad", host).result_int() == 400);
    CHECK(client.get("/ka/4", host).result_int() == 200);
    CHECK(origin.stat("tls_handshakes") == 2);
    CHECK(origin.stat("tls_resumed") == 1);
}
