// The operator's fleet view end to end, with real processes on loopback: two edges in two
// regions register with purge_api, take traffic and a purge; GET /v1/fleet shows them with their
// scraped metrics and the purge's acks, and headless Chromium renders /dashboard#token=... into a
// DOM that lists both edges and the purge (and a screenshot of it). Without chromium (apt-get
// install chromium; infra/deps.sh test installs it) the browser part is skipped with a warning.
#include "tests/integration/cluster.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace json = boost::json;

namespace {

std::string edge_toml(const PurgeApi& api, const std::string& id, const std::string& region) {
    return "[purge]\napi = \"" + api.url() + "\"\ntoken = \"" + kEdgeToken + "\"\nedge_id = \"" +
           id + "\"\n[fleet]\nregion = \"" + region + "\"\n";
}

std::string find_chromium() {
    for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
        if (std::filesystem::exists(p)) return p;
    return {};
}

// Chromium's own chatter (dbus, GPU) goes to a file, not the test's output.
CommandResult chromium(const std::string& bin, const TempDir& dir, std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "/bin/sh",
        "-c",
        "exec \"$@\" 2>>\"$0\"",
        (dir.path() / "chromium.log").string(),
        bin,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--user-data-dir=" + (dir.path() / "chromium-profile").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 30s);
}

const json::object* edge_of(const json::value& fleet, std::string_view id) {
    for (const auto& r : fleet.at("regions").as_array())
        for (const auto& e : r.at("edges").as_array())
            if (e.at("id").as_string() == id) return &e.as_object();
    return nullptr;
}

}  // namespace

TEST_CASE("dashboard: the fleet view and the page in headless Chromium",
          "[dashboard][integration]") {
    TempDir dir;
    OriginSim origin(dir);
    PurgeApi api(dir);
    Edge eu(dir, origin.url(), edge_toml(api, "dash-eu", "eu-central"));
    Edge us(dir, origin.url(), edge_toml(api, "dash-us", "us-east"));
    eu.process().wait_for_log("registry: registered as dash-eu");
    us.process().wait_for_log("registry: registered as dash-us");
    REQUIRE(eventually([&] { return eu.metric("cdn_edge_purge_stream_connected") == 1; }));
    REQUIRE(eventually([&] { return us.metric("cdn_edge_purge_stream_connected") == 1; }));
    // Traffic on one edge: a miss, then hits.
    for (int i = 0; i < 4; ++i)
        REQUIRE(http_get(eu.port(), "/dash.txt").result_int() == 200);

    const Response purged = api.purge(R"({"tags":["dashboard-test"]})");
    REQUIRE(purged.result_int() == 200);
    const std::string purge_id(json::parse(purged.body()).at("result").at("id").as_string());

    // GET /v1/fleet: private (a token, admin or edge); both edges up with their metrics once the
    // scraper read them twice (every 2 s), the purge applied by both.
    CHECK(api.get("/v1/fleet", "").result_int() == 401);
    CHECK(api.get("/v1/fleet", "wrong").result_int() == 401);
    CHECK(api.get("/v1/fleet", kEdgeToken).result_int() == 200);
    json::value fleet;
    const bool ready = eventually(
        [&] {
            const Response r = api.get("/v1/fleet");
            if (r.result_int() != 200) return false;
            fleet = json::parse(r.body());
            const json::object* a = edge_of(fleet, "dash-eu");
            const json::object* b = edge_of(fleet, "dash-us");
            const json::array& purges = fleet.at("purges").as_array();
            return a && b && a->at("status").as_string() == "up" &&
                   b->at("status").as_string() == "up" &&
                   a->at("stats").at("hit_ratio_window").as_string() == "interval" &&
                   !purges.empty() && purges[0].at("applied").to_number<std::uint64_t>() == 2;
        },
        15s);
    INFO(json::serialize(fleet));
    REQUIRE(ready);
    const json::object& a = *edge_of(fleet, "dash-eu");
    CHECK(a.at("region").as_string() == "eu-central");
    CHECK(a.at("role").as_string() == "edge");
    CHECK(a.at("registration").at("http").as_string() ==
          "http://127.0.0.1:" + std::to_string(eu.port()));
    CHECK(a.at("purge").at("connected").as_bool());
    CHECK(a.at("purge").at("lag").to_number<std::uint64_t>() == 0);
    CHECK(a.at("stats").at("requests_total").to_number<double>() >= 4);
    CHECK(a.at("stats").at("outcomes").at("hit").to_number<double>() >= 3);
    CHECK(a.at("stats").at("tiers").at("memory").at("objects").to_number<double>() >= 1);
    CHECK(a.at("stats").at("req_per_s").is_number());
    CHECK(fleet.at("purges").at(0).at("id").as_string() == purge_id);
    CHECK(fleet.at("purges").at(0).at("complete").is_bool());
    CHECK(fleet.at("observer_health").is_null());
    CHECK(fleet.at("totals").at("up").to_number<std::uint64_t>() == 2);

    // The page itself: no token needed, locked down.
    const Response page = http_get(api.port(), "/dashboard");
    REQUIRE(page.result_int() == 200);
    CHECK_THAT(header(page, "Content-Type"), Contains("text/html"));
    CHECK_THAT(header(page, "Content-Security-Policy"), Contains("default-src 'none'"));
    CHECK(header(page, "X-Content-Type-Options") == "nosniff");

    const std::string browser = find_chromium();
    if (browser.empty()) {
        WARN("no chromium (apt-get install chromium); skipping the browser part");
        CHECK(api.process().terminate() == 0);
        return;
    }
    const std::string url = api.url() + "/dashboard#token=" + std::string(kAdminToken);
    const CommandResult dom =
        chromium(browser, dir, {"--virtual-time-budget=5000", "--dump-dom", url});
    INFO("chromium stderr tail: " << [&] {
        std::ifstream in(dir.path() / "chromium.log");
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string s = ss.str();
        return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
    }());
    REQUIRE(dom.status == 0);
    INFO(dom.out);
    CHECK_THAT(dom.out, Contains("data-edge-id=\"dash-eu\""));
    CHECK_THAT(dom.out, Contains("data-edge-id=\"dash-us\""));
    CHECK_THAT(dom.out, Contains("data-purge-id=\"" + purge_id + "\""));
    CHECK_THAT(dom.out, Contains("data-region=\"eu-central\""));
    CHECK_THAT(dom.out, Contains("data-ack-edge=\"dash-us\""));
    CHECK_THAT(dom.out, Contains("id=\"status\" class=\"live\""));
    // The token went into the tab's storage, not into the page or the server's log.
    CHECK_THAT(dom.out, !Contains(kAdminToken));
    CHECK_THAT(api.process().log(), !Contains(kAdminToken));

    const std::string png = (dir.path() / "fleet.png").string();
    const CommandResult shot = chromium(
        browser, dir,
        {"--virtual-time-budget=5000", "--window-size=1400,1000", "--screenshot=" + png, url});
    REQUIRE(shot.status == 0);
    REQUIRE(std::filesystem::exists(png));
    CHECK(std::filesystem::file_size(png) > 20'000);  // a rendered page, not a blank one
    if (const char* keep = std::getenv("CDN_DASHBOARD_SCREENSHOT"))
        std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
    // Stopping with the scraper's reads in flight is clean (nothing outlives the io_contexts).
    CHECK(api.process().terminate() == 0);
}
