// origin_sim as a real process on an ephemeral loopback port, driven by real clients.
#include "common/http_date.hpp"
#include "origin_sim/body.hpp"
#include "origin_sim/query.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <cerrno>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace cdn;
using namespace cdn::test;
using Catch::Matchers::Contains;
using cdn::origin_sim::make_body;
using namespace std::chrono_literals;

namespace {

struct Sim {
    TempDir dir;
    std::unique_ptr<Process> proc;
    std::uint16_t port = 0;

    explicit Sim(std::vector<std::string> extra = {}, const std::string& config = {}) {
        std::vector<std::string> argv = {ORIGIN_SIM_BIN, "--listen", "127.0.0.1:0"};
        if (!config.empty()) {
            argv.emplace_back("--config");
            argv.push_back(dir.write("sim.toml", config));
        }
        argv.insert(argv.end(), extra.begin(), extra.end());
        proc = std::make_unique<Process>(argv, (dir.path() / "origin_sim.log").string());
        port = proc->wait_for_port("listening on");
    }

    boost::json::object stats(const std::string& query = {}) {
        const Response r = http_get(port, "/_stats" + query);
        REQUIRE(r.result_int() == 200);
        return boost::json::parse(r.body()).as_object();
    }
};

std::string hdr(const Response& r, std::string_view name) {
    return std::string(r[name]);
}

std::int64_t num(const boost::json::value& v) {
    return v.as_int64();
}

}  // namespace

TEST_CASE("default objects: headers and deterministic bytes", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response r = c.get("/static/app.js?v=2");
    CHECK(r.result_int() == 200);
    CHECK(r.body() == make_body("/static/app.js?v=2", 1, 1024));
    CHECK(hdr(r, "Content-Length") == "1024");
    CHECK(hdr(r, "Cache-Control") == "public, max-age=60");
    CHECK(hdr(r, "Content-Type") == "text/javascript");
    CHECK(hdr(r, "ETag") == origin_sim::make_etag("/static/app.js?v=2", 1, 1024));
    const auto date = parse_http_date(hdr(r, "Date"));
    const auto lm = parse_http_date(hdr(r, "Last-Modified"));
    REQUIRE(date);
    REQUIRE(lm);
    CHECK(*date - *lm >= 3600s);
    CHECK(*date - *lm < 3700s);
    CHECK(r.keep_alive());
    CHECK(hdr(c.get("/i.png"), "Content-Type") == "image/png");
    CHECK(hdr(c.get("/i.jpg"), "Content-Type") == "image/jpeg");
    CHECK(hdr(c.get("/p.html"), "Content-Type") == "text/html");
    CHECK(hdr(c.get("/p.json"), "Content-Type") == "application/json");
    CHECK(hdr(c.get("/p.css"), "Content-Type") == "text/css");
    CHECK(hdr(c.get("/p.txt"), "Content-Type") == "text/plain");
    CHECK(hdr(c.get("/blob"), "Content-Type") == "application/octet-stream");
    CHECK(c.connected());  // all on one keep-alive connection

    // Control parameters do not change the bytes, only the shape: same identity, same body.
    const Response big = c.get("/static/app.js?size=200000&v=2");
    CHECK(big.body() == make_body("/static/app.js?v=2", 1, 200000));
    CHECK(big.body().substr(0, 1024) == r.body());
}

