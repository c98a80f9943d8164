// The TLS listeners of a real edge, driven by curl and openssl s_client as a user would. The
// certificates are made at test time with the openssl CLI: a CA, two host certificates with
// subjectAltName (a.test, *.a.test; b.test, *.b.test) and one that expired in 2020.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/pki.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

struct TlsFixture {
    TempDir dir;
    Pki pki{dir};
    OriginSim origin{dir};
    std::unique_ptr<Edge> edge;
    std::uint16_t tls_port = 0;

    // tls_extra: more keys for the [tls] table (e.g. alpn).
    explicit TlsFixture(const std::string& tls_extra = "") {
        pki.issue("a", {"a.test", "*.a.test"}, 0x1001);
        pki.issue("b", {"b.test", "*.b.test"}, 0x2001);
        const std::string toml = "[tls]\nlisten = [\"127.0.0.1:0\"]\nhandshake_timeout = \"1s\"\n" +
                                 tls_extra + "[[tls.certificates]]\ncert = \"" + pki.path("a.pem") +
                                 "\"\nkey = \"" + pki.path("a.key") +
                                 "\"\n[[tls.certificates]]\ncert = \"" + pki.path("b.pem") +
                                 "\"\nkey = \"" + pki.path("b.key") + "\"\n";
        edge = std::make_unique<Edge>(dir, origin.url(), toml);
        tls_port = edge->process().wait_for_port("https on");
    }

    std::string port() const { return std::to_string(tls_port); }

    // curl over https to host (resolved to the edge), headers and body on stdout.
    CommandResult curl(const std::string& host, const std::string& target,
                       const std::string& extra = "") const {
        return sh("curl -sS -i --max-time 10 --cacert " + pki.path("ca.pem") + " --resolve " +
                  host + ":" + port() + ":127.0.0.1 " + extra + " https://" + host + ":" + port() +
                  target);
    }

    // openssl s_client against the edge; stdin is empty, so it quits after the handshake.
    CommandResult s_client(const std::string& args) const {
        return sh("openssl s_client -connect 127.0.0.1:" + port() + " -CAfile " +
                  pki.path("ca.pem") + " " + args + " </dev/null");
    }

    // A TLS 1.3 GET of path with s_client (session_args: -sess_out or -sess_in FILE). Tickets
    // arrive after the handshake, so the client reads the whole reply before it saves one.
    CommandResult tls13_get(const std::string& path, const std::string& session_args) const {
        return sh("printf 'GET " + path +
                  " HTTP/1.1\\r\\nHost: a.test\\r\\nConnection: close\\r\\n\\r\\n' | "
                  "openssl s_client -connect 127.0.0.1:" +
                  port() + " -servername a.test -tls1_3 -ign_eof -CAfile " + pki.path("ca.pem") +
                  " " + session_args);
    }

    // Serial and subject of the certificate the edge presents for a server name.
    std::string presented(const std::string& servername_args) const {
        return sh("openssl s_client -connect 127.0.0.1:" + port() + " " + servername_args +
                  " </dev/null 2>/dev/null | openssl x509 -noout -serial -subject")
            .out;
    }

    double metric(const std::string& sample) { return edge->metric(sample); }
};

}  // namespace

TEST_CASE_METHOD(TlsFixture, "tls: miss then hit over https, verified against the test CA",
                 "[edge][tls]") {
    auto first = curl("a.test", "/static/logo.png");
    INFO(first.out);
    REQUIRE(first.status == 0);
    CHECK_THAT(first.out, Contains("HTTP/1.1 200"));
    CHECK_THAT(first.out, Contains("X-Cache: MISS"));
    auto second = curl("a.test", "/static/logo.png");
    INFO(second.out);
    REQUIRE(second.status == 0);
    CHECK_THAT(second.out, Contains("X-Cache: HIT"));
    CHECK(origin.count("/static/logo.png") == 1);
    // https keys are their own: the plain-HTTP copy of another object does not answer https.
    REQUIRE(http_get(edge->port(), "/static/plain.css", {{"Host", "a.test"}}).result_int() == 200);
    CHECK_THAT(curl("a.test", "/static/plain.css").out, Contains("X-Cache: MISS"));
    CHECK(metric("cdn_edge_tls_handshakes_total{version=\"1.3\"}") >= 3);
    // The access log says which protocol and TLS version each request came over.
    CHECK_THAT(edge->process().wait_for_log("url=\"/static/logo.png\" "),
               Contains("protocol=HTTP/1.1 ") && Contains(" tls=TLSv1.3 "));
}

