// Issue 18: HEAD revalidation of a stored GET, edge-generated 103 Early Hints, and
// Expect: 100-continue, against a real edge and a real origin_sim.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("a HEAD revalidates a stale stored GET with a conditional HEAD and keeps its body",
          "[edge][head][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient client(edge.port());
    const std::string t = "/head.html?cc=max-age%3D2";
    auto first = client.get(t);
    REQUIRE(header(first, "X-Cache") == "MISS");
    std::this_thread::sleep_for(2100ms);  // stale now

    auto head = client.request("HEAD", t);
    CHECK(head.result_int() == 200);
    CHECK(header(head, "X-Cache") == "REVALIDATED");
    CHECK_THAT(header(head, "Cache-Status"), Contains("detail=\"head\""));
    CHECK(header(head, "Content-Length") == "1024");
    CHECK(header(head, "ETag") == header(first, "ETag"));
    CHECK(origin.method_count("HEAD") == 1);  // not a GET
    CHECK(origin.not_modified(t) == 1);       // conditional: answered 304
    CHECK(origin.count(t) == 2);

    // The stored GET was refreshed: fresh again, its body kept, no further origin request.
    auto get = client.get(t);
    CHECK(header(get, "X-Cache") == "HIT");
    CHECK(header(get, "Cache-Control") == "max-age=2");
    CHECK(std::stoi(header(get, "Age")) < 2);
    CHECK(get.body() == first.body());
    CHECK(origin.count(t) == 2);
    CHECK(origin.method_count("GET") == 1);
}

TEST_CASE("a HEAD after a deploy invalidates the stored GET", "[edge][head][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    HttpClient client(edge.port());
    const std::string t = "/deploy.html?cc=max-age%3D2";
    auto first = client.get(t);
    REQUIRE(header(first, "X-Cache") == "MISS");
    HttpClient admin(origin.port());
    REQUIRE(admin.request("POST", "/_version").result_int() == 200);
    std::this_thread::sleep_for(2100ms);

    auto head = client.request("HEAD", t);
    CHECK(head.result_int() == 200);
    CHECK(header(head, "X-Cache") == "EXPIRED");
    CHECK_THAT(header(head, "Cache-Status"), Contains("head-invalidated"));
    CHECK(header(head, "ETag") != header(first, "ETag"));
    CHECK(header(head, "Content-Length") == "1024");
    CHECK(head.body().empty());
    CHECK(origin.method_count("HEAD") == 1);

    // Gone from the cache: the next GET fetches the new version in full.
    auto get = client.get(t);
    CHECK(header(get, "X-Cache") == "MISS");
    CHECK(header(get, "ETag") == header(head, "ETag"));
    CHECK(get.body() == cdn::origin_sim::make_body("/deploy.html", 2, 1024));
    CHECK(origin.method_count("GET") == 2);
    CHECK(origin.not_modified(t) == 0);
}

namespace {

constexpr const char* kAdminToken = "edge-admin-token-0123456789";

// An edge whose one origin group has [origin.early_hints] (unless `enabled` is false).
std::string hints_toml(const OriginSim& origin, bool enabled = true, const std::string& more = "") {
    return std::string("[server]\nh2c = true\n[admin]\npurge_token = \"") + kAdminToken +
           "\"\n[[origin]]\nhosts = [\"*\"]\nurl = \"" + origin.url() +
           "\"\n[origin.early_hints]\nenabled = " + (enabled ? "true" : "false") + "\n" + more;
}

// A page whose origin response carries `link` as its Link field; uncacheable (every GET is a
// miss) and 300 ms slow unless the query says otherwise.
std::string page(const std::string& name, const std::string& link,
                 const std::string& rest = "cc=no-store&delay=300") {
    return "/" + name + ".html?" + rest + "&header=" + url_encode("Link:" + link);
}

const std::string kLinks =
    "</app.css>; rel=preload; as=style, </font.woff2>; rel=\"preload\"; as=font; crossorigin, "
    "<https://img.example>; rel=preconnect, </next.html>; rel=next";

struct Timed {
    std::string bytes;
    std::chrono::milliseconds first_103{-1};   // to the first byte of "HTTP/1.1 103"
    std::chrono::milliseconds final_head{-1};  // to the first byte of "HTTP/1.1 200"
};

// Sends raw bytes (the request should say Connection: close) and reads to the end, noting when
// the 103 and the 200 heads arrived.
Timed timed_exchange(std::uint16_t port, const std::string& request) {
    Timed t;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    char buf[16384];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        t.bytes.append(buf, static_cast<std::size_t>(n));
        const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        if (t.first_103.count() < 0 && t.bytes.find("HTTP/1.1 103") != std::string::npos)
            t.first_103 = at;
        if (t.final_head.count() < 0 && t.bytes.find("HTTP/1.1 200") != std::string::npos)
            t.final_head = at;
    }
    ::close(fd);
    return t;
}

