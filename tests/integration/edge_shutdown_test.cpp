// Graceful shutdown of a real edge: on SIGTERM it stops accepting, closes idle keep-alive
// connections, lets requests in flight finish (HTTP/1.1 with "Connection: close", HTTP/2 after a
// GOAWAY), keeps /healthz answering 503 meanwhile, and exits 0 once drained, or when
// [timeouts] drain runs out. Clients: curl and nghttp as real ones, a raw socket for the idle
// keep-alive connection.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

// A keep-alive HTTP/1.1 connection made with plain sockets, so the test can watch for the
// server's close without sending anything.
class RawConnection {
  public:
    explicit RawConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~RawConnection() { ::close(fd_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    bool connected() const { return connected_; }

    // Sends a GET and reads its whole reply (Content-Length framing); the reply head.
    std::string get(const std::string& target) {
        const std::string req = "GET " + target + " HTTP/1.1\r\nHost: shutdown.test\r\n\r\n";
        if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
            return "send failed";
        std::string in;
        char buf[4096];
        for (;;) {
            const auto end = in.find("\r\n\r\n");
            if (end != std::string::npos) {
                const auto cl = in.find("Content-Length: ");
                if (cl != std::string::npos &&
                    in.size() >= end + 4 + std::stoul(in.substr(cl + 16)))
                    return in.substr(0, end + 4);
            }
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return "closed early: " + in;
            in.append(buf, static_cast<std::size_t>(n));
        }
    }
    // Waits (up to the 10 s receive timeout) for the server to close: true on EOF.
    bool closed_by_server() {
        char c;
        return ::recv(fd_, &c, 1, 0) == 0;
    }

  private:
    int fd_;
    bool connected_ = false;
};

bool can_connect(std::uint16_t port) {
    RawConnection c(port);
    return c.connected();
}

bool have(const std::string& tool) {
    return run_command({"sh", "-c", "command -v " + tool + " >/dev/null"}).status == 0;
}

}  // namespace

TEST_CASE(
    "shutdown: SIGTERM closes idle connections, finishes requests in flight over HTTP/1.1 and "
    "HTTP/2, answers 503 on /healthz meanwhile, then exits 0",
    "[edge][shutdown]") {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge(dir, origin.url(), "[server]\nh2c = true\n[timeouts]\ndrain = \"20s\"\n");
    const std::string base = "http://127.0.0.1:" + std::to_string(edge.port());

    RawConnection idle(edge.port());
    REQUIRE(idle.connected());
    CHECK_THAT(idle.get("/static/idle.txt"), Contains("HTTP/1.1 200"));

    // Two slow misses in flight: one over HTTP/1.1 (curl), one over HTTP/2 (nghttp or curl).
    const std::string slow1 = "/slow-h1?delay=2500&size=5000";
    const std::string slow2 = "/slow-h2?delay=2500&size=5000";
    Process h1({"/usr/bin/curl", "-sS", "-i", "--http1.1", "--max-time", "20", base + slow1},
               (dir.path() / "curl-h1.log").string());
    const bool nghttp = have("nghttp");
    std::unique_ptr<Process> h2;
    if (nghttp)
        h2 = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/nghttp", "-v", "-n", "-t", "20", base + slow2},
            (dir.path() / "nghttp.log").string());
    else
        h2 = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/curl", "-sS", "-i", "--http2-prior-knowledge",
                                     "--max-time", "20", base + slow2},
            (dir.path() / "curl-h2.log").string());
    // Both requests have reached the origin fetch before the signal.
    REQUIRE(eventually([&] { return edge.metric("cdn_edge_fills_inflight") == 2; }));

    REQUIRE(::kill(edge.process().pid(), SIGTERM) == 0);
    edge.process().wait_for_log("draining");
    // The idle keep-alive connection is closed at once; no new connection is taken.
    CHECK(idle.closed_by_server());
    CHECK_FALSE(can_connect(edge.port()));
    // Load balancers see the drain on the admin port, which stays up until the end.
    const Response health = http_get(edge.admin_port(), "/healthz");
    CHECK(health.result_int() == 503);
    // Both slow requests are still running: the drain waits for them.
    CHECK(h1.running());
    CHECK(h2->running());
    if (nghttp)  // the HTTP/2 client has been told (final GOAWAY after the shutdown notice)
        CHECK(eventually([&] {
            return scrape_metric(edge.admin_port(),
                                 R"(cdn_edge_http2_goaways_sent_total{error="no_error"})")
                       .value_or(0) >= 1;
        }));

    CHECK(edge.process().wait_exit(std::chrono::seconds(20)) == 0);
    CHECK_THAT(edge.process().log(), Contains("connections drained"));

    CHECK(h1.wait_exit(std::chrono::seconds(5)) == 0);
    const std::string h1_out = h1.log();
    INFO(h1_out);
    CHECK_THAT(h1_out, Contains("HTTP/1.1 200"));
    CHECK_THAT(h1_out, Contains("Connection: close"));
    CHECK(h1_out.size() > 5000);  // the whole body arrived

    CHECK(h2->wait_exit(std::chrono::seconds(5)) == 0);
    const std::string h2_out = h2->log();
    INFO(h2_out);
    if (nghttp) {
        CHECK_THAT(h2_out, Contains(":status: 200"));
        CHECK_THAT(h2_out, Contains("recv GOAWAY"));
    } else {
        CHECK_THAT(h2_out, Contains("HTTP/2 200"));
    }
    CHECK(origin.count(slow1) == 1);
    CHECK(origin.count(slow2) == 1);
}