TEST_CASE_METHOD(TlsFixture,
                 "tls: SNI picks the certificate, unknown or absent SNI gets the default",
                 "[edge][tls]") {
    CHECK_THAT(presented("-servername a.test"), Contains("serial=1001"));
    CHECK_THAT(presented("-servername b.test"), Contains("serial=2001"));
    CHECK_THAT(presented("-servername WWW.B.TEST"), Contains("serial=2001"));  // wildcard, any case
    CHECK_THAT(presented("-servername x.y.b.test"), Contains("serial=1001"));  // one label only
    CHECK_THAT(presented("-servername unknown.example"), Contains("serial=1001"));
    CHECK_THAT(presented("-noservername"), Contains("serial=1001"));
    // And the chain verifies for the name asked for.
    auto b = s_client("-servername b.test -verify_hostname b.test");
    INFO(b.out);
    CHECK_THAT(b.out, Contains("Verify return code: 0 (ok)"));
    auto curl_b = curl("www.b.test", "/static/b.txt");
    INFO(curl_b.out);
    CHECK(curl_b.status == 0);
    CHECK_THAT(curl_b.out, Contains("HTTP/1.1 200"));
}

TEST_CASE_METHOD(TlsFixture,
                 "tls: ALPN negotiates http/1.1, and a client offering only h2 still "
                 "gets a handshake",
                 "[edge][tls]") {
    auto h1 = s_client("-servername a.test -alpn http/1.1");
    INFO(h1.out);
    CHECK_THAT(h1.out, Contains("ALPN protocol: http/1.1"));
    auto h2only = s_client("-servername a.test -alpn h2");
    INFO(h2only.out);
    CHECK_THAT(h2only.out, Contains("No ALPN negotiated"));
    CHECK_THAT(h2only.out, Contains("Verify return code: 0 (ok)"));
    auto curl_h11 = curl("a.test", "/static/alpn.txt", "--http1.1 -v");
    INFO(curl_h11.out);
    CHECK(curl_h11.status == 0);
    CHECK_THAT(curl_h11.out, Contains("http/1.1"));
    auto curl_h2 =
        curl("a.test", "/static/alpn.txt", "--http2 -o /dev/null -w 'v=%{http_version}'");
    INFO(curl_h2.out);
    CHECK(curl_h2.status == 0);
    CHECK_THAT(curl_h2.out, Contains("v=1.1"));  // fell back to HTTP/1.1
}

TEST_CASE_METHOD(TlsFixture, "tls: only TLS 1.2 and 1.3 are spoken", "[edge][tls]") {
    auto v12 = s_client("-servername a.test -tls1_2");
    INFO(v12.out);
    CHECK(v12.status == 0);
    CHECK_THAT(v12.out, Contains("TLSv1.2"));
    CHECK_THAT(v12.out, Contains("ECDHE"));
    auto v13 = s_client("-servername a.test -tls1_3");
    INFO(v13.out);
    CHECK(v13.status == 0);
    CHECK_THAT(v13.out, Contains("TLSv1.3"));
    // SECLEVEL=0 lets this client really try the old versions; the edge refuses them.
    for (const char* old : {"-tls1_1", "-tls1"}) {
        auto r = s_client(std::string("-servername a.test -cipher DEFAULT@SECLEVEL=0 ") + old);
        INFO(old << "\n" << r.out);
        CHECK(r.status != 0);
    }
    CHECK(metric("cdn_edge_tls_handshake_failures_total{reason=\"version\"}") >= 2);
    CHECK(metric("cdn_edge_tls_handshakes_total{version=\"1.2\"}") >= 1);
}

