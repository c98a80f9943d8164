// Operations: the things an operator does to running daemons, with the real binaries.
#include "tests/integration/cluster.hpp"
#include "tests/support/raw_connection.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("every binary answers --version with its version, revision and build type",
          "[operations]") {
    for (const auto& [bin, name] :
         {std::pair{EDGE_BIN, "edge"}, std::pair{PURGE_API_BIN, "purge_api"},
          std::pair{GEODNS_BIN, "geodns"}, std::pair{ORIGIN_SIM_BIN, "origin_sim"}}) {
        const auto r = run_command({bin, "--version"});
        INFO(bin << ": " << r.out);
        CHECK(r.status == 0);
        CHECK_THAT(r.out, StartsWith(std::string(name) + " " + CDN_VERSION + " (revision "));
    }
}

TEST_CASE("the edge exports cdn_build_info", "[operations]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    // "edge 0.14.0 (revision abc123, Release)" names the labels the metric must carry.
    const std::string v = run_command({EDGE_BIN, "--version"}).out;
    const auto rev = v.find("(revision ") + 10, comma = v.find(", ", rev), close = v.find(')');
    const std::string sample = std::string("cdn_build_info{version=\"") + CDN_VERSION +
                               "\",revision=\"" + v.substr(rev, comma - rev) + "\",build_type=\"" +
                               v.substr(comma + 2, close - comma - 2) + "\"}";
    CHECK(edge.metric(sample) == 1.0);
}

TEST_CASE("the edge exports the standard process metrics", "[operations]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    CHECK(edge.metric("process_cpu_seconds_total") > 0);
    CHECK(edge.metric("process_resident_memory_bytes") > (1 << 20));
    CHECK(edge.metric("process_virtual_memory_bytes") >=
          edge.metric("process_resident_memory_bytes"));
    CHECK(edge.metric("process_open_fds") >= 5);  // std streams, listeners, the admin socket
    CHECK(edge.metric("process_max_fds") >= edge.metric("process_open_fds"));
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(edge.metric("process_start_time_seconds") <= now + 1);
    CHECK(edge.metric("process_start_time_seconds") > now - 300);
}

TEST_CASE("a second edge on a port in use is refused unless it opts in to reuse_port",
          "[operations][bad-input]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge first(dir, origin.url());
    const std::string taken = "127.0.0.1:" + std::to_string(first.port());

    Process second({EDGE_BIN, "--listen", taken, "--origin", origin.url(), "--threads", "2"},
                   (dir.path() / "second.log").string());
    CHECK(second.wait_exit(std::chrono::seconds(10)) == 1);
    CHECK_THAT(second.log(), Contains("cannot listen on " + taken));
    CHECK_THAT(second.log(), Contains("another process listens there"));
    CHECK(http_get(first.port(), "/still-served").result_int() == 200);

    // The opt-in (for a replacement started beside the running edge): both serve the port.
    Process replacement({EDGE_BIN, "--listen", taken, "--origin", origin.url(), "--threads", "1",
                         "--reuse-port", "--name", "replacement"},
                        (dir.path() / "replacement.log").string());
    CHECK(replacement.wait_for_port("http on") == first.port());
    replacement.wait_for_log("ready:");
    CHECK(replacement.terminate() == 0);
}

TEST_CASE("a second edge on a disk directory in use is refused, naming the holder's pid",
          "[operations][bad-input]") {
    TempDir dir;
    OriginSim origin(dir);
    const std::string cache = (dir.path() / "cache").string();
    Edge first(dir, origin.url(), "", {"--disk-path", cache});
    CHECK(http_get(first.port(), "/a").result_int() == 200);

    Process second(
        {EDGE_BIN, "--listen", "127.0.0.1:0", "--origin", origin.url(), "--disk-path", cache},
        (dir.path() / "second.log").string());
    CHECK(second.wait_exit(std::chrono::seconds(10)) == 1);
    CHECK_THAT(second.log(),
               Contains("disk tier " + cache + ": the directory is in use by process " +
                        std::to_string(first.process().pid())));

    // The lock goes with the process, also when it is killed: the next edge takes the directory.
    first.process().kill_hard();
    Edge third(dir, origin.url(), "", {"--disk-path", cache});
    CHECK(http_get(third.port(), "/a").result_int() == 200);
}

namespace {
// An edge run from a config file the test rewrites between reloads.
struct ReloadableEdge {
    TempDir& dir;
    std::string config_path;
    std::unique_ptr<Process> proc;
    std::uint16_t port = 0, admin = 0;