TEST_CASE("query parameters shape the response", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response r = c.get(
        "/q?size=64KiB&status=404&cc=private%2C%20max-age%3D5&expires=120&lm=10&etag=weak"
        "&vary=Accept-Encoding&tags=a,b,c&cookie=sid%3D1&age=30&date_offset=-3600"
        "&ctype=text/x-sim&header=X-One:1&header=X-Two:%202");
    CHECK(r.result_int() == 404);
    CHECK(r.body().size() == 64 * 1024);
    CHECK(r.body() == make_body("/q", 1, 64 * 1024));
    CHECK(hdr(r, "Cache-Control") == "private, max-age=5");
    CHECK(hdr(r, "ETag").starts_with("W/\""));
    CHECK(hdr(r, "Vary") == "Accept-Encoding");
    CHECK(hdr(r, "Surrogate-Key") == "a b c");
    CHECK(hdr(r, "Cache-Tag") == "a,b,c");
    CHECK(hdr(r, "Set-Cookie") == "sid=1");
    CHECK(hdr(r, "Age") == "30");
    CHECK(hdr(r, "Content-Type") == "text/x-sim");
    CHECK(hdr(r, "X-One") == "1");
    CHECK(hdr(r, "X-Two") == "2");
    const auto date = parse_http_date(hdr(r, "Date"));
    const auto expires = parse_http_date(hdr(r, "Expires"));
    REQUIRE(date);
    REQUIRE(expires);
    CHECK(*expires - *date == 120s);
    CHECK(SysClock::now() - *date > 3500s);  // date_offset=-3600

    const Response bare = c.get("/q?cc=&etag=0&lm=none&expires=bad");
    CHECK(bare.find("Cache-Control") == bare.end());
    CHECK(bare.find("ETag") == bare.end());
    CHECK(bare.find("Last-Modified") == bare.end());
    CHECK(hdr(bare, "Expires") == "0");

    const Response e500 = c.get("/q?fault=500");
    CHECK(e500.result_int() == 500);
    CHECK(hdr(e500, "Cache-Control") == "no-store");

    CHECK(c.get("/q?size=huge").result_int() == 400);

    const auto t0 = std::chrono::steady_clock::now();
    CHECK(c.get("/q?delay=200").result_int() == 200);
    CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);

    const auto t1 = std::chrono::steady_clock::now();
    const Response slow = c.get("/q?fault=slow&size=4096&slow_ms=40");
    CHECK(slow.body() == make_body("/q", 1, 4096));
    CHECK(std::chrono::steady_clock::now() - t1 >= 120ms);  // 4 pieces, 3 pauses
}

TEST_CASE("request counters, per-target stats and reset", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    c.get("/a?x=1");
    c.get("/a?x=1");
    c.get("/b");
    c.request("POST", "/b", {}, "body");
    c.get("/b", {{"If-None-Match", "*"}});
    c.get("/_healthz");  // admin: not counted
    auto s = sim.stats();
    CHECK(num(s.at("total")) == 5);
    CHECK(num(s.at("targets").at("/a?x=1")) == 2);
    CHECK(num(s.at("targets").at("/b")) == 3);
    CHECK(num(s.at("not_modified").at("/b")) == 1);

    auto one = sim.stats("?target=" + origin_sim::url_encode("/a?x=1"));
    CHECK(one.at("target").as_string() == "/a?x=1");
    CHECK(num(one.at("requests")) == 2);
    CHECK(num(one.at("not_modified")) == 0);
    CHECK(num(sim.stats("?target=%2Fnever").at("requests")) == 0);

    const Response reset = c.request("POST", "/_reset");
    CHECK(reset.result_int() == 204);
    s = sim.stats();
    CHECK(num(s.at("total")) == 0);
    CHECK(s.at("targets").as_object().empty());
    CHECK(s.at("not_modified").as_object().empty());
    CHECK(http_get(sim.port, "/_healthz").body() == "ok");
}

TEST_CASE("counters are exact with several threads and connections", "[origin_sim]") {
    Sim sim({"--threads", "2"});
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 4; ++i)
        clients.push_back(std::make_unique<HttpClient>(sim.port));
    for (int round = 0; round < 25; ++round)
        for (auto& c : clients)
            REQUIRE(c->get("/t").result_int() == 200);
    CHECK(num(sim.stats().at("targets").at("/t")) == 100);
}

TEST_CASE("a version bump changes body, ETag and Last-Modified", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response v1 = c.get("/app.js?v=1");
    CHECK(v1.body() == make_body("/app.js?v=1", 1, 1024));

    const Response bump =
        c.request("POST", "/_version?path=" + origin_sim::url_encode("/app.js?v=1"));
    REQUIRE(bump.result_int() == 200);
    CHECK(num(boost::json::parse(bump.body()).at("version")) == 2);

    const Response v2 = c.get("/app.js?v=1");
    CHECK(v2.body() == make_body("/app.js?v=1", 2, 1024));
    CHECK(v2.body() != v1.body());
    CHECK(hdr(v2, "ETag") != hdr(v1, "ETag"));
    CHECK(*parse_http_date(hdr(v2, "Last-Modified")) > *parse_http_date(hdr(v1, "Last-Modified")));
    CHECK(c.get("/app.js?v=1", {{"If-None-Match", hdr(v1, "ETag")}}).result_int() == 200);
    CHECK(c.get("/app.js?v=1", {{"If-None-Match", hdr(v2, "ETag")}}).result_int() == 304);
    CHECK(c.get("/other").body() == make_body("/other", 1, 1024));

    CHECK(c.request("POST", "/_version?path=/app.js%3Fv%3D1&v=5").result_int() == 200);
    CHECK(c.get("/app.js?v=1").body() == make_body("/app.js?v=1", 5, 1024));

    // A full deploy: every object moves on by one.
    const Response all = c.request("POST", "/_version");
    REQUIRE(all.result_int() == 200);
    CHECK(num(boost::json::parse(all.body()).at("version")) == 1);
    CHECK(c.get("/other").body() == make_body("/other", 2, 1024));
    CHECK(c.get("/app.js?v=1").body() == make_body("/app.js?v=1", 6, 1024));
}