std::string get_request(const std::string& target, const std::string& version = "HTTP/1.1") {
    return "GET " + target + " " + version + "\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

std::string url(const Edge& edge, const std::string& target) {
    return "http://127.0.0.1:" + std::to_string(edge.port()) + target;
}

// The time nghttp -v printed on the first line containing `what` ("[  0.305] recv ..."), in ms.
double nghttp_time(const std::string& out, const std::string& what) {
    const auto at = out.find(what);
    if (at == std::string::npos) return -1;
    const auto open = out.rfind('[', at);
    return std::stod(out.substr(open + 1)) * 1000;
}

}  // namespace

TEST_CASE("the edge sends its own 103 Early Hints before asking the origin, over HTTP/1.1",
          "[edge][early_hints]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", hints_toml(origin));
    const std::string t = page("dyn", kLinks);
    // First response: the edge learns the links (nothing to send yet).
    auto first = timed_exchange(edge.port(), get_request(t));
    REQUIRE_THAT(first.bytes, Contains("HTTP/1.1 200"));
    CHECK(first.first_103.count() < 0);
    CHECK(edge.metric("cdn_edge_early_hints_sent_total") == 0);

    // The next miss: 103 at once, the 200 after the origin's 300 ms.
    auto second = timed_exchange(edge.port(), get_request(t));
    REQUIRE(second.first_103.count() >= 0);
    REQUIRE(second.final_head.count() >= 0);
    CHECK(second.first_103.count() < 200);
    CHECK(second.final_head.count() >= 300);
    const std::string hints = second.bytes.substr(0, second.bytes.find("HTTP/1.1 200"));
    CHECK(hints.starts_with("HTTP/1.1 103 Early Hints\r\n"));
    CHECK_THAT(hints, Contains("Link: </app.css>; rel=preload; as=style\r\n"));
    CHECK_THAT(hints, Contains("Link: </font.woff2>; rel=\"preload\"; as=font; crossorigin\r\n"));
    CHECK_THAT(hints, Contains("Link: <https://img.example>; rel=preconnect\r\n"));
    CHECK_THAT(hints, !Contains("next.html"));  // rel=next is no hint
    CHECK(edge.metric("cdn_edge_early_hints_sent_total") == 1);

    // HTTP/1.0 clients get none.
    auto old = timed_exchange(edge.port(), get_request(t, "HTTP/1.0"));
    CHECK_THAT(old.bytes, !Contains(" 103 "));
    CHECK_THAT(old.bytes, Contains(" 200 "));
    CHECK(edge.metric("cdn_edge_early_hints_sent_total") == 1);
}

TEST_CASE("curl -v shows the edge's 103 before the final response", "[edge][early_hints][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", hints_toml(origin));
    const std::string t = page("curl", kLinks);
    REQUIRE(
        run_command({"curl", "-s", "-o", "/dev/null", "--max-time", "10", url(edge, t)}).status ==
        0);
    auto r = run_command(
        {"curl", "-v", "-s", "--stderr", "-", "-o", "/dev/null", "--max-time", "10", url(edge, t)});
    REQUIRE(r.status == 0);
    const auto s103 = r.out.find("< HTTP/1.1 103");
    const auto link = r.out.find("< Link: </app.css>; rel=preload; as=style");
    const auto s200 = r.out.find("< HTTP/1.1 200");
    REQUIRE(s103 != std::string::npos);
    REQUIRE(s200 != std::string::npos);
    CHECK(s103 < link);
    CHECK(link < s200);
}

