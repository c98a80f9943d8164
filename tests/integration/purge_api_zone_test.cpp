// The Cloudflare-compatible zone API of a real purge_api, driven by curl as a Cloudflare client
// would: POST /client/v4/zones/<host>/purge_cache with each of Cloudflare's body shapes, and its
// errors in Cloudflare's envelope.
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;
namespace json = boost::json;

namespace {

struct CurlReply {
    int status = 0;
    json::value body;
};

// curl -X POST API/client/v4/zones/ZONE/purge_cache -H 'Authorization: Bearer T' ... ; an empty
// content_type sends none at all, "default" lets curl send its form type.
CurlReply zone_purge(PurgeApi& api, const std::string& zone, const std::string& body,
                     const std::string& token = kAdminToken,
                     const std::string& content_type = "application/json",
                     const std::string& method = "POST") {
    std::vector<std::string> argv = {"curl",
                                     "-s",
                                     "-w",
                                     "\n%{http_code}",
                                     "-X",
                                     method,
                                     api.url() + "/client/v4/zones/" + zone + "/purge_cache"};
    if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
    if (content_type != "default") argv.insert(argv.end(), {"-H", "Content-Type: " + content_type});
    if (!body.empty()) argv.insert(argv.end(), {"--data-binary", body});
    const CommandResult r = run_command(argv);
    REQUIRE(r.status == 0);
    const auto nl = r.out.rfind('\n');
    REQUIRE(nl != std::string::npos);
    CurlReply out;
    out.status = std::stoi(r.out.substr(nl + 1));
    INFO(r.out);
    out.body = json::parse(r.out.substr(0, nl));
    return out;
}

// The purge as purge_api logged it (GET /v1/purges/<id>).
json::object logged(PurgeApi& api, const CurlReply& r) {
    REQUIRE(r.status == 200);
    const std::string id(r.body.at("result").at("id").as_string());
    const Response got = api.get("/v1/purges/" + id);
    REQUIRE(got.result_int() == 200);
    return json::parse(got.body()).as_object();
}

int code(const CurlReply& r) {
    return r.body.at("errors").at(0).at("code").to_number<int>();
}

}  // namespace

TEST_CASE("zone API: each of Cloudflare's body shapes, limited to the zone", "[purge_api][zone]") {
    TempDir dir;
    PurgeApi api(dir);

    // purge_everything in a zone is every object of that host, nothing else.
    const CurlReply all = zone_purge(api, "shop.com", R"({"purge_everything":true})", kShopToken);
    CHECK(all.status == 200);
    CHECK(all.body.at("success") == true);
    CHECK(all.body.at("errors").as_array().empty());
    CHECK(all.body.at("messages").as_array().empty());
    CHECK(all.body.at("result").at("id").as_string().size() == 16);
    json::object p = logged(api, all);
    CHECK(p.at("kind") == "hosts");
    CHECK(p.at("values") == json::array{"shop.com"});

    const CurlReply files = zone_purge(
        api, "shop.com",
        R"({"files":["https://shop.com/a.js",{"url":"https://shop.com/b.png","headers":{"CF-Device-Type":"mobile","Accept-Language":"en"}}]})");
    p = logged(api, files);
    CHECK(p.at("kind") == "files");
    CHECK(p.at("values") == json::array{"https://shop.com/a.js", "https://shop.com/b.png"});

    p = logged(api, zone_purge(api, "shop.com", R"({"prefixes":["shop.com/static/"]})"));
    CHECK(p.at("kind") == "prefixes");
    p = logged(api, zone_purge(api, "shop.com", R"({"hosts":["SHOP.com"]})", kShopToken));
    CHECK(p.at("kind") == "hosts");
    // "soft" is ours, not Cloudflare's, and works here too.
    p = logged(api, zone_purge(api, "shop.com", R"({"files":["http://shop.com/x"],"soft":true})"));
    CHECK(p.at("soft") == true);

    // Tags reach every host: not within a zone's power.
    const CurlReply tags = zone_purge(api, "shop.com", R"({"tags":["product-1"]})");
    CHECK(tags.status == 400);
    CHECK(code(tags) == 1011);
    CHECK_THAT(std::string(tags.body.at("errors").at(0).at("message").as_string()),
               Contains("POST /v1/purge"));

    CHECK(api.metric("cdn_purge_api_purges_total{kind=\"hosts\"}") == 2);
    CHECK(api.metric("cdn_purge_api_purges_total{kind=\"files\"}") == 2);
    CHECK(api.metric("cdn_purge_api_last_seq") == 5);
}

TEST_CASE("zone API: errors in Cloudflare's envelope with /v1/purge's statuses",
          "[purge_api][zone]") {
    TempDir dir;
    PurgeApi api(dir, "[limits]\nmax_body = \"1KiB\"\nmax_items = 30\n");
    struct Case {
        std::string what, zone, body, token, content_type;
        int status, code;
    };
    std::string files31 = R"({"files":[)";
    for (int i = 0; i < 31; ++i)
        files31 += (i ? "," : "") + std::string(R"("https://shop.com/)") + std::to_string(i) + "\"";
    files31 += "]}";
    const std::string big = R"({"files":["https://shop.com/)" + std::string(1100, 'a') + "\"]}";
    const std::vector<Case> cases = {
        {"no token", "shop.com", R"({"purge_everything":true})", "", "application/json", 401,
         10000},
        {"wrong token", "shop.com", R"({"purge_everything":true})", "nope", "application/json", 401,
         10000},
        {"a zone outside the token's hosts", "other.com", R"({"purge_everything":true})",
         kShopToken, "application/json", 403, 10001},
        {"a file outside the zone", "shop.com", R"({"files":["https://other.com/a"]})", kAdminToken,
         "application/json", 400, 1010},
        {"a prefix outside the zone", "shop.com", R"({"prefixes":["shop.com.evil.net/"]})",
         kAdminToken, "application/json", 400, 1010},
        {"a Cloudflare zone id", "023e105f4ecef8ad9ca31a8372d0c353", R"({"purge_everything":true})",
         kAdminToken, "application/json", 404, 1404},
        {"not a host name", "a%20b", R"({"purge_everything":true})", kAdminToken,
         "application/json", 404, 1404},
        {"curl's default form type", "shop.com", R"({"purge_everything":true})", kAdminToken,
         "default", 415, 1415},
        {"more than max_items", "shop.com", files31, kAdminToken, "application/json", 400, 1005},
        {"over max_body", "shop.com", big, kAdminToken, "application/json", 413, 1008},
        {"not JSON", "shop.com", "purge_everything=true", kAdminToken, "application/json", 400,
         1000},
        {"two kinds", "shop.com", R"({"purge_everything":true,"hosts":["shop.com"]})", kAdminToken,
         "application/json", 400, 1003},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        const CurlReply r = zone_purge(api, c.zone, c.body, c.token, c.content_type);
        CHECK(r.status == c.status);
        CHECK(code(r) == c.code);
        CHECK(r.body.at("success") == false);
        CHECK(r.body.at("messages").as_array().empty());
        CHECK(r.body.at("result").is_null());
    }
    // No Content-Type at all is taken as JSON (as /v1/purge does).
    CHECK(zone_purge(api, "shop.com", R"({"purge_everything":true})", kAdminToken, "").status ==
          200);
    const CurlReply get = zone_purge(api, "shop.com", "", kAdminToken, "", "GET");
    CHECK(get.status == 405);
    CHECK(get.body.at("result").is_null());
    CHECK(api.metric("cdn_purge_api_last_seq") == 1);
}
