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
