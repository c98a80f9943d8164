// The purge body's validation and the tokens' scope, table-driven.
#include "purge_api/purge_request.hpp"
#include "purge_api/auth.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cdn::purge_api;

namespace {

struct BadCase {
    const char* name;
    std::string body;
    ApiErrc code;
    const char* message_part;
};

std::string many_tags(std::size_t n) {
    std::string body = R"({"tags":[)";
    for (std::size_t i = 0; i < n; ++i)
        body += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
    return body + "]}";
}

}  // namespace

TEST_CASE("bad bodies are refused with a code and a message", "[purge_api][request]") {
    const RequestLimits limits;  // 1000 items, 4096 bytes
    const std::vector<BadCase> cases = {
        {"not JSON", "{files:", ApiErrc::malformed_json, "not valid JSON"},
        {"empty body", "", ApiErrc::malformed_json, "not valid JSON"},
        {"trailing garbage", R"({"tags":["a"]} x)", ApiErrc::malformed_json, "not valid JSON"},
        {"array", R"(["a"])", ApiErrc::malformed_json, "JSON object"},
        {"unknown field", R"({"tags":["a"],"zone":"x"})", ApiErrc::unknown_field, "\"zone\""},
        {"nothing to purge", R"({"soft":true})", ApiErrc::missing_kind, "nothing to purge"},
        {"empty object", "{}", ApiErrc::missing_kind, "nothing to purge"},
        {"two kinds", R"({"tags":["a"],"hosts":["a.com"]})", ApiErrc::several_kinds, "exactly one"},
        {"kind and everything", R"({"tags":["a"],"purge_everything":true})", ApiErrc::several_kinds,
         "exactly one"},
        {"empty list", R"({"files":[]})", ApiErrc::empty_list, "files: empty list"},
        {"list is a string", R"({"tags":"a"})", ApiErrc::bad_value, "expected an array"},
        {"too many items", many_tags(1001), ApiErrc::too_many_items, "1001 values, at most 1000"},
        {"ten thousand tags", many_tags(10000), ApiErrc::too_many_items, "10000 values"},
        {"number in tags", R"({"tags":["a",1]})", ApiErrc::bad_value, "tags[1]: expected a string"},
        {"null in hosts", R"({"hosts":[null]})", ApiErrc::bad_value, "hosts[0]"},
        {"empty value", R"({"tags":[""]})", ApiErrc::bad_value, "tags[0]: empty value"},
        {"space in tag", R"({"tags":["a b"]})", ApiErrc::bad_value, "spaces or control"},
        {"newline in tag", R"({"tags":["a\nb"]})", ApiErrc::bad_value, "spaces or control"},
        {"comma in tag", R"({"tags":["a,b"]})", ApiErrc::bad_value, "comma"},
        {"too long", R"({"tags":[")" + std::string(4097, 'x') + R"("]})", ApiErrc::bad_value,
         "longer than 4096"},
        {"file without scheme", R"({"files":["example.com/a.js"]})", ApiErrc::bad_url,
         "not an http:// or https:// URL"},
        {"file with ftp", R"({"files":["ftp://example.com/a"]})", ApiErrc::bad_url, "http://"},
        {"file without host", R"({"files":["https:///a.js"]})", ApiErrc::bad_url, "no valid host"},
        {"file with fragment", R"({"files":["https://a.com/x#y"]})", ApiErrc::bad_url, "fragment"},
        {"file object without url", R"({"files":[{"headers":{}}]})", ApiErrc::bad_value,
         "needs \"url\""},
        {"file object with junk", R"({"files":[{"url":"https://a.com/","x":1}]})",
         ApiErrc::unknown_field, "\"x\""},
        {"file header not a string", R"({"files":[{"url":"https://a.com/","headers":{"a":1}}]})",
         ApiErrc::bad_value, "headers.a"},
        {"object in tags", R"({"tags":[{"url":"https://a.com/"}]})", ApiErrc::bad_value,
         "expected a string"},
        {"prefix without host", R"({"prefixes":["/static/"]})", ApiErrc::bad_value,
         "not \"host/path\""},
        {"prefix with ftp", R"({"prefixes":["ftp://a.com/x"]})", ApiErrc::bad_value, "scheme"},
        {"host with path", R"({"hosts":["a.com/x"]})", ApiErrc::bad_value, "not a host name"},
        {"purge_everything false", R"({"purge_everything":false})", ApiErrc::bad_value,
         "expected true"},
        {"soft not a bool", R"({"tags":["a"],"soft":"yes"})", ApiErrc::bad_value, "soft"},
    };
    for (const BadCase& c : cases) {
        INFO(c.name);
        const auto r = parse_purge_body(c.body, limits);
        REQUIRE(std::holds_alternative<ApiError>(r));
        const ApiError& e = std::get<ApiError>(r);
        CHECK(e.code == c.code);
        CHECK(e.status == 400);
        CHECK_THAT(e.message, Catch::Matchers::Contains(c.message_part));
    }
}

TEST_CASE("good bodies become drafts with the values as sent", "[purge_api][request]") {
    const RequestLimits limits;
    struct GoodCase {
        std::string body;
        PurgeKind kind;
        std::vector<std::string> values;
        bool soft;
    };
    const std::vector<GoodCase> cases = {
        {R"({"files":["https://Example.com/a.js?v=1","http://b.com"]})",
         PurgeKind::files,
         {"https://Example.com/a.js?v=1", "http://b.com"},
         false},
        {R"({"files":[{"url":"https://a.com/x","headers":{"Origin":"https://b.com"}}]})",
         PurgeKind::files,
         {"https://a.com/x"},
         false},
        {R"({"prefixes":["a.com/static/","https://b.com/img","c.com"],"soft":true})",
         PurgeKind::prefixes,
         {"a.com/static/", "https://b.com/img", "c.com"},
         true},
        {R"({"tags":["product-1","Home"]})", PurgeKind::tags, {"product-1", "Home"}, false},
        {R"({"hosts":["a.com","b.com:8080"]})", PurgeKind::hosts, {"a.com", "b.com:8080"}, false},
        {R"({"purge_everything":true,"soft":false})", PurgeKind::everything, {}, false},
        {many_tags(1000), PurgeKind::tags, {}, false},
    };
    for (const GoodCase& c : cases) {
        INFO(c.body.substr(0, 100));
        const auto r = parse_purge_body(c.body, limits);
        REQUIRE(std::holds_alternative<PurgeDraft>(r));
        const PurgeDraft& d = std::get<PurgeDraft>(r);
        CHECK(d.kind == c.kind);
        if (!c.values.empty() || c.kind == PurgeKind::everything) CHECK(d.values == c.values);
        CHECK(d.soft == c.soft);
    }
}

TEST_CASE("limits are configurable", "[purge_api][request]") {
    RequestLimits small;
    small.max_items = 2;
    small.max_value_length = 16;
    CHECK(std::holds_alternative<PurgeDraft>(parse_purge_body(R"({"tags":["a","b"]})", small)));
    CHECK(std::get<ApiError>(parse_purge_body(R"({"tags":["a","b","c"]})", small)).code ==
          ApiErrc::too_many_items);
    CHECK(std::get<ApiError>(parse_purge_body(R"({"tags":["0123456789abcdefX"]})", small)).code ==
          ApiErrc::bad_value);
}

TEST_CASE("error bodies and statuses", "[purge_api][request]") {
    const ApiError e = make_error(ApiErrc::forbidden, "no \"way\"");
    CHECK(e.status == 403);
    CHECK(error_body(e) == R"({"success":false,"errors":[{"code":10001,"message":"no \"way\""}]})");
    CHECK(make_error(ApiErrc::unauthenticated, "").status == 401);
    CHECK(make_error(ApiErrc::body_too_large, "").status == 413);
    CHECK(make_error(ApiErrc::unavailable, "").status == 503);
    CHECK(make_error(ApiErrc::too_many_items, "").reason() == "too_many_items");
}

TEST_CASE("the host a value names", "[purge_api][request]") {
    CHECK(host_of_value(PurgeKind::files, "https://Example.COM:8443/a?b") == "example.com");
    CHECK(host_of_value(PurgeKind::files, "http://a.com?x=1") == "a.com");
    CHECK(host_of_value(PurgeKind::files, "http://[::1]:8080/x") == "[::1]");
    CHECK(host_of_value(PurgeKind::prefixes, "a.com/static") == "a.com");
    CHECK(host_of_value(PurgeKind::prefixes, "https://B.com/img") == "b.com");
    CHECK(host_of_value(PurgeKind::hosts, "C.com:80") == "c.com");
    CHECK(host_of_value(PurgeKind::tags, "x").empty());
}

TEST_CASE("bearer tokens and constant-time comparison", "[purge_api][auth]") {
    CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("bearer   abc  ") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearer_token("Basic abc"));
    CHECK_FALSE(bearer_token("Bearer"));
    CHECK_FALSE(bearer_token("Bearer "));
    CHECK_FALSE(bearer_token("Bearerabc"));

    CHECK(constant_time_equal("secret", "secret"));
    CHECK_FALSE(constant_time_equal("secret", "secreT"));
    CHECK_FALSE(constant_time_equal("secret", "secret2"));
    CHECK_FALSE(constant_time_equal("", "x"));
    CHECK(constant_time_equal("", ""));

    const TokenSet set({Token{"ops", "t-ops", {}}, Token{"shop", "t-shop", {"shop.com"}}});
    REQUIRE(set.find("t-ops"));
    CHECK(set.find("t-ops")->name == "ops");
    CHECK(set.find("t-shop")->name == "shop");
    CHECK_FALSE(set.find("t-op"));
    CHECK_FALSE(set.find(""));
}

