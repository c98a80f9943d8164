// Operations: the things an operator does to running daemons, with the real binaries.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <string>

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
