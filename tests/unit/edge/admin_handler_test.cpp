// The admin purge's gatekeeping, as pure functions: the bearer token check and the JSON-only
// body type (tests/hostile/admin_purge_test.cpp drives the same over a real admin port).
#include "edge/proxy/admin_handler.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace cdn::edge;
using proxy::AdminAuth;

namespace {

constexpr std::string_view kToken = "0123456789abcdef-token";

http::RequestMessage request(const std::vector<std::pair<std::string, std::string>>& fields) {
    http::RequestMessage req{boost::beast::http::verb::post, "/purge", 11};
    for (const auto& [name, value] : fields)
        req.insert(name, value);
    return req;
}

AdminAuth auth(const std::vector<std::pair<std::string, std::string>>& fields,
               std::string_view token = kToken) {
    return proxy::check_admin_token(token, request(fields));
}

}  // namespace

TEST_CASE("admin token: off without one, else exactly one right bearer token", "[admin]") {
    const std::string bearer = "Bearer " + std::string(kToken);
    CHECK(auth({{"Authorization", bearer}}, "") == AdminAuth::disabled);
    CHECK(auth({}, "") == AdminAuth::disabled);
    CHECK(auth({{"Authorization", bearer}}) == AdminAuth::ok);
    CHECK(auth({{"authorization", "bearer " + std::string(kToken)}}) == AdminAuth::ok);
    CHECK(auth({{"Authorization", "Bearer   " + std::string(kToken) + " "}}) == AdminAuth::ok);
    CHECK(auth({}) == AdminAuth::missing_token);
    CHECK(auth({{"Authorization", ""}}) == AdminAuth::missing_token);
    CHECK(auth({{"Authorization", "Bearer"}}) == AdminAuth::missing_token);
    CHECK(auth({{"Authorization", "Basic " + std::string(kToken)}}) == AdminAuth::missing_token);
    CHECK(auth({{"Authorization", std::string(kToken)}}) == AdminAuth::missing_token);
    CHECK(auth({{"Authorization", "Bearer wrong"}}) == AdminAuth::wrong_token);
    CHECK(auth({{"Authorization", bearer + "x"}}) == AdminAuth::wrong_token);
    CHECK(auth({{"Authorization", bearer.substr(0, bearer.size() - 1)}}) == AdminAuth::wrong_token);
    CHECK(auth({{"Authorization", "Bearer " + std::string(kToken.size(), 'x')}}) ==
          AdminAuth::wrong_token);
    // Two fields, in either order: ambiguous.
    CHECK(auth({{"Authorization", bearer}, {"Authorization", "Bearer wrong"}}) ==
          AdminAuth::wrong_token);
    CHECK(auth({{"Authorization", "Bearer wrong"}, {"Authorization", bearer}}) ==
          AdminAuth::wrong_token);
    CHECK(auth({{"Authorization", bearer}, {"Authorization", bearer}}) == AdminAuth::wrong_token);
}

TEST_CASE("admin purge body type: application/json only, parameters allowed", "[admin]") {
    for (const char* ok :
         {"application/json", "Application/JSON", "application/json; charset=utf-8",
          "application/json;charset=UTF-8", " application/json ", "application/json\t; q=1"})
        CHECK(proxy::is_json_media_type(ok));
    for (const char* no :
         {"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x", "text/json", "application/jsonp", "application/json2",
          "application/json-patch+json", "application/merge-patch+json",
          "application/json, text/plain", "text/plain, application/json", "application/",
          "application/ json", "*/*"})
        CHECK_FALSE(proxy::is_json_media_type(no));
    CHECK(proxy::has_json_body(request({{"Content-Type", "application/json"}})));
    CHECK_FALSE(proxy::has_json_body(request({})));
    CHECK_FALSE(proxy::has_json_body(
        request({{"Content-Type", "application/json"}, {"Content-Type", "application/json"}})));
    CHECK_FALSE(proxy::has_json_body(
        request({{"Content-Type", "text/plain"}, {"Content-Type", "application/json"}})));
}
