#include "common/metrics.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using Catch::Matchers::Contains;

TEST_CASE("prometheus text", "[metrics]") {
    MetricsRegistry r;
    r.counter("cdn_test_requests_total", "Requests.", R"(outcome="hit")").inc(3);
    r.counter("cdn_test_requests_total", "Requests.", R"(outcome="miss")").inc();
    r.gauge_fn("cdn_test_bytes", "Bytes.", [] { return 42.0; });
    auto& h = r.histogram("cdn_test_seconds", "Latency.", {0.1, 1});
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const std::string text = r.render();
    CHECK_THAT(text, Contains("# TYPE cdn_test_requests_total counter\n"));
    CHECK_THAT(text, Contains("cdn_test_requests_total{outcome=\"hit\"} 3\n"));
    CHECK_THAT(text, Contains("cdn_test_requests_total{outcome=\"miss\"} 1\n"));
    CHECK_THAT(text, Contains("cdn_test_bytes 42\n"));
    CHECK_THAT(text, Contains("cdn_test_seconds_bucket{le=\"0.1\"} 1\n"));
    CHECK_THAT(text, Contains("cdn_test_seconds_bucket{le=\"1\"} 2\n"));
    CHECK_THAT(text, Contains("cdn_test_seconds_bucket{le=\"+Inf\"} 3\n"));
    CHECK_THAT(text, Contains("cdn_test_seconds_count 3\n"));
}