TEST_CASE_METHOD(TlsFixture, "tls: sessions resume, with a session id (1.2) and a ticket (1.3)",
                 "[edge][tls]") {
    const std::string sess12 = pki.path("s12.pem");
    auto first = s_client("-servername a.test -tls1_2 -sess_out " + sess12);
    INFO(first.out);
    REQUIRE(first.status == 0);
    CHECK_THAT(first.out, Contains("New, TLSv1.2"));
    auto again = s_client("-servername a.test -tls1_2 -sess_in " + sess12);
    INFO(again.out);
    CHECK_THAT(again.out, Contains("Reused, TLSv1.2"));

    const std::string sess13 = pki.path("s13.pem");
    auto t1 = tls13_get("/static/r.txt", "-sess_out " + sess13);
    INFO(t1.out);
    REQUIRE(t1.status == 0);
    auto t2 = tls13_get("/static/r.txt", "-sess_in " + sess13);
    INFO(t2.out);
    CHECK_THAT(t2.out, Contains("Reused, TLSv1.3"));
    CHECK_THAT(t2.out, Contains("HTTP/1.1 200"));
}

namespace {
struct TlsRotatingFixture : TlsFixture {
    TlsRotatingFixture() : TlsFixture("ticket_key_rotation = \"1s\"\n") {}
};
}  // namespace

TEST_CASE_METHOD(TlsRotatingFixture,
                 "tls: ticket keys rotate, a ticket resumes for two periods, then no more",
                 "[edge][tls]") {
    const std::string sess = pki.path("rot.pem");
    auto issued = tls13_get("/static/rot.txt", "-sess_out " + sess);
    INFO(issued.out);
    REQUIRE(issued.status == 0);
    auto same_period = tls13_get("/static/rot.txt", "-sess_in " + sess);
    INFO(same_period.out);
    CHECK_THAT(same_period.out, Contains("Reused, TLSv1.3"));
    // One rotation later the key is the previous one: still accepted (and the ticket renewed).
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    auto next_period = tls13_get("/static/rot.txt", "-sess_in " + sess);
    INFO(next_period.out);
    CHECK_THAT(next_period.out, Contains("Reused, TLSv1.3"));
    // Two rotations later the key is gone: a full handshake, and the request still works.
    std::this_thread::sleep_for(std::chrono::milliseconds(2300));
    auto expired = tls13_get("/static/rot.txt", "-sess_in " + sess);
    INFO(expired.out);
    CHECK_THAT(expired.out, Contains("New, TLSv1.3"));
    CHECK_THAT(expired.out, Contains("HTTP/1.1 200"));
}

