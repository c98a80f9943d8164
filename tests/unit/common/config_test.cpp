#include "common/config.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using Catch::Matchers::Contains;

TEST_CASE("typed reads with units", "[config]") {
    const auto c = ConfigSection::parse(R"(
[cache]
memory = "64MiB"
ttl = "30s"
plain_ttl = 12
names = ["a", "b"]
one = "x"
)",
                                        "t.toml");
    const auto cache = c.section("cache");
    REQUIRE(cache);
    CHECK(cache->size("memory") == 64u << 20);
    CHECK(cache->duration("ttl") == std::chrono::seconds(30));
    CHECK(cache->duration("plain_ttl") == std::chrono::seconds(12));
    CHECK(cache->strings("names") == std::vector<std::string>{"a", "b"});
    CHECK(cache->strings("one") == std::vector<std::string>{"x"});
    CHECK_FALSE(cache->string("absent"));
}

TEST_CASE("errors name the file, the line and the field", "[config]") {
    const auto c = ConfigSection::parse("[cache]\n\nmemory = \"lots\"\n", "edge.toml");
    REQUIRE_THROWS_WITH(c.section("cache")->size("memory"),
                        Contains("edge.toml:3: cache.memory: expected a size"));
    REQUIRE_THROWS_WITH(c.section("cache")->allow_only({"disk"}),
                        Contains("edge.toml:3: cache.memory: unknown key"));
    REQUIRE_THROWS_WITH(ConfigSection::parse("a = = 1", "bad.toml"), Contains("bad.toml:1:"));
}

TEST_CASE("arrays of tables carry their index in errors", "[config]") {
    const auto c = ConfigSection::parse("[[origin]]\nurl = \"x\"\n[[origin]]\nurl = 5\n", "o.toml");
    const auto origins = c.sections("origin");
    REQUIRE(origins.size() == 2);
    CHECK(origins[0].string("url") == "x");
    REQUIRE_THROWS_WITH(origins[1].string("url"), Contains("o.toml:4: origin[1].url"));
}

TEST_CASE("a missing file is a clear error", "[config]") {
    REQUIRE_THROWS_WITH(ConfigSection::load_file("/nonexistent/edge.toml"),
                        Contains("/nonexistent/edge.toml"));
}

TEST_CASE("paths are relative to the config file, and locate names file:line: field", "[config]") {
    const auto c = ConfigSection::parse("[s]\nrel = \"data/x\"\nabs = \"/var/x\"\nempty = \"\"\n",
                                        "/etc/cdn/p.toml");
    const auto s = c.section("s");
    REQUIRE(s);
    CHECK(s->file_path("rel") == std::filesystem::path("/etc/cdn/data/x"));
    CHECK(s->file_path("abs") == std::filesystem::path("/var/x"));
    CHECK_FALSE(s->file_path("absent"));
    CHECK_THROWS_WITH(s->file_path("empty"),
                      Contains("/etc/cdn/p.toml:4: s.empty: expected a path"));
    // A file named without a directory: relative to the working directory, as given.
    CHECK(ConfigSection::parse("d = \"x\"\n", "p.toml").file_path("d") ==
          std::filesystem::path("x"));
    CHECK(s->locate("abs") == "/etc/cdn/p.toml:3: s.abs");
    CHECK(s->locate("absent") == "/etc/cdn/p.toml:1: s.absent");
}
