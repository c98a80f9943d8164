// The edge's admin purge (POST /purge on the admin port) against callers that should not get
// through: no token configured (403), no or a wrong token (401 + WWW-Authenticate: Bearer), the
// right token with a body type a browser sends cross-site without a CORS preflight (415). Each
// refusal leaves the cached object a HIT; only the right token with a JSON body purges. Real
// processes (origin_sim, edge), our HTTP client and curl.
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr const char* kToken = "admin-purge-token-0123456789abcdef";
const std::string kEverything = R"({"purge_everything":true})";

std::string token_toml(const std::string& token = kToken) {
    return "[admin]\npurge_token = \"" + token + "\"\n";
}

// origin_sim and an edge; `/obj.txt` cached (a HIT) before the test starts.
struct AdminFixture {
    explicit AdminFixture(const std::string& toml = "", std::vector<std::string> args = {})
        : origin(dir), edge(dir, origin.url(), toml, std::move(args)) {
        http_get(edge.port(), "/obj.txt");
        REQUIRE(eventually([&] { return cached(); }));
    }
    bool cached() { return header(http_get(edge.port(), "/obj.txt"), "X-Cache") == "HIT"; }
    Response post(const Headers& headers, const std::string& body = kEverything) {
        HttpClient c(edge.admin_port());
        return c.request("POST", "/purge", headers, body);
    }
    double refused(const std::string& reason) {
        return scrape_metric(edge.admin_port(),
                             "cdn_edge_admin_refused_total{reason=\"" + reason + "\"}")
            .value_or(-1);
    }
    // curl as a user (or a browser's form) would send it: -d without a Content-Type is
    // application/x-www-form-urlencoded.
    CommandResult curl(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"curl", "-s",           "-o",         "/dev/stderr",
                                         "-w",   "%{http_code}", "--max-time", "10"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(edge.admin_port()) + "/purge");
        return run_command(argv);
    }

    TempDir dir;
    OriginSim origin;
    Edge edge;
};

const Headers kJson = {{"Content-Type", "application/json"}};

Headers json_with(const std::string& authorization) {
    return {{"Content-Type", "application/json"}, {"Authorization", authorization}};
}

}  // namespace

TEST_CASE(
    "admin purge: without a configured token it is 403, says how to enable it, purges "
    "nothing",
    "[hostile][admin]") {
    AdminFixture f;
    for (const Headers& h : {kJson, json_with(std::string("Bearer ") + kToken),
                             Headers{{"Content-Type", "text/plain"}}}) {
        const Response r = f.post(h);
        INFO(r);
        CHECK(r.result_int() == 403);
        CHECK_THAT(r.body(), Contains("purge_token"));
    }
    CHECK(f.cached());
    CHECK(f.refused("disabled") == 3);
    // A real curl, as the old README showed it: refused, still cached.
    CHECK(f.curl({"-X", "POST", "-d", kEverything}).out.ends_with("403"));
    CHECK(f.cached());
}

TEST_CASE("admin purge: a missing or wrong token is 401 with WWW-Authenticate: Bearer",
          "[hostile][admin]") {
    AdminFixture f(token_toml());
    const std::string t = kToken;
    const std::vector<Headers> attempts = {
        kJson,                                             // no Authorization
        json_with("Bearer wrong"),                         // wrong, shorter
        json_with("Bearer " + t + "x"),                    // the token plus a byte
        json_with("Bearer " + t.substr(0, t.size() - 1)),  // the token minus a byte
        json_with("Bearer " + t.substr(1) + "X"),          // same length, differs
        json_with("Basic " + t),                           // another scheme
        json_with("Bearer"),                               // no credentials
        json_with(t),                                      // no scheme
    };
    for (const Headers& h : attempts) {
        const Response r = f.post(h);
        INFO(r);
        CHECK(r.result_int() == 401);
        CHECK_THAT(header(r, "WWW-Authenticate"), StartsWith("Bearer"));
    }
    // Two Authorization fields (one right, one wrong): ambiguous, refused.
    {
        Headers h = json_with("Bearer wrong");
        h.emplace_back("Authorization", "Bearer " + t);
        CHECK(f.post(h).result_int() == 401);
    }
    // The token in the query string is not a credential.
    {
        HttpClient c(f.edge.admin_port());
        CHECK(c.request("POST", "/purge?token=" + t, kJson, kEverything).result_int() == 401);
    }
    CHECK(f.cached());
    CHECK(f.refused("missing_token") >= 1);
    CHECK(f.refused("wrong_token") >= 1);
    CHECK(f.curl({"-X", "POST", "-H", "Content-Type: application/json", "-d", kEverything})
              .out.ends_with("401"));
    CHECK(f.cached());
}

