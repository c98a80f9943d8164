// GET /v1/fleet's assembly, pure: rates from two scrapes (and what one scrape, a restart or an
// idle interval give), edge status from registration and scrape, purge stream lag, grouping by
// region, the edges only the purge stream knows, and the recent purges with their acks.
#include "purge_api/fleet_view.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::purge_api;
namespace json = boost::json;

namespace {

EdgeMetrics requests(double hit, double miss, double pass = 0) {
    EdgeMetrics m;
    m.requests["hit"] = hit;
    m.requests["miss"] = miss;
    if (pass > 0) m.requests["pass"] = pass;
    return m;
}

registration::RegisteredEdge registered(const std::string& id, const std::string& region,
                                        const std::string& admin = "http://127.0.0.1:9081") {
    registration::RegisteredEdge e;
    e.reg.id = id;
    e.reg.region = region;
    e.reg.http = "http://127.0.0.1:9080";
    e.reg.admin = admin;
    e.reg.ipv4 = {"127.0.0.1"};
    e.reg.role = "edge";
    e.reg.version = "0.15.0";
    e.reg.instance = "inst-" + id;
    e.registered_ms = 1'000;
    e.renewed_ms = 9'000;
    e.expires_ms = 19'000;
    return e;
}

const json::object& edge_in(const json::object& fleet, std::string_view id) {
    for (const auto& r : fleet.at("regions").as_array())
        for (const auto& e : r.at("edges").as_array())
            if (e.at("id").as_string() == id) return e.as_object();
    FAIL("no edge " << id);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("fleet: req/s and hit ratio over the interval between two scrapes",
          "[purge_api][fleet]") {
    EdgeScrape s;
    record_scrape_ok(s, "i1", 10'000, requests(80, 20, 10));
    // One scrape: no rate yet, the hit ratio since start-up.
    EdgeRates r = edge_rates(s);
    CHECK_FALSE(r.req_per_s);
    REQUIRE(r.hit_ratio);
    CHECK(*r.hit_ratio == Approx(0.8));
    CHECK(r.cumulative);

    // 2 s later: 40 more requests (30 cacheable, 15 hits).
    record_scrape_ok(s, "i1", 12'000, requests(95, 35, 20));
    r = edge_rates(s);
    REQUIRE(r.req_per_s);
    CHECK(*r.req_per_s == Approx(20.0));
    REQUIRE(r.hit_ratio);
    CHECK(*r.hit_ratio == Approx(0.5));
    CHECK_FALSE(r.cumulative);
    CHECK(r.interval_ms == 2000);

    // An idle interval: 0 req/s, no hit ratio (nothing to divide).
    record_scrape_ok(s, "i1", 14'000, requests(95, 35, 20));
    r = edge_rates(s);
    CHECK(r.req_per_s == 0.0);
    CHECK_FALSE(r.hit_ratio);
    CHECK_FALSE(r.cumulative);

    // A failed attempt keeps the last good scrapes; the next success rates over the longer span.
    record_scrape_failed(s, "i1", 16'000, "cannot connect");
    CHECK(s.error);
    CHECK(s.latest->at_ms == 14'000);
    record_scrape_ok(s, "i1", 18'000, requests(135, 35, 20));
    CHECK_FALSE(s.error);
    r = edge_rates(s);
    CHECK(*r.req_per_s == Approx(10.0));
    CHECK(*r.hit_ratio == Approx(1.0));
}

TEST_CASE("fleet: a restart (counters back, or a new instance) starts the rates over",
          "[purge_api][fleet]") {
    EdgeScrape s;
    record_scrape_ok(s, "i1", 10'000, requests(100, 100));
    record_scrape_ok(s, "i1", 12'000, requests(3, 1));  // the process restarted, same instance
    EdgeRates r = edge_rates(s);
    CHECK_FALSE(r.req_per_s);
    CHECK(r.cumulative);
    CHECK(*r.hit_ratio == Approx(0.75));

    record_scrape_ok(s, "i2", 14'000, requests(10, 10));  // a new registration
    CHECK(s.instance == "i2");
    CHECK_FALSE(s.previous);
    CHECK(edge_rates(s).cumulative);
    record_scrape_failed(s, "i3", 15'000, "refused");
    CHECK(s.instance == "i3");
    CHECK_FALSE(s.latest);
}

TEST_CASE("fleet: edges by region with registration, purge stream, stats and status",
          "[purge_api][fleet]") {
    FleetInputs in;
    in.now_ms = 10'000;
    in.head_seq = 43;
    in.scrape_interval_ms = 2000;
    in.registry.version = 7;
    in.registry.edges = {registered("a-up", "eu-central"), registered("b-down", "eu-central"),
                         registered("c-new", "us-east"), registered("d-noadmin", "us-east", "")};
    in.streams = {EdgeView{"a-up", 43, true, 9'500}, EdgeView{"b-down", 40, false, 5'000},
                  EdgeView{"z-configured", 0, false, std::nullopt}};
    EdgeMetrics m = requests(8, 2);
    m.tiers["memory"] = {2048, 3, 1 << 20};
    m.tiers["disk"] = {4096, 1, std::nullopt};
    m.disk = EdgeMetrics::Disk{false, 0, 0};
    record_scrape_ok(in.scrapes["a-up"], "inst-a-up", 8'000, requests(0, 0));
    record_scrape_ok(in.scrapes["a-up"], "inst-a-up", 9'800, m);
    record_scrape_failed(in.scrapes["b-down"], "inst-b-down", 9'900,
                         "cannot connect to http://127.0.0.1:9081: Connection refused");
    // A scrape of an earlier instance of c-new does not count for the new one.
    record_scrape_ok(in.scrapes["c-new"], "old-instance", 9'000, m);

    const json::object f = fleet_json(in);
    CHECK(f.at("log_head_seq").as_uint64() == 43);
    CHECK(f.at("scrape_interval_ms").as_int64() == 2000);
    CHECK(f.at("observer_health").is_null());
    const auto& regions = f.at("regions").as_array();
    REQUIRE(regions.size() == 3);  // eu-central, us-east, then "" (not registered)
    CHECK(regions[0].at("region").as_string() == "eu-central");
    CHECK(regions[1].at("region").as_string() == "us-east");
    CHECK(regions[2].at("region").as_string() == "");
    CHECK(regions[0].at("edges").as_array().size() == 2);

    const json::object& a = edge_in(f, "a-up");
    CHECK(a.at("status").as_string() == "up");
    CHECK(a.at("role").as_string() == "edge");
    CHECK(a.at("registration").at("lease_age_ms").as_int64() == 1'000);
    CHECK(a.at("registration").at("expires_in_ms").as_int64() == 9'000);
    CHECK(a.at("registration").at("admin").as_string() == "http://127.0.0.1:9081");
    CHECK(a.at("purge").at("connected").as_bool());
    CHECK(a.at("purge").at("lag").as_uint64() == 0);
    const json::object& st = a.at("stats").as_object();
    CHECK(st.at("state").as_string() == "ok");
    CHECK(st.at("req_per_s").as_double() == Approx(10 / 1.8));
    CHECK(st.at("hit_ratio").as_double() == Approx(0.8));
    CHECK(st.at("hit_ratio_window").as_string() == "interval");
    CHECK(st.at("age_ms").as_int64() == 200);
    CHECK(st.at("cache_bytes").as_int64() == 6144);
    CHECK(st.at("cache_objects").as_int64() == 4);
    CHECK(st.at("tiers").at("memory").at("capacity_bytes").as_int64() == (1 << 20));
    CHECK(st.at("tiers").at("disk").at("capacity_bytes").is_null());
    CHECK(st.at("disk").at("degraded").as_bool() == false);

    const json::object& b = edge_in(f, "b-down");
    CHECK(b.at("status").as_string() == "unreachable");
    CHECK(b.at("stats").at("error").as_string() ==
          "cannot connect to http://127.0.0.1:9081: Connection refused");
    CHECK_FALSE(b.at("stats").as_object().contains("req_per_s"));
    CHECK(b.at("purge").at("lag").as_uint64() == 3);
    CHECK_FALSE(b.at("purge").at("connected").as_bool());

    CHECK(edge_in(f, "c-new").at("status").as_string() == "pending");
    CHECK(edge_in(f, "c-new").at("purge").at("known").as_bool() == false);
    CHECK(edge_in(f, "c-new").at("purge").at("lag").as_uint64() == 43);
    CHECK(edge_in(f, "d-noadmin").at("status").as_string() == "registered");
    CHECK(edge_in(f, "d-noadmin").at("stats").at("state").as_string() == "no_admin_url");

    const json::object& z = edge_in(f, "z-configured");
    CHECK(z.at("status").as_string() == "unregistered");
    CHECK(z.at("registration").is_null());
    CHECK(z.at("purge").at("lag").as_uint64() == 43);

    CHECK(f.at("totals").at("edges").as_uint64() == 5);
    CHECK(f.at("totals").at("up").as_uint64() == 1);
    CHECK(f.at("totals").at("req_per_s").as_double() == Approx(10 / 1.8));
}

TEST_CASE("fleet: recent purges with values summarized and per-edge acks", "[purge_api][fleet]") {
    FleetInputs in;
    std::vector<std::string> many;
    for (int i = 0; i < 8; ++i)
        many.push_back("https://shop.example/" + std::to_string(i));
    PurgeProgress p2;
    p2.edges = {EdgeProgress{"a", EdgeStatus::applied, 5'000},
                EdgeProgress{"b", EdgeStatus::pending, std::nullopt},
                EdgeProgress{"c", EdgeStatus::unreachable, std::nullopt}};
    PurgeProgress p1;
    p1.edges = {EdgeProgress{"a", EdgeStatus::applied, 4'000}};
    p1.complete = true;
    p1.completed_ms = 4'000;
    in.purges = {
        RecentPurge{make_record(2, "id-two", 4'900, PurgeDraft{PurgeKind::files, many, true}), p2},
        RecentPurge{make_record(1, "id-one", 3'900, PurgeDraft{PurgeKind::tags, {"blue"}, false}),
                    p1}};
    const json::object f = fleet_json(in);
    const auto& purges = f.at("purges").as_array();
    REQUIRE(purges.size() == 2);
    const json::object& two = purges[0].as_object();
    CHECK(two.at("id").as_string() == "id-two");
    CHECK(two.at("seq").as_uint64() == 2);
    CHECK(two.at("kind").as_string() == "files");
    CHECK(two.at("soft").as_bool());
    CHECK(two.at("values").as_array().size() == kFleetValuesShown);
    CHECK(two.at("values_total").as_uint64() == 8);
    CHECK(two.at("time_ms").as_int64() == 4'900);
    CHECK_FALSE(two.at("complete").as_bool());
    CHECK(two.at("completed_ms").is_null());
    CHECK(two.at("applied").as_uint64() == 1);
    CHECK(two.at("pending").as_uint64() == 1);
    CHECK(two.at("unreachable").as_uint64() == 1);
    CHECK(two.at("edges").at(0).at("applied_ms").as_int64() == 5'000);
    CHECK(two.at("edges").at(2).at("status").as_string() == "unreachable");
    const json::object& one = purges[1].as_object();
    CHECK(one.at("complete").as_bool());
    CHECK(one.at("completed_ms").as_int64() == 4'000);
    CHECK(f.at("regions").as_array().empty());
    CHECK(f.at("totals").at("edges").as_uint64() == 0);
}