TEST_CASE("nghttp -v shows the edge's 103 HEADERS before the final response over HTTP/2",
          "[edge][early_hints][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", hints_toml(origin));
    const std::string t = page("h2", kLinks);
    REQUIRE(run_command({"nghttp", url(edge, t)}).status == 0);
    auto r = run_command({"nghttp", "-v", url(edge, t)});
    REQUIRE(r.status == 0);
    const auto s103 = r.out.find(":status: 103");
    const auto link = r.out.find("link: </app.css>; rel=preload; as=style");
    const auto s200 = r.out.find(":status: 200");
    REQUIRE(s103 != std::string::npos);
    REQUIRE(s200 != std::string::npos);
    CHECK(s103 < link);
    CHECK(link < s200);
    // The hints come before the origin's 300 ms, the final response after.
    const double hinted = nghttp_time(r.out, ":status: 103");
    const double final_at = nghttp_time(r.out, ":status: 200");
    CHECK(final_at - hinted >= 250);
}

TEST_CASE("edge Early Hints: off by default, not on hits, not for rel=stylesheet, capped",
          "[edge][early_hints]") {
    TempDir dir;
    OriginSim origin(dir);
    SECTION("disabled by default") {
        Edge edge(dir, "", hints_toml(origin, false));
        const std::string t = page("off", kLinks);
        timed_exchange(edge.port(), get_request(t));
        CHECK_THAT(timed_exchange(edge.port(), get_request(t)).bytes, !Contains(" 103 "));
        Edge plain(dir, origin.url());  // no [origin.early_hints] at all
        timed_exchange(plain.port(), get_request(t));
        CHECK_THAT(timed_exchange(plain.port(), get_request(t)).bytes, !Contains(" 103 "));
    }
    SECTION("rel=stylesheet alone gives no 103") {
        Edge edge(dir, "", hints_toml(origin));
        const std::string t = page("css", "</s.css>; rel=stylesheet");
        timed_exchange(edge.port(), get_request(t));
        CHECK_THAT(timed_exchange(edge.port(), get_request(t)).bytes, !Contains(" 103 "));
    }
    SECTION("not for non-HTML responses") {
        Edge edge(dir, "", hints_toml(origin));
        const std::string t =
            "/data.json?cc=no-store&header=" + url_encode("Link:</a.css>; rel=preload; as=style");
        timed_exchange(edge.port(), get_request(t));
        CHECK_THAT(timed_exchange(edge.port(), get_request(t)).bytes, !Contains(" 103 "));
    }
    SECTION("a hit gets none; the revalidation of a cached page does") {
        Edge edge(dir, "", hints_toml(origin));
        const std::string t = page("cached", kLinks, "cc=max-age%3D2");
        timed_exchange(edge.port(), get_request(t));
        auto hit = timed_exchange(edge.port(), get_request(t));
        CHECK_THAT(hit.bytes, Contains("X-Cache: HIT"));
        CHECK_THAT(hit.bytes, !Contains(" 103 "));
        std::this_thread::sleep_for(2100ms);
        auto reval = timed_exchange(edge.port(), get_request(t));
        CHECK_THAT(reval.bytes, Contains("X-Cache: REVALIDATED"));
        CHECK(reval.bytes.starts_with("HTTP/1.1 103 Early Hints\r\n"));
    }
    SECTION("hundreds of Link entries are capped by max_links and max_bytes") {
        Edge edge(dir, "", hints_toml(origin, true, "max_links = 5\n"));
        std::string many;
        for (int i = 0; i < 300; ++i)
            many += "</a" + std::to_string(i) + ">;rel=preload,";
        const std::string t = page("many", many);
        timed_exchange(edge.port(), get_request(t));
        auto r = timed_exchange(edge.port(), get_request(t));
        const std::string hints = r.bytes.substr(0, r.bytes.find("HTTP/1.1 200"));
        REQUIRE(hints.starts_with("HTTP/1.1 103"));
        std::size_t links = 0;
        for (auto at = hints.find("Link: "); at != std::string::npos;
             at = hints.find("Link: ", at + 1))
            ++links;
        CHECK(links == 5);
        CHECK_THAT(hints, Contains("</a4>;rel=preload\r\n") && !Contains("</a5>"));

        Edge bytes(dir, "", hints_toml(origin, true, "max_links = 100\nmax_bytes = 256\n"));
        timed_exchange(bytes.port(), get_request(t));
        auto b = timed_exchange(bytes.port(), get_request(t));
        const std::string h = b.bytes.substr(0, b.bytes.find("HTTP/1.1 200"));
        REQUIRE(h.starts_with("HTTP/1.1 103"));
        const auto fields = h.substr(h.find("\r\n") + 2);
        CHECK(fields.size() <= 256 + 2);  // the fields, then the blank line
    }
    SECTION("a purge of the URL forgets its hints") {
        Edge edge(dir, "", hints_toml(origin));
        const std::string t = page("purged", kLinks);
        timed_exchange(edge.port(), get_request(t));
        REQUIRE(timed_exchange(edge.port(), get_request(t)).bytes.starts_with("HTTP/1.1 103"));
        HttpClient admin(edge.admin_port());
        auto purged = admin.request("POST", "/purge",
                                    {{"Content-Type", "application/json"},
                                     {"Authorization", std::string("Bearer ") + kAdminToken}},
                                    R"({"files":["http://localhost)" + t + R"("]})");
        REQUIRE(purged.result_int() == 200);
        CHECK_THAT(timed_exchange(edge.port(), get_request(t)).bytes, !Contains(" 103 "));
    }
}

namespace {

// A POST head announcing `length` body bytes and asking for 100 Continue; no body follows.
std::string expect_head(const std::string& host, std::uint64_t length,
                        const std::string& more = "") {
    return "POST /_echo HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Length: " + std::to_string(length) + "\r\nExpect: 100-continue\r\n" + more +
           "\r\n";
}

}  // namespace

TEST_CASE("Expect: 100-continue: a request the edge refuses gets its answer without a 100",
          "[edge][expect]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "",
              "[limits]\nmax_body_size = \"1MiB\"\n[[origin]]\nhosts = [\"a.example\"]\nurl = \"" +
                  origin.url() + "\"\n");
    const auto quiet = std::chrono::milliseconds(1500);
    // Only the head is sent: each answer comes without waiting for a body that never comes.
    SECTION("a Content-Length over the body limit: 413") {
        const auto r = raw_exchange(edge.port(), expect_head("a.example", 100 << 20), quiet);
        CHECK(r.starts_with("HTTP/1.1 413"));
        CHECK_THAT(r, !Contains("100 Continue"));
        CHECK_THAT(r, Contains("Connection: close"));
    }
    SECTION("a host no origin group serves: 421") {
        const auto r = raw_exchange(edge.port(), expect_head("b.example", 10), quiet);
        CHECK(r.starts_with("HTTP/1.1 421"));
        CHECK_THAT(r, !Contains("100 Continue"));
        CHECK_THAT(r, Contains("Connection: close"));
    }
    SECTION("a loop: 508") {
        const auto r = raw_exchange(edge.port(),
                                    expect_head("a.example", 10, "CDN-Loop: test-edge\r\n"), quiet);
        CHECK(r.starts_with("HTTP/1.1 508"));
        CHECK_THAT(r, !Contains("100 Continue"));
    }
    SECTION("an invalid Host: 400") {
        const auto r = raw_exchange(edge.port(), expect_head("a b", 10), quiet);
        CHECK(r.starts_with("HTTP/1.1 400"));
        CHECK_THAT(r, !Contains("100 Continue"));
    }
    CHECK(origin.total() == 0);
}