TEST_CASE("conditional requests answer 304", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response full = c.get("/c.css?vary=Accept-Encoding&expires=60");
    const std::string etag = hdr(full, "ETag");
    const std::string lm = hdr(full, "Last-Modified");

    const Response inm = c.get("/c.css?vary=Accept-Encoding&expires=60", {{"If-None-Match", etag}});
    CHECK(inm.result_int() == 304);
    CHECK(inm.body().empty());
    CHECK(hdr(inm, "ETag") == etag);
    CHECK(hdr(inm, "Last-Modified") == lm);
    CHECK(hdr(inm, "Cache-Control") == "public, max-age=60");
    CHECK(hdr(inm, "Vary") == "Accept-Encoding");
    CHECK_FALSE(hdr(inm, "Expires").empty());
    CHECK_FALSE(hdr(inm, "Date").empty());

    CHECK(c.get("/c.css", {{"If-None-Match", "\"x\", " + hdr(c.get("/c.css"), "ETag")}})
              .result_int() == 304);
    CHECK(c.get("/c.css", {{"If-None-Match", "\"x\""}}).result_int() == 200);
    CHECK(c.get("/c.css", {{"If-Modified-Since", lm}}).result_int() == 304);
    CHECK(c.get("/c.css", {{"If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}}).result_int() ==
          200);
    CHECK(c.connected());
    CHECK(num(sim.stats().at("not_modified").at("/c.css")) == 2);
}

TEST_CASE("ranges: single, multiple, unsatisfiable, malformed", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const std::string whole = make_body("/r.bin", 1, 10000);

    const Response one = c.get("/r.bin?size=10000", {{"Range", "bytes=100-199"}});
    CHECK(one.result_int() == 206);
    CHECK(hdr(one, "Content-Range") == "bytes 100-199/10000");
    CHECK(one.body() == whole.substr(100, 100));

    const Response tail = c.get("/r.bin?size=10000", {{"Range", "bytes=-10"}});
    CHECK(tail.body() == whole.substr(9990));

    const Response multi = c.get("/r.bin?size=10000", {{"Range", "bytes=0-9,5000-5009"}});
    CHECK(multi.result_int() == 206);
    const std::string ct = hdr(multi, "Content-Type");
    REQUIRE(ct.starts_with("multipart/byteranges; boundary="));
    const std::string boundary = ct.substr(ct.find('=') + 1);
    CHECK_THAT(multi.body(), Contains("Content-Range: bytes 0-9/10000\r\n\r\n" +
                                      whole.substr(0, 10) + "\r\n--" + boundary + "\r\n"));
    CHECK_THAT(multi.body(), Contains("Content-Range: bytes 5000-5009/10000\r\n\r\n" +
                                      whole.substr(5000, 10) + "\r\n--" + boundary + "--\r\n"));

    const Response bad = c.get("/r.bin?size=10000", {{"Range", "bytes=20000-"}});
    CHECK(bad.result_int() == 416);
    CHECK(hdr(bad, "Content-Range") == "bytes */10000");

    const Response ignored = c.get("/r.bin?size=10000", {{"Range", "bytes=x-y"}});
    CHECK(ignored.result_int() == 200);
    CHECK(ignored.body() == whole);

    const std::string etag = hdr(ignored, "ETag");
    CHECK(c.get("/r.bin?size=10000", {{"Range", "bytes=0-0"}, {"If-Range", etag}}).result_int() ==
          206);
    CHECK(c.get("/r.bin?size=10000", {{"Range", "bytes=0-0"}, {"If-Range", "\"stale\""}})
              .result_int() == 200);
}

TEST_CASE("HEAD has the GET head and no body", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response get = c.get("/h.txt?size=5000");
    const Response head = c.request("HEAD", "/h.txt?size=5000");
    CHECK(head.result_int() == 200);
    CHECK(head.body().empty());
    CHECK(hdr(head, "Content-Length") == "5000");
    CHECK(hdr(head, "ETag") == hdr(get, "ETag"));
    CHECK(hdr(head, "Content-Type") == "text/plain");
    // The connection is still in step: the next response is parsed correctly.
    CHECK(c.get("/h.txt?size=7").body() == make_body("/h.txt", 1, 7));
}

TEST_CASE("other methods echo the body and /_echo shows the request", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response post = c.request("POST", "/api/items", {{"Content-Type", "text/plain"}}, "hi!");
    CHECK(post.result_int() == 200);
    CHECK(post.body() == "hi!");
    CHECK(hdr(post, "X-Method") == "POST");
    CHECK(hdr(post, "Cache-Control") == "no-store");
    const std::string big(3 * 1024 * 1024, 'z');
    CHECK(c.request("PUT", "/api/big", {}, big).body() == big);
    CHECK(hdr(c.request("OPTIONS", "/api"), "X-Method") == "OPTIONS");
    CHECK(hdr(c.request("PURGE", "/api"), "X-Method") == "PURGE");

    const Response echo = c.get(
        "/_echo?x=1", {{"X-Forwarded-For", "203.0.113.9"}, {"X-Multi", "a"}, {"X-Multi", "b"}});
    CHECK(echo.result_int() == 200);
    CHECK(hdr(echo, "Cache-Control") == "no-store");
    const auto j = boost::json::parse(echo.body()).as_object();
    CHECK(j.at("method").as_string() == "GET");
    CHECK(j.at("target").as_string() == "/_echo?x=1");
    const auto& h = j.at("headers").as_object();
    CHECK(h.at("x-forwarded-for").as_string() == "203.0.113.9");
    CHECK(h.at("host").as_string() == "localhost");
    REQUIRE(h.at("x-multi").is_array());
    CHECK(h.at("x-multi").as_array().at(1).as_string() == "b");
}

TEST_CASE("a config file describes objects", "[origin_sim]") {
    Sim sim({"--name", "o1"}, R"(
# every object
[defaults]
cache_control = "public, max-age=300"

[[object]]
prefix = "/static/"
cache_control = "public, max-age=31536000, immutable"
size = "4KiB"
tags = ["static", "v1"]

[[object]]
path = "/static/special.js"
status = 404
etag = false
headers = { "X-Special" = "yes" }

[[object]]
path = "/broken"
fault = "reset"
)");
    HttpClient c(sim.port);
    const Response plain = c.get("/index.html");
    CHECK(hdr(plain, "Cache-Control") == "public, max-age=300");
    CHECK(hdr(plain, "X-Origin-Name") == "o1");
    CHECK(plain.body().size() == 1024);

    const Response s = c.get("/static/site.css");
    CHECK(hdr(s, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK(s.body() == make_body("/static/site.css", 1, 4096));
    CHECK(hdr(s, "Surrogate-Key") == "static v1");

    const Response sp = c.get("/static/special.js");
    CHECK(sp.result_int() == 404);
    CHECK(sp.find("ETag") == sp.end());
    CHECK(hdr(sp, "X-Special") == "yes");
    // Only the first matching entry applies: the exact path does not inherit the prefix's size.
    CHECK(sp.body().size() == 1024);
    CHECK(hdr(sp, "Cache-Control") == "public, max-age=300");

    CHECK(c.get("/static/special.js?status=200&size=3").result_int() == 200);
    CHECK(raw_exchange(sim.port, "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n").empty());
    CHECK(c.get("/broken?fault=none").result_int() == 200);
}

TEST_CASE("a bad config file or flag exits 2 naming the problem", "[origin_sim]") {
    TempDir dir;
    const std::string cfg = dir.write("bad.toml", "[[object]]\npath = \"/a\"\nsizes = 10\n");
    Process p({ORIGIN_SIM_BIN, "--listen", "127.0.0.1:0", "--config", cfg},
              (dir.path() / "bad.log").string());
    CHECK(p.wait_exit(10s) == 2);
    CHECK_THAT(p.log(), Contains("bad.toml:3: object[0].sizes: unknown key"));

    Process q({ORIGIN_SIM_BIN, "--listen", "127.0.0.1:0", "--no-such-flag"},
              (dir.path() / "flag.log").string());
    CHECK(q.wait_exit(10s) == 2);
    CHECK_THAT(q.log(), Contains("--no-such-flag"));

    Process r({ORIGIN_SIM_BIN, "--listen", "nowhere"}, (dir.path() / "listen.log").string());
    CHECK(r.wait_exit(10s) == 2);

    const CommandResult help = run_command({ORIGIN_SIM_BIN, "--help"});
    CHECK(help.status == 0);
    CHECK_THAT(help.out, Contains("--listen"));
    CHECK_THAT(help.out, Contains("--config"));
}

TEST_CASE("fault=reset and fault=close give the client an error", "[origin_sim]") {
    Sim sim;
    CHECK(raw_exchange(sim.port, "GET /x?fault=reset HTTP/1.1\r\nHost: x\r\n\r\n").empty());
    CHECK(raw_exchange(sim.port, "GET /x?fault=close HTTP/1.1\r\nHost: x\r\n\r\n").empty());
    HttpClient c(sim.port);
    CHECK_THROWS(c.get("/x?fault=reset"));
    CHECK_THROWS(c.get("/x?fault=close"));
    CHECK(c.get("/x").result_int() == 200);
}

TEST_CASE("fault=hang holds one connection without blocking others", "[origin_sim]") {
    Sim sim;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket hung(io);
    hung.connect({boost::asio::ip::make_address("127.0.0.1"), sim.port});
    timeval tv{0, 300'000};
    ::setsockopt(hung.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::asio::write(
        hung, boost::asio::buffer(std::string("GET /slow?fault=hang HTTP/1.1\r\nHost: x\r\n\r\n")));
    // A second connection is served while the first hangs.
    const Response other = http_get(sim.port, "/other");
    CHECK(other.result_int() == 200);
    // Plain recv(): asio's blocking read would poll past SO_RCVTIMEO.
    char buf[64];
    const ssize_t n = ::recv(hung.native_handle(), buf, sizeof buf, 0);
    const int err = errno;
    CHECK(n < 0);  // timed out: no answer, and no close
    CHECK((err == EAGAIN || err == EWOULDBLOCK));
    CHECK(num(sim.stats().at("targets").at("/slow?fault=hang")) == 1);
    // The server still stops promptly with the connection held.
    CHECK(sim.proc->terminate() == 0);
}

TEST_CASE("fault=truncate sends half the body, then closes", "[origin_sim]") {
    Sim sim;
    const std::string out =
        raw_exchange(sim.port, "GET /t?size=1000&fault=truncate HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto end = out.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK_THAT(out.substr(0, end), Contains("Content-Length: 1000"));
    CHECK(out.substr(end + 4) == make_body("/t", 1, 500));
    HttpClient c(sim.port);
    CHECK_THROWS(c.get("/t?fault=truncate"));
}

TEST_CASE("chunked=1 uses chunked transfer coding", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    const Response r = c.get("/ch?chunked=1&size=200000");
    CHECK(hdr(r, "Transfer-Encoding") == "chunked");
    CHECK(r.find("Content-Length") == r.end());
    CHECK(r.body() == make_body("/ch", 1, 200000));
    CHECK(c.get("/ch?chunked=1&size=0").body().empty());
    CHECK(c.connected());
    const std::string raw = raw_exchange(
        sim.port, "GET /ch?chunked=1&size=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_THAT(raw, Contains("\r\n\r\n5\r\n" + make_body("/ch", 1, 5) + "\r\n0\r\n\r\n"));
}

TEST_CASE("malformed and oversized requests", "[origin_sim]") {
    Sim sim;
    const std::string bad = raw_exchange(sim.port, "NOT HTTP AT ALL\r\n\r\n");
    CHECK(bad.starts_with("HTTP/1.1 400 "));
    const std::string huge_header(64 * 1024, 'h');
    const std::string big =
        raw_exchange(sim.port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + huge_header + "\r\n\r\n");
    CHECK(big.starts_with("HTTP/1.1 431 "));
    const std::string body_limit = raw_exchange(
        sim.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n");
    CHECK(body_limit.starts_with("HTTP/1.1 413 "));
    // Pipelined requests are answered in order on one connection.
    const std::string two = raw_exchange(sim.port,
                                         "GET /p1?size=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2?size=4 "
                                         "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto first = two.find("\r\n\r\n" + make_body("/p1", 1, 3) + "HTTP/1.1 200 OK");
    CHECK(first != std::string::npos);
    CHECK(two.ends_with("\r\n\r\n" + make_body("/p2", 1, 4)));
    // Hostile header values do not take the server down.
    CHECK(http_get(sim.port, "/d", {{"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"}})
              .result_int() == 200);
    CHECK(http_get(sim.port, "/d",
                   {{"Range", "bytes=0-1"}, {"If-Range", "Sun, 01 Jan 9999 00:00:00 GMT"}})
              .result_int() == 200);
    CHECK(http_get(sim.port, "/d?date_offset=99999999999999").result_int() == 400);
    CHECK(http_get(sim.port, "/d?size=1&header=X:%0D%0AInjected:%201").result_int() == 400);
    CHECK(http_get(sim.port, "/still-alive").result_int() == 200);
}

TEST_CASE("SIGTERM stops the server with status 0", "[origin_sim]") {
    Sim sim;
    HttpClient c(sim.port);
    CHECK(c.get("/x").result_int() == 200);  // an idle keep-alive connection stays open
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(sim.proc->terminate() == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}