    ReloadableEdge(TempDir& d, const std::string& toml) : dir(d) {
        config_path = dir.write("edge.toml", toml);
        proc = std::make_unique<Process>(
            std::vector<std::string>{EDGE_BIN, "--config", config_path, "--listen", "127.0.0.1:0",
                                     "--admin", "127.0.0.1:0", "--threads", "2"},
            (dir.path() / "edge.log").string());
        port = proc->wait_for_port("http on");
        admin = proc->wait_for_port("admin on");
        proc->wait_for_log("ready:");
    }
    double metric(const std::string& sample) {
        const auto v = scrape_metric(admin, sample);
        if (!v) throw std::runtime_error("no sample " + sample);
        return *v;
    }
    // Rewrites the config, sends SIGHUP and waits for the reload's outcome.
    void reload(const std::string& toml, const char* outcome = "ok") {
        const std::string sample =
            std::string("cdn_edge_reloads_total{result=\"") + outcome + "\"}";
        const double before = metric(sample);
        dir.write("edge.toml", toml);
        ::kill(proc->pid(), SIGHUP);
        REQUIRE(eventually([&] { return metric(sample) == before + 1; }));
    }
};

std::string config_for(const std::string& origin_url, const std::string& extra = "") {
    return "[server]\nname = \"reloading\"\n" + extra + "\n[[origin]]\nurl = \"" + origin_url +
           "\"\n";
}
}  // namespace

TEST_CASE(
    "SIGHUP reloads the edge's config under load: no failed request, no dropped "
    "connection, the cache stays",
    "[operations][reload]") {
    TempDir dir;
    OriginSim first(dir), second(dir);
    ReloadableEdge edge(dir, config_for(first.url()));
    REQUIRE(http_get(edge.port, "/cached?cc=max-age%3D600").result_int() == 200);
    // A keep-alive connection opened before any reload, used again after them.
    RawConnection kept(edge.port);
    kept.send("GET /cached?cc=max-age%3D600 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    REQUIRE_THAT(kept.read_response(), StartsWith("HTTP/1.1 200"));

    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> load;
    for (int t = 0; t < 2; ++t)
        load.emplace_back([&, t] {
            HttpClient c(edge.port);
            // Bounded: at most 20,000 requests or 60 s, whichever comes first.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            for (int i = 0; i < 20000 && !stop && std::chrono::steady_clock::now() < deadline;
                 ++i) {
                try {
                    // Half hits, half misses (each miss a new object from whichever origin).
                    const std::string target =
                        i % 2 ? "/cached?cc=max-age%3D600"
                              : "/m" + std::to_string(t) + "-" + std::to_string(i);
                    if (c.get(target).result_int() == 200)
                        ++ok;
                    else
                        ++failed;
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    auto wait_requests = [&](int n) {
        const int target = ok + n;
        REQUIRE(eventually([&] { return ok >= target; }, std::chrono::seconds(30)));
    };
    wait_requests(200);
    // 1: the origin moves; a changed memory size is reported and kept.
    edge.reload(config_for(second.url(), "[cache]\nmemory = \"64MiB\""));
    CHECK_THAT(edge.proc->log(), Contains("cache.memory changed; it needs a restart"));
    wait_requests(200);
    const std::uint64_t at_second = second.total();
    wait_requests(200);
    CHECK(second.total() > at_second);  // new misses go to the new origin
    // 2: a config that does not load changes nothing and names the file and line.
    edge.reload(config_for(second.url()) + "[cache]\nnonsense = 1\n", "failed");
    CHECK_THAT(edge.proc->log(), Contains("reload failed, keeping the running config"));
    CHECK_THAT(edge.proc->log(), Contains("edge.toml:"));
    CHECK(edge.metric("cdn_edge_config_generation") == 2);
    wait_requests(200);
    // 3: back to the first origin.
    edge.reload(config_for(first.url()));
    wait_requests(200);
    const std::uint64_t at_first = first.total();
    wait_requests(200);
    CHECK(first.total() > at_first);
    stop = true;
    for (auto& t : load)
        t.join();
    INFO("ok " << ok << ", failed " << failed);
    CHECK(failed == 0);
    CHECK(edge.metric("cdn_edge_config_generation") == 3);
    CHECK(edge.metric(R"(cdn_edge_origin_up{origin=")" + first.url() + "\"}") == 1);

    // The connection from before the reloads is still served, from the same cache.
    kept.send("GET /cached?cc=max-age%3D600 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    const std::string again = kept.read_response();
    CHECK_THAT(again, StartsWith("HTTP/1.1 200"));
    CHECK_THAT(again, Contains("X-Cache: HIT"));

    // Client-side limits apply to connections accepted after the reload; an open one keeps
    // those it was accepted with.
    edge.reload(config_for(first.url()) + "[limits]\nmax_header_size = \"1KiB\"\n");
    const std::string big = "GET /cached?cc=max-age%3D600 HTTP/1.1\r\nHost: a.example\r\nX-Big: " +
                            std::string(2000, 'a') + "\r\n\r\n";
    kept.send(big);
    CHECK_THAT(kept.read_response(), StartsWith("HTTP/1.1 200"));
    RawConnection fresh(edge.port);
    fresh.send(big);
    CHECK_THAT(fresh.read_response(), StartsWith("HTTP/1.1 431"));
    CHECK(edge.proc->running());
}
