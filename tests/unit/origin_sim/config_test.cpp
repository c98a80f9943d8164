#include "origin_sim/config.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::origin_sim;
using Catch::Matchers::Contains;

TEST_CASE("config errors name file, line and field", "[origin_sim][config]") {
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"/a\"\nsizee = 1\n", "o.toml"),
                        Contains("o.toml:3: object[0].sizee: unknown key"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"/a\"\nsize = \"big\"\n", "o.toml"),
                        Contains("o.toml:3: object[0].size"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\nsize = 1\n", "o.toml"),
                        Contains("object[0].path: each [[object]] needs a path or a prefix"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"/a\"\nprefix = \"/b\"\n", "o.toml"),
                        Contains("o.toml:3: object[0].prefix"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"a\"\n", "o.toml"),
                        Contains("must start with '/'"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"/a\"\nstatus = 700\n", "o.toml"),
                        Contains("o.toml:3: object[0].status"));
    REQUIRE_THROWS_WITH(parse_config("[[object]]\npath = \"/a\"\nfault = \"boom\"\n", "o.toml"),
                        Contains("o.toml:3: object[0].fault"));
    REQUIRE_THROWS_WITH(parse_config("[defaults]\n\npath = \"/a\"\n", "o.toml"),
                        Contains("o.toml:3: defaults.path"));
    REQUIRE_THROWS_WITH(parse_config("[defaults]\netag = \"maybe\"\n", "o.toml"),
                        Contains("o.toml:2: defaults.etag"));
    REQUIRE_THROWS_WITH(
        parse_config("[[object]]\npath = \"/a\"\n[object.headers]\nX = 1\n", "o.toml"),
        Contains("o.toml:4: object[0].headers.X: expected a string"));
    REQUIRE_THROWS_WITH(parse_config("[other]\n", "o.toml"), Contains("o.toml:1: other"));
    REQUIRE_THROWS_WITH(parse_config("[[object]\n", "o.toml"), Contains("o.toml:1:"));
    REQUIRE_THROWS_WITH(load_config("/nonexistent/sim.toml"), Contains("/nonexistent/sim.toml"));
}

TEST_CASE("config values are read into specs", "[origin_sim][config]") {
    const SimConfig c = parse_config(R"(
[defaults]
etag = "weak"
chunked = true
slow_ms = 5
date_offset = -3
age = "10"
vary = "Accept-Encoding"
set_cookie = "a=b"
tags = "one"

[[object]]
path = "/x"
etag = true
[object.headers]
"X-A" = "1"
"X-B" = "2"
)",
                                     "c.toml");
    CHECK(c.defaults.etag == EtagMode::weak);
    CHECK(c.defaults.chunked == true);
    CHECK(c.defaults.slow_interval == std::chrono::milliseconds(5));
    CHECK(c.defaults.date_offset == -3);
    CHECK(c.defaults.age == "10");
    CHECK(c.defaults.vary == "Accept-Encoding");
    CHECK(c.defaults.set_cookie == "a=b");
    CHECK(c.defaults.tags == std::vector<std::string>{"one"});
    REQUIRE(c.objects.size() == 1);
    CHECK(c.objects[0].path == "/x");
    CHECK(c.objects[0].spec.etag == EtagMode::strong);
    CHECK(c.objects[0].spec.headers == Headers{{"X-A", "1"}, {"X-B", "2"}});
    CHECK(c.match("/x") == &c.objects[0]);
    CHECK(c.match("/y") == nullptr);
}
