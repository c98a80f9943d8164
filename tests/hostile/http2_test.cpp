// Hostile HTTP/2 clients against the real edge over h2c, origin_sim behind it (issue 13). Each
// attack must end in bounded time with the protocol's answer, release what it held (origin
// connections), and leave the edge serving everyone else.
#include "tests/integration/cluster.hpp"
#include "tests/support/h2_raw_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

using namespace cdn::test;
using namespace cdn::test::h2;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// Established TCP connections from anyone on loopback to `port` (the edge's origin
// connections, when `port` is origin_sim's), from /proc/net/tcp.
int connections_to(std::uint16_t port) {
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // header
    int n = 0;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        const auto colon = remote.find(':');
        if (colon == std::string::npos || state != "01") continue;  // 01: ESTABLISHED
        if (std::stoul(remote.substr(colon + 1), nullptr, 16) == port) ++n;
    }
    return n;
}

std::string url(const Edge& edge, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(edge.port()) + path;
}

// curl over h2c (prior knowledge), optionally from another loopback address: the body.
CommandResult curl_h2(const Edge& edge, const std::string& path, const std::string& from = {}) {
    std::vector<std::string> argv = {"curl", "-sS", "--http2-prior-knowledge", "--max-time", "10"};
    if (!from.empty()) argv.insert(argv.end(), {"--interface", from});
    argv.push_back(url(edge, path));
    return run_command(argv, 15s);
}

double limit_hits(Edge& edge, const std::string& limit) {
    return edge.metric("cdn_edge_http2_limits_total{limit=\"" + limit + "\"}");
}

}  // namespace

TEST_CASE(
    "a client with shut windows on large objects: streams reset after client_send, "
    "origin connections released",
    "[hostile][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    // Objects over 64 KiB are relayed straight from the origin: one origin connection each.
    Edge edge(dir, origin.url(),
              "[server]\nh2c = true\n[cache]\nmax_object_size = \"64KiB\"\n"
              "[timeouts]\nclient_send = \"1s\"\n");
    // A small object first, cached. Its origin connection waits in the pool of its worker (the
    // edge runs two), where a large object may take it next.
    const auto warm = curl_h2(edge, "/small?size=100");
    CHECK(warm.status == 0);
    REQUIRE(eventually([&] { return connections_to(origin.port()) == 1; }));
    RawClient c(edge.port());
    // SETTINGS_INITIAL_WINDOW_SIZE 0, and never a WINDOW_UPDATE: nothing can be sent.
    std::string out = RawClient::preface(/*ack=*/true, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
    constexpr int kStreams = 5;
    for (int i = 0; i < kStreams; ++i)
        out += c.headers(1 + 2 * i, "GET", "/big-" + std::to_string(i) + "?size=8MiB");
    c.send(out);
    REQUIRE(eventually([&] { return connections_to(origin.port()) >= kStreams; }));

    // Meanwhile the edge serves others (a hit: no origin connection of its own).
    const auto other = curl_h2(edge, "/small?size=100");
    CHECK(other.status == 0);
    CHECK(other.out.size() == 100);

    const auto started = std::chrono::steady_clock::now();
    int resets = 0;
    REQUIRE(c.read_until([&](const Frame& f) {
        CHECK(f.type != NGHTTP2_GOAWAY);
        if (f.type == NGHTTP2_RST_STREAM) {
            CHECK(f.error_code() == NGHTTP2_CANCEL);
            ++resets;
        }
        return resets == kStreams;
    }));
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    // The relays are gone, and with them their origin connections: at most the idle one is left.
    CHECK(eventually([&] { return connections_to(origin.port()) <= 1; }));
    CHECK(limit_hits(edge, "stream_send_stall") == kStreams);
    // The connection itself is still usable once the client opens its windows.
    c.send(settings({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535}}) +
           c.headers(1 + 2 * kStreams, "GET", "/after?size=10"));
    REQUIRE(c.read_until([&](const Frame& f) {
        return f.type == NGHTTP2_DATA && f.stream == 1 + 2 * kStreams &&
               (f.flags & NGHTTP2_FLAG_END_STREAM);
    }));
}

TEST_CASE("an HPACK bomb ends its connection at once, others are served", "[hostile][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[server]\nh2c = true\n");
    RawClient c(edge.port());
    // 40 header blocks of ~13 KiB that each decode to ~30 MB (1.2 GB of fields in all).
    std::string out = RawClient::preface(/*ack=*/true);
    for (std::uint32_t i = 0; i < 40; ++i)
        out += hpack_bomb(1 + 2 * i, "/bomb", 3000, 10000, /*first_on_connection=*/i == 0);
    const auto started = std::chrono::steady_clock::now();
    c.send(out);
    auto g = c.read_until(is_goaway);
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_COMPRESSION_ERROR);
    CHECK(c.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    const auto other = curl_h2(edge, "/other?size=100");
    CHECK(other.status == 0);
    CHECK(other.out.size() == 100);
    CHECK(limit_hits(edge, "header_block") == 1);
}