TEST_CASE("admin purge: the right token with a body type a browser sends cross-site is 415",
          "[hostile][admin]") {
    AdminFixture f(token_toml());
    const std::string auth = std::string("Bearer ") + kToken;
    // The CORS "simple" types (no preflight), others that are not JSON, and none at all.
    for (const char* type :
         {"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x", "text/json", "application/jsonp",
          "application/json-patch+json", "application/json, text/plain", ""}) {
        Headers h = {{"Authorization", auth}};
        if (*type) h.emplace_back("Content-Type", type);
        const Response r = f.post(h);
        INFO(type << "\n" << r);
        CHECK(r.result_int() == 415);
    }
    // Two Content-Type fields: refused whatever they say.
    CHECK(f.post({{"Authorization", auth},
                  {"Content-Type", "text/plain"},
                  {"Content-Type", "application/json"}})
              .result_int() == 415);
    CHECK(f.cached());
    CHECK(f.refused("content_type") >= 9);
    // curl -d with the token: a form body, 415, nothing purged.
    CHECK(f.curl({"-H", "Authorization: " + auth, "-d", kEverything}).out.ends_with("415"));
    CHECK(f.cached());
}

TEST_CASE("admin purge: the right token with a JSON body purges", "[hostile][admin]") {
    AdminFixture f(token_toml());
    const std::string auth = std::string("Bearer ") + kToken;
    for (const char* type : {"application/json", "Application/JSON; charset=utf-8",
                             "application/json;charset=UTF-8"}) {
        REQUIRE(eventually([&] { return f.cached(); }));
        const Response r = f.post({{"Authorization", auth}, {"Content-Type", type}});
        INFO(type << "\n" << r);
        CHECK(r.result_int() == 200);
        CHECK_THAT(r.body(), Contains("\"success\":true"));
        CHECK_FALSE(f.cached());  // this request was the MISS that refills it
    }
    // The scheme is case-insensitive (RFC 9110 11.1).
    REQUIRE(eventually([&] { return f.cached(); }));
    CHECK(f.post(json_with(std::string("bearer ") + kToken)).result_int() == 200);
    CHECK_FALSE(f.cached());
    // curl as the README shows it.
    REQUIRE(eventually([&] { return f.cached(); }));
    CHECK(f.curl({"-H", "Authorization: " + auth, "-H", "Content-Type: application/json", "-d",
                  kEverything})
              .out.ends_with("200"));
    CHECK_FALSE(f.cached());
    // A wrong method on /purge is still 405, whatever the token.
    HttpClient c(f.edge.admin_port());
    CHECK(c.request("GET", "/purge", {{"Authorization", auth}}).result_int() == 405);
}

TEST_CASE(
    "admin purge: the token can come from purge_token_file or --admin-purge-token-file, and "
    "/healthz and /metrics need none",
    "[hostile][admin]") {
    TempDir files;
    const std::string file = files.write("purge.token", std::string(kToken) + "\n");
    SECTION("config") {
        AdminFixture f("[admin]\npurge_token_file = \"" + file + "\"\n");
        CHECK(f.post(kJson).result_int() == 401);
        CHECK(f.cached());
        CHECK(f.post(json_with(std::string("Bearer ") + kToken)).result_int() == 200);
        CHECK(http_get(f.edge.admin_port(), "/healthz").result_int() == 200);
        CHECK(http_get(f.edge.admin_port(), "/metrics").result_int() == 200);
    }
    SECTION("flag") {
        AdminFixture f("", {"--admin-purge-token-file", file});
        CHECK(f.post(json_with("Bearer nope")).result_int() == 401);
        CHECK(f.cached());
        CHECK(f.post(json_with(std::string("Bearer ") + kToken)).result_int() == 200);
        CHECK(http_get(f.edge.admin_port(), "/healthz").result_int() == 200);
    }
}
