// [origin.early_hints]: off by default, per origin group, its knobs checked.
#include "edge/config.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge;
using Catch::Matchers::Contains;

namespace {

EdgeConfig load(const std::string& toml) {
    return load_edge_config(ConfigSection::parse(toml, "h.toml"));
}

}  // namespace

TEST_CASE("[origin.early_hints] is off by default and parses per group", "[edge_config]") {
    const auto c = load(
        "[[origin]]\nhosts = [\"a.example\"]\nurl = \"http://127.0.0.1:1\"\n"
        "[origin.early_hints]\nenabled = true\nmax_links = 4\nmax_bytes = \"1KiB\"\n"
        "[[origin]]\nhosts = [\"b.example\"]\nurl = \"http://127.0.0.1:2\"\n");
    REQUIRE(c.origins.size() == 2);
    CHECK(c.origins[0].early_hints.enabled);
    CHECK(c.origins[0].early_hints.max_links == 4);
    CHECK(c.origins[0].early_hints.max_bytes == 1024);
    CHECK_FALSE(c.origins[1].early_hints.enabled);
    CHECK(c.origins[1].early_hints.max_links == 16);
    CHECK(c.origins[1].early_hints.max_bytes == 4096);
}

TEST_CASE("bad [origin.early_hints] settings name file, line and key", "[edge_config]") {
    const std::string origin = "[[origin]]\nurl = \"http://127.0.0.1:1\"\n[origin.early_hints]\n";
    REQUIRE_THROWS_WITH(load(origin + "max_links = 0\n"),
                        Contains("h.toml:4: origin[0].early_hints.max_links: expected 1 to 100"));
    REQUIRE_THROWS_WITH(load(origin + "max_bytes = \"1MiB\"\n"),
                        Contains("h.toml:4") && Contains("max_bytes"));
    REQUIRE_THROWS_WITH(load(origin + "enable = true\n"), Contains("unknown key"));
}
