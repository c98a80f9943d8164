// HealthChecker against real origins: origin_sim processes on ephemeral loopback ports (and, for
// the request shape, a recording listener in the test). The test runs the io_context itself, for
// bounded slices of time, until the expected marks appear.
#include "common/metrics.hpp"
#include "edge/upstream/health_checker.hpp"
#include "edge/upstream/origin_set.hpp"
#include "tests/integration/cluster.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cdn;
using namespace cdn::edge::upstream;
using namespace cdn::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using Steady = std::chrono::steady_clock;

namespace {

OriginServer server_at(std::uint16_t port) {
    OriginServer s;
    s.url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/").value();
    s.endpoint = tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    return s;
}

HealthCheckSettings fast(std::string path = "/health") {
    HealthCheckSettings s;
    s.path = std::move(path);
    s.interval = 50ms;
    s.timeout = 200ms;
    s.thresholds.rise = 2;
    s.thresholds.fall = 3;
    return s;
}

BreakerSettings breaker() {
    return {};
}

// Runs io in short slices until pred() holds or limit passes; returns pred().
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 3s) {
    const auto deadline = Steady::now() + limit;
    while (!pred() && Steady::now() < deadline) {
        if (io.stopped()) io.restart();
        io.run_for(10ms);
    }
    return pred();
}

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
    if (io.stopped()) io.restart();
    io.run_for(d);
}

// A port where nothing listens: bound by an acceptor that never listens (connections are
// refused), kept reserved for as long as the acceptor lives.
struct ReservedPort {
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::uint16_t port = 0;
    ReservedPort() {
        acceptor.open(tcp::v4());
        acceptor.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
        port = acceptor.local_endpoint().port();
    }
};

// A listener in the test that records each request head and answers 200.
struct Recorder {
    std::vector<http::request<http::string_body>> requests;
};

asio::awaitable<void> record_requests(tcp::acceptor& acceptor, std::shared_ptr<Recorder> rec) {
    constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec) co_return;
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> req;
        auto [rec_ec, n] = co_await http::async_read(socket, buffer, req, nothrow);
        if (rec_ec) continue;
        rec->requests.push_back(req);
        http::response<http::string_body> res{http::status::ok, 11};
        res.body() = "ok";
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(socket, res, nothrow);
        (void)wec;
    }
}

}  // namespace

TEST_CASE("HealthChecker: a healthy origin stays up", "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    OriginSet set({server_at(origin.port())}, BalancePolicy::round_robin, breaker());
    Counter transitions;
    HealthChecker checker(io.get_executor(), set, fast(), &transitions);
    checker.start();
    REQUIRE(run_until(io, [&] { return origin.count("/health") >= 4; }));
    CHECK(set.healthy(0));
    run_for(io, 150ms);
    CHECK(set.healthy(0));
    CHECK(transitions.value() == 0);
}

TEST_CASE("HealthChecker: a stopped origin is marked down after fall failed checks",
          "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    OriginSet set({server_at(origin.port())}, BalancePolicy::round_robin, breaker());
    Counter transitions;
    HealthChecker checker(io.get_executor(), set, fast(), &transitions);
    checker.start();
    REQUIRE(run_until(io, [&] { return origin.count("/health") >= 2; }));
    REQUIRE(set.healthy(0));
    origin.process().terminate();

    const auto t = Steady::now();
    REQUIRE(run_until(io, [&] { return !set.healthy(0); }));
    // Three refused connections, 50 ms apart: not before the third.
    CHECK(Steady::now() - t >= 90ms);
    CHECK(transitions.value() == 1);
    CHECK_FALSE(set.pick(SystemClock::instance().now(), {}, 0.0));
    run_for(io, 150ms);
    CHECK_FALSE(set.healthy(0));
    CHECK(transitions.value() == 1);
}

TEST_CASE("HealthChecker: a 503 answer counts as a failure", "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    const std::string path = "/health?status=503";
    OriginSet set({server_at(origin.port())}, BalancePolicy::round_robin, breaker());
    Counter transitions;
    HealthCheckSettings s = fast(path);
    s.interval = 100ms;
    HealthChecker checker(io.get_executor(), set, s, &transitions);
    checker.start();
    // Two failures are not enough...
    REQUIRE(run_until(io, [&] { return origin.count(path) >= 2; }));
    CHECK(set.healthy(0));
    // ...the third one is.
    REQUIRE(run_until(io, [&] { return !set.healthy(0); }));
    const auto checks = origin.count(path);
    CHECK(checks >= 3);
    CHECK(checks <= 4);
    CHECK(transitions.value() == 1);
}

