// Replacing a running edge with a new process under load, as edge/README.md ("Upgrade")
// tells an operator to: start the new one beside it with --reuse-port, wait for "ready", send
// the old one SIGTERM. Runs in a network namespace of its own (tests/integration/in_netns.sh),
// where net.ipv4.tcp_migrate_req is 1, as the cdn-edge package sets it.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> edge_args(const std::string& port, const std::string& origin,
                                   const std::string& disk, const std::string& name) {
    return {EDGE_BIN,       "--listen",    "127.0.0.1:" + port,
            "--admin",      "127.0.0.1:0", "--origin",
            origin,         "--disk-path", disk,
            "--reuse-port", "--threads",   "2",
            "--name",       name,          "--no-access-log"};
}

}  // namespace

TEST_CASE("an edge is replaced under load without a failed request", "[operations][upgrade]") {
    TempDir dir;
    OriginSim origin(dir);
    const std::string disk = (dir.path() / "cache").string();
    auto old_edge = std::make_unique<Process>(edge_args("0", origin.url(), disk, "old"),
                                              (dir.path() / "old.log").string());
    const std::uint16_t port = old_edge->wait_for_port("http on");
    old_edge->wait_for_log("ready:");

    // Load: keep-alive clients as browsers and curl behave (a request on a reused connection
    // the server closed meanwhile is sent again on a new one). Bounded in count and time.
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> load;
    for (int t = 0; t < 4; ++t)
        load.emplace_back([&, t] {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
            std::unique_ptr<HttpClient> c;
            for (int i = 0; i < 50000 && !stop && std::chrono::steady_clock::now() < deadline;
                 ++i) {
                try {
                    if (!c) c = std::make_unique<HttpClient>(port);
                    // Hits on a few objects, and a miss every fourth request.
                    const std::string target =
                        i % 4 ? "/hot" + std::to_string(i % 8) + "?cc=max-age%3D600"
                              : "/m" + std::to_string(t) + "-" + std::to_string(i);
                    if (c->get(target).result_int() == 200)
                        ++ok;
                    else
                        ++failed;
                } catch (const std::exception& e) {
                    ++failed;
                    UNSCOPED_INFO("request failed: " << e.what());
                    c.reset();
                }
            }
        });
    // And clients that open a connection per request: some are always in the listeners'
    // accept queues, where closing the old edge's listeners must not reset them.
    for (int t = 0; t < 2; ++t)
        load.emplace_back([&, t] {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
            for (int i = 0; i < 50000 && !stop && std::chrono::steady_clock::now() < deadline;
                 ++i) {
                try {
                    if (http_get(port, "/new-conn" + std::to_string(i % 8) + "?cc=max-age%3D600")
                            .result_int() == 200)
                        ++ok;
                    else
                        ++failed;
                } catch (const std::exception& e) {
                    ++failed;
                    UNSCOPED_INFO("request on a new connection failed: " << e.what());
                }
            }
        });
    auto wait_requests = [&](int n) {
        const int target = ok + n;
        REQUIRE(eventually([&] { return ok >= target; }, std::chrono::seconds(30)));
    };
    wait_requests(300);

    // A new binary that fails to start (here: a config it cannot load) changes nothing.
    const std::string bad = dir.write("bad.toml", "[server]\nthreads = -1\n");
    Process broken({EDGE_BIN, "--config", bad, "--listen", "127.0.0.1:" + std::to_string(port),
                    "--reuse-port", "--origin", origin.url()},
                   (dir.path() / "broken.log").string());
    CHECK(broken.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(broken.log(), Contains("bad.toml:2: server.threads"));
    wait_requests(300);

    // The replacement: same port, same disk directory (it waits for the old edge's lock).
    Process new_edge(edge_args(std::to_string(port), origin.url(), disk, "new"),
                     (dir.path() / "new.log").string());
    CHECK(new_edge.wait_for_port("http on") == port);
    new_edge.wait_for_log("ready:");
    CHECK_THAT(new_edge.log(), Contains("held by process " + std::to_string(old_edge->pid()) +
                                        "; serving from memory until it exits"));
    wait_requests(300);

    // The old edge drains and exits; the new one serves everything and takes the disk over.
    CHECK(old_edge->terminate(std::chrono::seconds(20)) == 0);
    wait_requests(500);
    new_edge.wait_for_log("recovered ", std::chrono::seconds(20));
    wait_requests(300);
    stop = true;
    for (auto& t : load)
        t.join();
    INFO("ok " << ok << ", failed " << failed);
    CHECK(failed == 0);
    CHECK(new_edge.running());
    CHECK(new_edge.terminate() == 0);
}
