// Bodies stream from the origin to clients as they arrive: large objects pass through without
// being buffered whole, chunked origins work, collapsed waiters read the same stream, and only a
// complete body is ever stored.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("an object larger than the cache streams through, uncached", "[edge][streaming]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[cache]\nmemory = \"2MiB\"\nshards = 1\n");
    const std::string t = "/big.iso?size=8MiB";
    const std::string expected = cdn::origin_sim::make_body("/big.iso", 1, 8u << 20);
    HttpClient c(edge.port());
    auto first = c.get(t);
    CHECK(first.result_int() == 200);
    CHECK(first.body() == expected);
    CHECK_THAT(std::string(first["Cache-Status"]), Contains("too-large"));
    auto second = c.get(t);
    CHECK(second.body() == expected);
    CHECK(origin.count(t) == 2);
}

TEST_CASE("a chunked origin response streams chunked, then is stored whole", "[edge][streaming]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string t = "/feed.json?chunked=1&size=300000";
    const std::string expected = cdn::origin_sim::make_body("/feed.json", 1, 300000);
    HttpClient c(edge.port());
    auto first = c.get(t);
    CHECK(first.result_int() == 200);
    CHECK(std::string(first["X-Cache"]) == "MISS");
    CHECK(std::string(first["Transfer-Encoding"]) == "chunked");
    CHECK(first.body() == expected);
    auto hit = c.get(t);
    CHECK(std::string(hit["X-Cache"]) == "HIT");
    CHECK(std::string(hit["Content-Length"]) == "300000");
    CHECK(hit.body() == expected);
    CHECK(origin.count(t) == 1);
    // An HTTP/1.0 client cannot take chunks: the body ends with the connection.
    const std::string u = "/feed2.json?chunked=1&size=5000";
    const std::string raw = raw_exchange(edge.port(), "GET " + u + " HTTP/1.0\r\nHost: a\r\n\r\n",
                                         std::chrono::seconds(5));
    CHECK_THAT(raw, StartsWith("HTTP/1.1 200"));
    CHECK(raw.find("Transfer-Encoding") == std::string::npos);
    CHECK_THAT(raw, Contains("Connection: close"));
    CHECK(raw.substr(raw.find("\r\n\r\n") + 4) ==
          cdn::origin_sim::make_body("/feed2.json", 1, 5000));
}

TEST_CASE("the first bytes reach the client before the origin has sent the last",
          "[edge][streaming][slow]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    // 20 pieces of 1 KiB, 100 ms apart: about 2 s from first to last byte at the origin.
    const std::string t = "/slow.bin?size=20480&fault=slow&slow_ms=100";
    namespace asio = boost::asio;
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), edge.port()});
    const std::string req = "GET " + t + " HTTP/1.1\r\nHost: a\r\n\r\n";
    asio::write(s, asio::buffer(req));
    const auto start = std::chrono::steady_clock::now();
    std::string got;
    char buf[4096];
    std::chrono::steady_clock::duration first_body_byte{};
    while (got.size() < 20480 + 100) {
        boost::system::error_code ec;
        const std::size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        got.append(buf, n);
        const auto head_end = got.find("\r\n\r\n");
        if (first_body_byte == std::chrono::steady_clock::duration{} &&
            head_end != std::string::npos && got.size() > head_end + 4)
            first_body_byte = std::chrono::steady_clock::now() - start;
        if (head_end != std::string::npos && got.size() >= head_end + 4 + 20480) break;
    }
    const auto total = std::chrono::steady_clock::now() - start;
    CHECK(first_body_byte < 1000ms);
    CHECK(total > 1500ms);
    CHECK(got.substr(got.find("\r\n\r\n") + 4) ==
          cdn::origin_sim::make_body("/slow.bin", 1, 20480));
}

TEST_CASE("collapsed waiters read the body as it arrives, one origin fetch", "[edge][streaming]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string t = "/live.bin?size=10240&fault=slow&slow_ms=50";
    const std::string expected = cdn::origin_sim::make_body("/live.bin", 1, 10240);
    std::vector<std::thread> threads;
    std::vector<std::string> bodies(6);
    for (int i = 0; i < 6; ++i)
        threads.emplace_back([&, i] {
            try {
                bodies[static_cast<std::size_t>(i)] = http_get(edge.port(), t).body();
            } catch (const std::exception&) {
            }
        });
    for (auto& th : threads)
        th.join();
    for (const auto& b : bodies)
        CHECK(b == expected);
    CHECK(origin.count(t) == 1);
    CHECK(edge.metric("cdn_edge_collapsed_total") == 5);
    CHECK(std::string(http_get(edge.port(), t)["X-Cache"]) == "HIT");
}

TEST_CASE("a range of an object too large to cache is fetched as a range", "[edge][streaming]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[cache]\nmemory = \"2MiB\"\nshards = 1\n");
    const std::string t = "/movie.mp4?size=8MiB";
    const std::string expected = cdn::origin_sim::make_body("/movie.mp4", 1, 8u << 20);
    HttpClient c(edge.port());
    auto a = c.get(t, {{"Range", "bytes=100-199"}});
    CHECK(a.result_int() == 206);
    CHECK(a.body() == expected.substr(100, 100));
    // Once the key is known not to fit, ranges go straight to the origin.
    auto b = c.get(t, {{"Range", "bytes=-10"}});
    CHECK(b.result_int() == 206);
    CHECK(b.body() == expected.substr(expected.size() - 10));
    CHECK(origin.count(t) == 3);  // one full response dropped at its head, two ranges
}