TEST_CASE("shutdown: the drain is bounded by [timeouts] drain", "[edge][shutdown]") {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge(dir, origin.url(), "[timeouts]\ndrain = \"1s\"\n");
    const std::string base = "http://127.0.0.1:" + std::to_string(edge.port());
    Process hung({"/usr/bin/curl", "-sS", "-i", "--max-time", "30", base + "/hung?delay=25s"},
                 (dir.path() / "curl.log").string());
    REQUIRE(eventually([&] { return edge.metric("cdn_edge_fills_inflight") == 1; }));
    REQUIRE(::kill(edge.process().pid(), SIGTERM) == 0);
    // Exits after the drain timeout, long before the origin would have answered.
    CHECK(edge.process().wait_exit(std::chrono::seconds(8)) == 0);
    CHECK_THAT(edge.process().log(), Contains("drain timeout, closing 1 connection(s)"));
    CHECK(hung.wait_exit(std::chrono::seconds(5)) != 0);  // cut short, as promised
}

TEST_CASE("shutdown: with nothing in flight the edge exits at once", "[edge][shutdown]") {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge(dir, origin.url(), "[timeouts]\ndrain = \"30s\"\n");
    RawConnection idle(edge.port());
    REQUIRE(idle.connected());
    CHECK_THAT(idle.get("/static/a.txt"), Contains("HTTP/1.1 200"));
    // An idle keep-alive connection must not hold the process for client_idle (60 s) or the
    // drain (30 s): terminate() gives it 10 s before SIGKILL.
    CHECK(edge.process().terminate(std::chrono::seconds(10)) == 0);
    CHECK_THAT(edge.process().log(), Contains("connections drained"));
    CHECK(idle.closed_by_server());
}

TEST_CASE("shutdown: a second SIGTERM cuts the drain short", "[edge][shutdown]") {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge(dir, origin.url(), "[timeouts]\ndrain = \"60s\"\n");
    const std::string base = "http://127.0.0.1:" + std::to_string(edge.port());
    Process hung({"/usr/bin/curl", "-sS", "-i", "--max-time", "30", base + "/hung?delay=25s"},
                 (dir.path() / "curl.log").string());
    REQUIRE(eventually([&] { return edge.metric("cdn_edge_fills_inflight") == 1; }));
    REQUIRE(::kill(edge.process().pid(), SIGTERM) == 0);
    edge.process().wait_for_log("draining");
    CHECK(edge.process().running());  // waiting for the hung request
    REQUIRE(::kill(edge.process().pid(), SIGTERM) == 0);
    CHECK(edge.process().wait_exit(std::chrono::seconds(8)) == 0);
    CHECK_THAT(edge.process().log(), Contains("again, not waiting for 1 connection(s)"));
}