TEST_CASE_METHOD(TlsFixture, "tls: garbage before the handshake is refused and the edge lives on",
                 "[edge][tls]") {
    // A TLS record carrying nonsense: a fatal alert (unexpected_message), then the close.
    const std::string alert = raw_exchange(
        tls_port, std::string("\x16\x03\x01\x00\x04\xff\xff\xff\xff", 9), std::chrono::seconds(5));
    REQUIRE(alert.size() >= 7);
    CHECK(static_cast<unsigned char>(alert[0]) == 0x15);  // alert record
    CHECK(static_cast<unsigned char>(alert[5]) == 2);     // fatal
    // Not TLS at all (plain HTTP, random bytes): OpenSSL sends no alert to a peer that does
    // not speak TLS; the connection is closed (raw_exchange returns before its 5 s bound).
    std::string random(1024, '\0');
    for (std::size_t i = 0; i < random.size(); ++i)
        random[i] = static_cast<char>((i * 131 + 7) & 0xff);
    for (const std::string& junk :
         {std::string("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), random}) {
        const auto started = std::chrono::steady_clock::now();
        raw_exchange(tls_port, junk, std::chrono::seconds(5));
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(4));
    }
    CHECK(metric("cdn_edge_tls_handshake_failures_total{reason=\"protocol\"}") >= 3);
    auto after = curl("a.test", "/static/after.txt");
    INFO(after.out);
    CHECK(after.status == 0);
    CHECK_THAT(after.out, Contains("HTTP/1.1 200"));
}

TEST_CASE_METHOD(TlsFixture, "tls: a client that never starts the handshake is closed on timeout",
                 "[edge][tls]") {
    const auto started = std::chrono::steady_clock::now();
    const std::string reply = raw_exchange(tls_port, "", std::chrono::seconds(8));
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(reply.empty());
    CHECK(took >= std::chrono::milliseconds(900));
    CHECK(took < std::chrono::seconds(5));  // handshake_timeout = 1s, not the 8 s quiet bound
    CHECK(eventually(
        [&] { return metric("cdn_edge_tls_handshake_failures_total{reason=\"timeout\"}") >= 1; }));
    auto after = curl("a.test", "/static/after-timeout.txt");
    INFO(after.out);
    CHECK(after.status == 0);
}

TEST_CASE_METHOD(TlsFixture, "tls: SIGHUP reloads certificates, a bad file keeps the old ones",
                 "[edge][tls]") {
    CHECK_THAT(presented("-servername b.test"), Contains("serial=2001"));
    pki.issue("b2", {"b.test", "*.b.test"}, 0x2002);
    std::filesystem::copy_file(pki.path("b2.pem"), pki.path("b.pem"),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(pki.path("b2.key"), pki.path("b.key"),
                               std::filesystem::copy_options::overwrite_existing);
    REQUIRE(::kill(edge->process().pid(), SIGHUP) == 0);
    edge->process().wait_for_log("reloaded 2 certificate(s)");
    CHECK_THAT(presented("-servername b.test"), Contains("serial=2002"));
    CHECK_THAT(presented("-servername a.test"), Contains("serial=1001"));

    // A broken certificate file: the reload is refused and the current contexts stay.
    dir.write("b.pem", "not a certificate");
    REQUIRE(::kill(edge->process().pid(), SIGHUP) == 0);
    edge->process().wait_for_log("reload failed");
    CHECK_THAT(edge->process().log(), Contains(pki.path("b.pem")));
    CHECK_THAT(presented("-servername b.test"), Contains("serial=2002"));
    auto after = curl("b.test", "/static/reload.txt");
    INFO(after.out);
    CHECK(after.status == 0);
    CHECK(edge->process().running());
}

TEST_CASE("tls: a bad certificate at start-up is a config error naming the file", "[edge][tls]") {
    TempDir dir;
    Pki pki(dir);
    pki.issue("good", {"good.test"}, 0x3001);
    pki.issue("other", {"other.test"}, 0x3002);
    pki.issue_expired("old");
    struct Case {
        std::string cert, key, says;
    };
    const std::vector<Case> cases = {
        {pki.path("old.pem"), pki.path("old.key"), "expired"},
        {pki.path("missing.pem"), pki.path("good.key"), "cannot read"},
        {pki.path("good.pem"), pki.path("other.key"), "does not match"},
        {pki.path("good.key"), pki.path("good.key"), "not a PEM certificate"},
    };
    int seq = 0;
    for (const Case& c : cases) {
        const std::string log =
            (dir.path() / ("bad-start-" + std::to_string(seq++) + ".log")).string();
        Process edge({EDGE_BIN, "--listen", "127.0.0.1:0", "--origin", "http://127.0.0.1:9",
                      "--tls-listen", "127.0.0.1:0", "--tls-cert", c.cert, "--tls-key", c.key},
                     log);
        INFO(c.says << "\n" << edge.log());
        CHECK(edge.wait_exit(std::chrono::seconds(20)) == 2);
        CHECK_THAT(edge.log(), Contains(c.says));
        CHECK_THAT(edge.log(), Contains(c.says == "does not match" ? c.key : c.cert));
    }
}

namespace {
struct TlsH2Fixture : TlsFixture {
    TlsH2Fixture() : TlsFixture("alpn = [\"h2\", \"http/1.1\"]\n") {}
};
}  // namespace

TEST_CASE_METHOD(TlsH2Fixture,
                 "tls: with alpn h2 the same cache answers HTTP/2, and HTTP/1.1 clients still work",
                 "[edge][tls][http2]") {
    auto alpn = s_client("-servername a.test -alpn h2,http/1.1");
    INFO(alpn.out);
    CHECK_THAT(alpn.out, Contains("ALPN protocol: h2"));
    auto first = curl("a.test", "/static/h2.txt", "--http2 -w 'v=%{http_version}'");
    INFO(first.out);
    REQUIRE(first.status == 0);
    CHECK_THAT(first.out, Contains("HTTP/2 200"));
    CHECK_THAT(first.out, Contains("x-cache: MISS"));
    CHECK_THAT(first.out, Contains("v=2"));
    CHECK_THAT(edge->process().wait_for_log("url=\"/static/h2.txt\" protocol=HTTP/2.0 "),
               Contains(" tls=TLSv1.3 "));
    auto second = curl("a.test", "/static/h2.txt", "--http2");
    INFO(second.out);
    CHECK_THAT(second.out, Contains("x-cache: HIT"));
    // An HTTP/1.1 client over TLS gets the same object from the same cache.
    auto h11 = curl("a.test", "/static/h2.txt", "--http1.1");
    INFO(h11.out);
    CHECK_THAT(h11.out, Contains("HTTP/1.1 200"));
    CHECK_THAT(h11.out, Contains("X-Cache: HIT"));
    CHECK(origin.count("/static/h2.txt") == 1);
    // Twenty concurrent streams for one new object on one connection (a real HTTP/2 client):
    // collapsed into one origin fetch by the same pipeline HTTP/1.1 uses.
    if (sh("command -v nghttp >/dev/null").status == 0) {
        auto many = sh("nghttp -n -s -m 20 https://127.0.0.1:" + port() + "/static/many.txt");
        INFO(many.out);
        CHECK(many.status == 0);
        CHECK(origin.count("/static/many.txt") == 1);
    }
}

TEST_CASE_METHOD(
    TlsH2Fixture,
    "tls: HTTP/2 bodies of hundreds of TLS records arrive whole, on many streams at once",
    "[edge][tls][http2]") {
    // 3 MiB: about 200 records, encrypted in batches of frames straight into one buffer per
    // write (TlsRecordBatch), first streamed from the origin (a miss), then from the cache.
    constexpr std::size_t kSize = 3 << 20;
    const std::string target = "/static/records.bin?size=" + std::to_string(kSize);
    const std::string expected = cdn::origin_sim::make_body("/static/records.bin", 1, kSize);
    const std::string file = (dir.path() / "records.out").string();
    for (const char* round : {"MISS", "HIT"}) {
        INFO(round);
        auto r = sh("curl -sS --http2 --max-time 30 --cacert " + pki.path("ca.pem") +
                    " --resolve a.test:" + port() + ":127.0.0.1 -o " + file +
                    " -w '%{http_version} %{http_code} %{size_download} %header{x-cache}'"
                    " https://a.test:" +
                    port() + target);
        INFO(r.out);
        REQUIRE(r.status == 0);
        CHECK(r.out == "2 200 " + std::to_string(kSize) + " " + round);
        std::ifstream in(file, std::ios::binary);
        const std::string got((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
        CHECK(got.size() == kSize);
        CHECK((got == expected));
    }
    // HTTP/1.1 over TLS: head and the first bytes joined in one record, the rest encrypted in
    // batches of records straight from the cached body (send_buffers); a small one whole too.
    for (const std::string& t : {target, std::string("/static/small.txt?size=300")}) {
        auto r =
            sh("curl -sS --http1.1 --max-time 30 --cacert " + pki.path("ca.pem") +
               " --resolve a.test:" + port() + ":127.0.0.1 -o " + file +
               " -w '%{http_version} %{http_code} %{size_download}' https://a.test:" + port() + t);
        INFO(t << ": " << r.out);
        REQUIRE(r.status == 0);
        const bool big = t == target;
        CHECK(r.out == "1.1 200 " + std::to_string(big ? kSize : 300));
        std::ifstream in(file, std::ios::binary);
        const std::string got((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
        CHECK((got == (big ? expected : cdn::origin_sim::make_body("/static/small.txt", 1, 300))));
    }
    // Interleaved: 40 streams of it over 2 connections, 10 at a time on each, every one whole.
    if (sh("command -v h2load >/dev/null").status == 0) {
        auto many = sh("h2load -n 40 -c 2 -m 10 https://127.0.0.1:" + port() + target);
        INFO(many.out);
        CHECK(many.status == 0);
        CHECK_THAT(many.out, Contains("40 succeeded, 0 failed, 0 errored"));
        CHECK_THAT(many.out, Contains("status codes: 40 2xx"));
        CHECK_THAT(many.out, Contains("(" + std::to_string(40 * kSize)));  // data bytes
    }
    // One fetch per host: a.test for curl, 127.0.0.1 for h2load (collapsed: 40 streams, one).
    CHECK(origin.count(target) == 2);
}

TEST_CASE(
    "h2c: with [server] h2c = true a prior-knowledge client gets HTTP/2 on the cleartext "
    "listener, and HTTP/1.1 clients still work",
    "[edge][http2]") {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge(dir, origin.url(), "[server]\nh2c = true\n[http2]\nmax_concurrent_streams = 7\n");
    const std::string url = "http://127.0.0.1:" + std::to_string(edge.port()) + "/static/h2c.txt";
    auto first = sh("curl -sS -i --max-time 10 --http2-prior-knowledge " + url);
    INFO(first.out);
    REQUIRE(first.status == 0);
    CHECK_THAT(first.out, Contains("HTTP/2 200"));
    CHECK_THAT(first.out, Contains("x-cache: MISS"));
    auto h11 = sh("curl -sS -i --max-time 10 --http1.1 " + url);
    INFO(h11.out);
    CHECK_THAT(h11.out, Contains("HTTP/1.1 200"));
    CHECK_THAT(h11.out, Contains("X-Cache: HIT"));
    if (sh("command -v nghttp >/dev/null").status == 0) {
        auto many = sh("nghttp -v -n -s -m 20 http://127.0.0.1:" + std::to_string(edge.port()) +
                       "/static/h2c-many.txt");
        INFO(many.out);
        CHECK(many.status == 0);
        CHECK(origin.count("/static/h2c-many.txt") == 1);
        // [http2] reaches the SETTINGS frame. nghttp sends its 20 requests before it has read
        // it: the streams beyond 7 are refused (RST_STREAM(REFUSED_STREAM), safe to retry), and
        // the metrics count both kinds.
        CHECK_THAT(many.out, Contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7"));
        const double served = edge.metric("cdn_edge_http2_streams_total") - 1;  // minus curl's
        const double refused =
            edge.metric(R"(cdn_edge_http2_resets_sent_total{error="refused_stream"})");
        CHECK(served >= 7);
        CHECK(served + refused == 20);
        CHECK(edge.metric("cdn_edge_http2_connections_total") == 2);
    } else {
        CHECK(edge.metric("cdn_edge_http2_streams_total") == 1);
    }
    CHECK(origin.count("/static/h2c.txt") == 1);
}