TEST_CASE("Expect: 100-continue: an accepted upload gets 100, then its body is delivered",
          "[edge][expect][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    SECTION("raw socket") {
        const std::string body = "0123456789";
        const auto r = raw_exchange(edge.port(), expect_head("localhost", body.size()) + body);
        REQUIRE(r.starts_with("HTTP/1.1 100 Continue\r\n\r\n"));
        CHECK_THAT(r, Contains("HTTP/1.1 200"));
        CHECK_THAT(r, Contains("\"body\":\"0123456789\""));
    }
    SECTION("curl, 2 MiB") {
        const std::string file = dir.write("upload.bin", std::string(2 << 20, 'u'));
        const auto r = run_command({"curl", "-sS", "-v", "--stderr", "-", "-o", "/dev/null", "-w",
                                    "%{http_code} %{size_upload}\n", "--max-time", "20", "-H",
                                    "Expect: 100-continue", "--data-binary", "@" + file,
                                    "http://127.0.0.1:" + std::to_string(edge.port()) + "/up"});
        REQUIRE(r.status == 0);
        CHECK_THAT(r.out, Contains("< HTTP/1.1 100 Continue"));
        CHECK_THAT(r.out, Contains("200 2097152"));
    }
}

namespace {

// One client connection driven step by step: what arrived so far, and when.
class Conversation {
  public:
    explicit Conversation(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~Conversation() { ::close(fd_); }
    void send(const std::string& bytes) {
        REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size()));
    }
    // Reads until `what` has arrived, the peer closes, or `limit` passes; whether it arrived.
    bool read_until(const std::string& what, std::chrono::milliseconds limit = 5000ms) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (got.find(what) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buf[16384];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return got.find(what) != std::string::npos;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }
    std::string got;

