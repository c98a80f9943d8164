// The Prometheus text reader the fleet view scrapes edges with: sample lines, labels and their
// escapes, special values, what is skipped, and the edge metrics taken from a page.
#include "purge_api/prom_text.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace cdn::purge_api;

TEST_CASE("prom text: a sample line with and without labels", "[purge_api][fleet]") {
    auto s = parse_prom_line("cdn_edge_cache_objects 42");
    REQUIRE(s);
    CHECK(s->name == "cdn_edge_cache_objects");
    CHECK(s->labels.empty());
    CHECK(s->value == 42);

    s = parse_prom_line(R"(cdn_edge_requests_total{outcome="hit",code="2xx"} 1.5e3)");
    REQUIRE(s);
    CHECK(s->name == "cdn_edge_requests_total");
    REQUIRE(s->labels.size() == 2);
    CHECK(s->label("outcome") == "hit");
    CHECK(s->label("code") == "2xx");
    CHECK_FALSE(s->label("tier"));
    CHECK(s->value == 1500);

    // Spaces around the parts, a trailing comma, a timestamp, CRLF.
    s = parse_prom_line("  x_total { a = \"1\" , } 7 1700000000000\r");
    REQUIRE(s);
    CHECK(s->label("a") == "1");
    CHECK(s->value == 7);
    s = parse_prom_line("x{} -3");
    REQUIRE(s);
    CHECK(s->value == -3);
}

TEST_CASE("prom text: label escapes and special values", "[purge_api][fleet]") {
    auto s = parse_prom_line(R"(m{parent="http://h:1/a\"b\\c\nd",g="x}y"} +Inf)");
    REQUIRE(s);
    CHECK(s->label("parent") == "http://h:1/a\"b\\c\nd");
    CHECK(s->label("g") == "x}y");
    CHECK(std::isinf(s->value));
    s = parse_prom_line("m -Inf");
    REQUIRE(s);
    CHECK(s->value < 0);
    CHECK(std::isinf(s->value));
    s = parse_prom_line("m NaN");
    REQUIRE(s);
    CHECK(std::isnan(s->value));
    s = parse_prom_line("m +12");
    REQUIRE(s);
    CHECK(s->value == 12);
}

TEST_CASE("prom text: comments, blanks and malformed lines are skipped", "[purge_api][fleet]") {
    for (const char* bad :
         {"", "   ", "# HELP m Something.", "# TYPE m counter", "m", "m{", "m{a=1} 2",
          R"(m{a="1" 2)", R"(m{a="1"}2)", "m 1x", "m 1 2 3", "m 1 notatime", "{a=\"1\"} 2", "9m 1",
          R"(m{a="unterminated} 1)", "m{=\"x\"} 1"}) {
        INFO(bad);
        CHECK_FALSE(parse_prom_line(bad));
    }
    const auto all = parse_prom_text(
        "# HELP a A.\n# TYPE a counter\na 1\nthis is not a sample\nb{x=\"y\"} 2\n\nc 3");
    REQUIRE(all.size() == 3);
    CHECK(all[0].name == "a");
    CHECK(all[1].name == "b");
    CHECK(all[2].value == 3);
}

TEST_CASE("prom text: the edge metrics the fleet view shows", "[purge_api][fleet]") {
    const EdgeMetrics m = edge_metrics(R"(# HELP cdn_edge_requests_total Requests by cache outcome.
# TYPE cdn_edge_requests_total counter
cdn_edge_requests_total{outcome="hit"} 80
cdn_edge_requests_total{outcome="miss"} 10
cdn_edge_requests_total{outcome="expired"} 4
cdn_edge_requests_total{outcome="revalidated"} 3
cdn_edge_requests_total{outcome="stale"} 3
cdn_edge_requests_total{outcome="pass"} 50
cdn_edge_requests_total{outcome="error"} 2
cdn_edge_cache_bytes{tier="memory"} 1048576
cdn_edge_cache_objects{tier="memory"} 12
cdn_edge_cache_capacity_bytes{tier="memory"} 67108864
cdn_edge_cache_bytes{tier="disk"} 4096
cdn_edge_cache_objects{tier="disk"} 1
cdn_edge_disk_degraded 0
cdn_edge_disk_recovered_objects 5
cdn_edge_disk_errors_total{op="write"} 1
cdn_edge_disk_errors_total{op="read"} 2
cdn_edge_parent_up{group="shield",parent="http://127.0.0.1:8180"} 0.5
cdn_edge_registered 1
cdn_edge_purge_last_seq 43
cdn_edge_purge_stream_connected 1
cdn_edge_client_connections 3
cdn_edge_unrelated_total 99
)");
    CHECK(m.requests_total() == 152);
    CHECK(m.cacheable() == 100);
    CHECK(m.hits() == 80);
    REQUIRE(m.tiers.size() == 2);
    CHECK(m.tiers.at("memory").bytes == 1048576);
    CHECK(m.tiers.at("memory").objects == 12);
    CHECK(m.tiers.at("memory").capacity_bytes == 67108864);
    CHECK(m.tiers.at("disk").objects == 1);
    CHECK_FALSE(m.tiers.at("disk").capacity_bytes);
    REQUIRE(m.disk);
    CHECK_FALSE(m.disk->degraded);
    CHECK(m.disk->recovered_objects == 5);
    CHECK(m.disk->errors == 3);
    REQUIRE(m.parents.size() == 1);
    CHECK(m.parents[0].group == "shield");
    CHECK(m.parents[0].parent == "http://127.0.0.1:8180");
    CHECK(m.parents[0].up == 0.5);
    CHECK(m.registered == 1);
    CHECK(m.purge_last_seq == 43);
    CHECK(m.purge_stream_connected == 1);
    CHECK(m.client_connections == 3);

    // An edge without disk, purge or parents: those stay absent.
    const EdgeMetrics bare = edge_metrics("cdn_edge_requests_total{outcome=\"miss\"} 1\n");
    CHECK_FALSE(bare.disk);
    CHECK_FALSE(bare.registered);
    CHECK(bare.parents.empty());
    CHECK(bare.hits() == 0);
    CHECK(bare.cacheable() == 1);
}