TEST_CASE("a flood of cheap frames gets GOAWAY(ENHANCE_YOUR_CALM), real clients never do",
          "[hostile][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[server]\nh2c = true\n");  // default [http2] limits
    SECTION("PING") {
        RawClient c(edge.port());
        std::string out = RawClient::preface(/*ack=*/true);
        for (int i = 0; i < 5000; ++i)
            out += frame(NGHTTP2_PING, 0, 0, std::string(8, 'p'));
        c.send(out);
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
        CHECK(c.closed_by_server());
    }
    SECTION("PRIORITY, WINDOW_UPDATE of 1 and unknown frames, mixed") {
        RawClient c(edge.port());
        std::string out = RawClient::preface(/*ack=*/true);
        for (std::uint32_t i = 0; i < 2000; ++i) {
            out += frame(NGHTTP2_PRIORITY, 0, 3 + 2 * i, u32(1) + std::string(1, '\x10'));
            out += window_update(0, 1);
            out += frame(0xbb, 0, 0, "?");
        }
        c.send(out);
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
        CHECK(c.closed_by_server());
    }
    CHECK(limit_hits(edge, "cheap_frames") == 1);
    // Real clients with the default limits: a small-window download (many WINDOW_UPDATEs) and
    // many streams on a few connections.
    const auto small_window =
        run_command({"nghttp", "-n", "-w", "14", "-W", "14", url(edge, "/w?size=1MiB")}, 60s);
    CHECK(small_window.status == 0);
    const auto load =
        run_command({"h2load", "-n", "300", "-c", "3", "-m", "20", url(edge, "/l?size=2000")}, 60s);
    CHECK(load.status == 0);
    CHECK_THAT(load.out, Contains("300 succeeded, 0 failed, 0 errored"));
    CHECK(limit_hits(edge, "cheap_frames") == 1);
}

TEST_CASE("rapid reset spread over connections runs out per address, and another address is served",
          "[hostile][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    // 200 resets per connection (the default), 300 per address.
    Edge edge(dir, origin.url(),
              "[server]\nh2c = true\n[http2]\naddress_reset_burst = 300\n"
              "address_reset_rate = 1\n");
    auto resets = [](RawClient& c, std::uint32_t count) {
        std::string out = RawClient::preface();
        for (std::uint32_t i = 0; i < count; ++i) {
            out += c.headers(1 + 2 * i, "GET", "/rr?size=100");
            out += rst_stream(1 + 2 * i);
        }
        return out;
    };
    {
        RawClient c(edge.port());  // 150 resets: under both budgets, and then served
        std::string out = resets(c, 150);
        out += c.headers(301, "GET", "/rr?size=100");
        c.send(out);
        REQUIRE(c.read_until([&](const Frame& f) {
            CHECK(f.type != NGHTTP2_GOAWAY);
            return f.type == NGHTTP2_DATA && f.stream == 301 && (f.flags & NGHTTP2_FLAG_END_STREAM);
        }));
    }
    {
        RawClient c(edge.port());  // 190 more, still under the connection's 200: the address
        c.send(resets(c, 190));    // runs out
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
        CHECK(c.closed_by_server());
    }
    {
        // The next connection from it ends at once, or after its first reset or two (the budget
        // refills at 1/s).
        RawClient c(edge.port());
        c.send(resets(c, 10));
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
    }
    {
        // Another address: served, and with a budget of its own.
        RawClient c(edge.port(), "127.0.0.2");
        std::string out = resets(c, 150);
        out += c.headers(301, "GET", "/rr?size=100");
        c.send(out);
        REQUIRE(c.read_until([&](const Frame& f) {
            CHECK(f.type != NGHTTP2_GOAWAY);
            return f.type == NGHTTP2_DATA && f.stream == 301 && (f.flags & NGHTTP2_FLAG_END_STREAM);
        }));
        const auto other = curl_h2(edge, "/rr?size=100", "127.0.0.2");
        CHECK(other.status == 0);
        CHECK(other.out.size() == 100);
    }
    CHECK(limit_hits(edge, "address_resets") >= 2);
    CHECK(limit_hits(edge, "reset_rate") == 0);
}