TEST_CASE("a host-limited token may purge only its hosts", "[purge_api][auth]") {
    const Token admin{"ops", "x", {}};
    const Token shop{"shop", "y", {"shop.com", "img.shop.com"}};
    struct ScopeCase {
        PurgeDraft draft;
        bool allowed_for_shop;
    };
    const std::vector<ScopeCase> cases = {
        {{PurgeKind::files, {"https://shop.com/a", "http://IMG.shop.com:8080/b"}, false}, true},
        {{PurgeKind::files, {"https://shop.com/a", "https://other.com/b"}, false}, false},
        {{PurgeKind::prefixes, {"shop.com/static/"}, false}, true},
        {{PurgeKind::prefixes, {"https://evil.com/shop.com/"}, false}, false},
        {{PurgeKind::hosts, {"shop.com"}, false}, true},
        {{PurgeKind::hosts, {"www.shop.com"}, false}, false},
        {{PurgeKind::tags, {"a"}, false}, false},
        {{PurgeKind::everything, {}, false}, false},
    };
    for (const ScopeCase& c : cases) {
        INFO(to_string(c.draft.kind) << " " << (c.draft.values.empty() ? "" : c.draft.values[0]));
        CHECK_FALSE(authorize(admin, c.draft));
        const auto e = authorize(shop, c.draft);
        CHECK(e.has_value() != c.allowed_for_shop);
        if (e) CHECK(e->status == 403);
    }
}