TEST_CASE("HealthChecker: 3xx passes, 4xx fails", "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    OriginSet set({server_at(origin.port()), server_at(origin.port())}, BalancePolicy::round_robin,
                  breaker());
    // Both servers are the same origin; each checker checks both with its own path.
    Counter up_transitions, down_transitions;
    HealthChecker redirect(io.get_executor(), set, fast("/health?status=302"), &up_transitions);
    redirect.start();
    REQUIRE(run_until(io, [&] { return origin.count("/health?status=302") >= 8; }));
    CHECK(set.healthy(0));
    CHECK(set.healthy(1));
    CHECK(up_transitions.value() == 0);
    redirect.stop();

    HealthChecker missing(io.get_executor(), set, fast("/health?status=404"), &down_transitions);
    missing.start();
    REQUIRE(run_until(io, [&] { return !set.healthy(0) && !set.healthy(1); }));
    CHECK(down_transitions.value() == 2);
}

TEST_CASE("HealthChecker: an origin that never answers is marked down by the timeout",
          "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    const std::string path = "/health?fault=hang";
    OriginSet set({server_at(origin.port())}, BalancePolicy::round_robin, breaker());
    Counter transitions;
    HealthCheckSettings s = fast(path);
    s.thresholds.fall = 2;
    HealthChecker checker(io.get_executor(), set, s, &transitions);
    checker.start();
    const auto t = Steady::now();
    REQUIRE(run_until(io, [&] { return !set.healthy(0); }));
    // Two timed-out checks (200 ms each) and one interval between them.
    CHECK(Steady::now() - t >= 400ms);
    CHECK(origin.count(path) >= 2);
    CHECK(transitions.value() == 1);
}

TEST_CASE("HealthChecker: servers are judged independently, and a down server rises",
          "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    ReservedPort dead;
    asio::io_context io;
    OriginSet set({server_at(dead.port), server_at(origin.port())}, BalancePolicy::round_robin,
                  breaker());
    set.set_healthy(1, false);  // the checker starts from the set's marks
    Counter transitions;
    HealthChecker checker(io.get_executor(), set, fast(), &transitions);
    checker.start();
    REQUIRE(run_until(io, [&] { return !set.healthy(0) && set.healthy(1); }));
    CHECK(transitions.value() == 2);
    // Rise needs two good checks.
    CHECK(origin.count("/health") >= 2);
    for (int i = 0; i < 4; ++i) {
        auto lease = set.pick(SystemClock::instance().now(), {}, 0.0);
        REQUIRE(lease);
        CHECK(lease->index() == 1);
    }
}

TEST_CASE("HealthChecker: an origin that comes back on its port is marked up again",
          "[health_checker]") {
    TempDir dir;
    auto reserved = std::make_unique<ReservedPort>();
    const std::uint16_t port = reserved->port;
    asio::io_context io;
    OriginSet set({server_at(port)}, BalancePolicy::round_robin, breaker());
    Counter transitions;
    HealthChecker checker(io.get_executor(), set, fast(), &transitions);
    checker.start();
    REQUIRE(run_until(io, [&] { return !set.healthy(0); }));

    // Hand the port to a real origin_sim.
    reserved.reset();
    Process origin({ORIGIN_SIM_BIN, "--listen", "127.0.0.1:" + std::to_string(port)},
                   (dir.path() / "origin.log").string());
    REQUIRE(origin.wait_for_port("listening on") == port);
    REQUIRE(run_until(io, [&] { return set.healthy(0); }));
    CHECK(transitions.value() == 2);
}