  private:
    int fd_;
};

}  // namespace

TEST_CASE("Expect: 100-continue goes to the origin: its 100 is relayed, then the body",
          "[edge][expect]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string body = "hello-upload";
    Conversation c(edge.port());
    c.send(expect_head("localhost", body.size()));
    // The origin was asked with Expect and answered 100: the edge relays it, body unread so far.
    REQUIRE(c.read_until("HTTP/1.1 100 Continue\r\n\r\n"));
    CHECK(origin.count("/_echo") == 0);  // origin_sim counts a request once it has its body
    c.send(body);
    REQUIRE(c.read_until("\"body\":\"hello-upload\""));
    CHECK(c.got.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"));
    CHECK_THAT(c.got, Contains("\"expect\":\"100-continue\""));  // as the origin saw it
    CHECK(origin.count("/_echo") == 1);
}

TEST_CASE("Expect: 100-continue: an origin's early final answer reaches the client, body unread",
          "[edge][expect]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    Conversation c(edge.port());
    c.send(
        "POST /up?status=401 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n"
        "Expect: 100-continue\r\n\r\n");
    REQUIRE(c.read_until("HTTP/1.1 401"));
    CHECK(c.got.starts_with("HTTP/1.1 401"));
    CHECK_THAT(c.got, !Contains("100 Continue"));
    CHECK_THAT(c.got, Contains("Connection: close"));
    CHECK(origin.count("/up?status=401") == 1);

    // curl sees the 401 and never sends its 2 MiB.
    const std::string file = dir.write("big.bin", std::string(2 << 20, 'b'));
    const auto r =
        run_command({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}\n",
                     "--max-time", "20", "-H", "Expect: 100-continue", "--data-binary", "@" + file,
                     "http://127.0.0.1:" + std::to_string(edge.port()) + "/up?status=401"});
    REQUIRE(r.status == 0);
    CHECK(r.out == "401 0\n");
    // The origin's connection that never got its body was not reused for the next request.
    CHECK(http_get(edge.port(), "/after").result_int() == 200);
}

TEST_CASE("Expect: 100-continue: an origin that says nothing gets the body after a second",
          "[edge][expect][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string body = "late-body";
    Conversation c(edge.port());
    const auto start = std::chrono::steady_clock::now();
    c.send("POST /_echo?expect=ignore HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(c.read_until("HTTP/1.1 100 Continue\r\n\r\n", 5000ms));
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= 900ms);
    CHECK(waited < 3000ms);
    c.send(body);
    REQUIRE(c.read_until("\"body\":\"late-body\""));
    CHECK_THAT(c.got, Contains("HTTP/1.1 200"));
}

TEST_CASE("Expect: 100-continue over HTTP/2: :status 100 before the body, or the refusal alone",
          "[edge][expect][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "",
              "[server]\nh2c = true\n[[origin]]\nhosts = [\"a.example\"]\nurl = \"" + origin.url() +
                  "\"\n");
    const std::string file = dir.write("up.bin", std::string(5000, 'x'));
    const std::string url = "http://127.0.0.1:" + std::to_string(edge.port()) + "/_echo";
    auto ok = run_command({"nghttp", "-v", "-d", file, "-H", "expect: 100-continue", "-H",
                           ":authority: a.example", url});
    REQUIRE(ok.status == 0);
    const auto s100 = ok.out.find(":status: 100");
    const auto s200 = ok.out.find(":status: 200");
    REQUIRE(s100 != std::string::npos);
    REQUIRE(s200 != std::string::npos);
    CHECK(s100 < s200);
    CHECK_THAT(ok.out, Contains(std::string(5000, 'x')));  // the echoed body

    auto refused = run_command({"nghttp", "-v", "-d", file, "-H", "expect: 100-continue", "-H",
                                ":authority: b.example", url});
    CHECK_THAT(refused.out, Contains(":status: 421"));
    CHECK_THAT(refused.out, !Contains(":status: 100"));
    CHECK(origin.total() == 1);
}