TEST_CASE("HealthChecker: the request is a GET with Host, User-Agent and Connection: close",
          "[health_checker]") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    const std::uint16_t port = acceptor.local_endpoint().port();
    auto rec = std::make_shared<Recorder>();
    asio::co_spawn(io, record_requests(acceptor, rec), asio::detached);

    OriginSet set({server_at(port)}, BalancePolicy::round_robin, breaker());
    {
        HealthChecker checker(io.get_executor(), set, fast("/healthz?deep=1"), nullptr);
        checker.start();
        REQUIRE(run_until(io, [&] { return rec->requests.size() >= 2; }));
    }
    HealthCheckSettings s = fast("/ping");
    s.host_header = "origin.example";
    {
        HealthChecker checker(io.get_executor(), set, s, nullptr);
        checker.start();
        REQUIRE(run_until(io, [&] { return rec->requests.size() >= 3; }));
    }
    acceptor.close();
    run_for(io, 50ms);

    const auto& first = rec->requests.at(0);
    CHECK(first.method() == http::verb::get);
    CHECK(first.target() == "/healthz?deep=1");
    CHECK(first.version() == 11);
    CHECK(first[http::field::host] == "127.0.0.1:" + std::to_string(port));
    CHECK(first[http::field::user_agent] == "cdn-edge-health");
    CHECK(first[http::field::connection] == "close");
    const auto& last = rec->requests.back();
    CHECK(last.target() == "/ping");
    CHECK(last[http::field::host] == "origin.example");
    CHECK(set.healthy(0));
}

TEST_CASE("HealthChecker: stop() ends the loops promptly, even mid-check", "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    const std::string path = "/health?fault=hang";
    OriginSet set({server_at(origin.port()), server_at(origin.port())}, BalancePolicy::round_robin,
                  breaker());
    HealthCheckSettings s = fast(path);
    s.timeout = 10s;  // the checks would hang for this long
    s.interval = 10s;
    HealthChecker checker(io.get_executor(), set, s, nullptr);
    checker.start();
    REQUIRE(run_until(io, [&] { return origin.count(path) >= 2; }));
    checker.stop();
    checker.stop();  // idempotent
    const auto t = Steady::now();
    io.restart();
    io.run_for(5s);  // returns as soon as the loops are gone (no work left)
    CHECK(Steady::now() - t < 1s);
    CHECK(set.healthy(0));
    CHECK(set.healthy(1));

    // Started after stop: nothing happens.
    checker.start();
    io.restart();
    CHECK(io.run_for(100ms) == 0);
}

TEST_CASE("HealthChecker: destroying the checker and its set while checks are pending is safe",
          "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    asio::io_context io;
    const std::string path = "/health?fault=hang";
    {
        auto set = std::make_unique<OriginSet>(std::vector<OriginServer>{server_at(origin.port())},
                                               BalancePolicy::random, breaker());
        auto checker =
            std::make_unique<HealthChecker>(io.get_executor(), *set, fast(path), nullptr);
        checker->start();
        REQUIRE(run_until(io, [&] { return origin.count(path) >= 1; }));
        checker.reset();
        set.reset();
    }
    // The coroutines wake up to a cancelled check and end without touching the set.
    const auto t = Steady::now();
    io.restart();
    io.run_for(5s);
    CHECK(Steady::now() - t < 1s);

    // Never run again: the frames are destroyed with the io_context.
    auto set = std::make_unique<OriginSet>(std::vector<OriginServer>{server_at(origin.port())},
                                           BalancePolicy::random, breaker());
    auto io2 = std::make_unique<asio::io_context>();
    {
        HealthChecker checker(io2->get_executor(), *set, fast(path), nullptr);
        checker.start();
        io2->run_for(30ms);
    }
    io2.reset();
}

TEST_CASE("HealthChecker: checks run on a multi-threaded io_context", "[health_checker]") {
    TempDir dir;
    OriginSim origin(dir);
    ReservedPort dead;
    asio::io_context io;
    std::vector<OriginServer> servers;
    for (int i = 0; i < 3; ++i)
        servers.push_back(server_at(origin.port()));
    servers.push_back(server_at(dead.port));
    OriginSet set(std::move(servers), BalancePolicy::least_outstanding, breaker());
    Counter transitions;
    HealthChecker checker(io.get_executor(), set, fast(), &transitions);
    checker.start();
    auto guard = asio::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
        threads.emplace_back([&io] { io.run(); });
    const auto deadline = Steady::now() + 3s;
    while (set.healthy(3) && Steady::now() < deadline)
        std::this_thread::sleep_for(10ms);  // waiting on other threads, not on time
    checker.stop();
    guard.reset();
    for (auto& th : threads)
        th.join();
    CHECK_FALSE(set.healthy(3));
    CHECK(set.healthy(0));
    CHECK(set.healthy(1));
    CHECK(set.healthy(2));
    CHECK(transitions.value() == 1);
}
