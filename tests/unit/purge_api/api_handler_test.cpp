// The REST handler without sockets: routing, authentication, validation and JSON answers,
// against an in-memory PurgeStore (the seam an etcd store would also plug into).
#include "purge_api/api_handler.hpp"
#include "purge_api/api_server.hpp"
#include "purge_api/dashboard_page.hpp"
#include "tests/support/manual_clock.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <mutex>

using namespace cdn;
using namespace cdn::purge_api;
namespace json = boost::json;
namespace bh = boost::beast::http;

namespace {

class MemoryStore final : public PurgeStore {
  public:
    void submit(AppendRequest req, SubmitDone done) override {
        PurgeRecordPtr r;
        {
            std::lock_guard lk(mu_);
            r = make_record(records_.size() + 1, "id" + std::to_string(records_.size() + 1), 1000,
                            std::move(req.draft));
            records_.push_back(r);
        }
        done(AppendResult{AppendStatus::appended, r});
    }
    LogSlice read_after(std::uint64_t after, std::size_t max) const override {
        std::lock_guard lk(mu_);
        LogSlice s;
        s.last_seq = records_.size();
        for (std::size_t i = after; i < records_.size() && s.records.size() < max; ++i)
            s.records.push_back(records_[i]);
        return s;
    }
    PurgeRecordPtr find(std::string_view id) const override {
        std::lock_guard lk(mu_);
        for (const auto& r : records_)
            if (r->id == id) return r;
        return nullptr;
    }
    std::uint64_t last_seq() const override {
        std::lock_guard lk(mu_);
        return records_.size();
    }
    bool healthy() const override { return true; }
    void on_appended(std::function<void(std::uint64_t)>) override {}

  private:
    mutable std::mutex mu_;
    std::vector<PurgeRecordPtr> records_;
};

struct Fixture {
    ApiConfig config;
    MemoryStore store;
    test::ManualClock clock;
    EdgeRegistry edges{clock, {"edge-a", "edge-b"}};
    MetricsRegistry registry;
    ApiMetrics metrics{registry};
    std::unique_ptr<LiveSettings> live;
    std::unique_ptr<ApiHandler> handler;

    Fixture() {
        config.data_dir = "/unused";
        config.tokens = {Token{"ops", "ops-token", {}}, Token{"shop", "shop-token", {"shop.com"}}};
        config.edge_token = "edge-token";
        config.limits.max_items = 30;
        live = std::make_unique<LiveSettings>(config);
        handler = std::make_unique<ApiHandler>(*live, store, edges, registry, metrics);
    }

    Plan plan(bh::verb method, const std::string& target, const std::string& token = {},
              const std::string& body = {}) {
        Request req{method, target, 11};
        if (!token.empty()) req.set(bh::field::authorization, "Bearer " + token);
        req.body() = body;
        req.prepare_payload();
        return handler->plan(req);
    }
    Reply reply(bh::verb method, const std::string& target, const std::string& token = {},
                const std::string& body = {}) {
        Request req{method, target, 11};
        if (!token.empty()) req.set(bh::field::authorization, "Bearer " + token);
        req.body() = body;
        req.prepare_payload();
        Plan p = handler->plan(req);
        if (auto* sp = std::get_if<SyncPlan>(&p)) {
            // What ApiServer does: catch up with the store, plan once more.
            const SeqCheck c = sync_and_wait(store, sp->seq, sp->wait);
            p = handler->plan(req, *live->current(), c);
        }
        if (auto* a = std::get_if<AppendPlan>(&p)) {
            Result<PurgeRecordPtr> r = append_and_wait(store, a->draft);
            return handler->appended(*a, r);
        }
        REQUIRE(std::holds_alternative<Reply>(p));
        return std::get<Reply>(p);
    }
    Reply purge(const std::string& body, const std::string& token = "ops-token") {
        return reply(bh::verb::post, "/v1/purge", token, body);
    }
};

int error_code(const Reply& r) {
    return static_cast<int>(
        json::parse(r.body).at("errors").as_array().at(0).at("code").as_int64());
}

}  // namespace

TEST_CASE("purges need an admin token", "[purge_api][handler]") {
    Fixture f;
    struct AuthCase {
        std::string header;  // the whole Authorization value; "" = none
        unsigned status;
    };
    const std::vector<AuthCase> cases = {
        {"", 401},
        {"Bearer nope", 401},
        {"Basic b3BzLXRva2Vu", 401},
        {"Bearer edge-token", 401},  // the edge token is not an admin token
        {"Bearer ops-token", 200},
        {"bearer ops-token", 200},
    };
    for (const AuthCase& c : cases) {
        INFO(c.header);
        Request req{bh::verb::post, "/v1/purge", 11};
        if (!c.header.empty()) req.set(bh::field::authorization, c.header);
        req.body() = R"({"tags":["a"]})";
        Plan p = f.handler->plan(req);
        if (c.status == 200) {
            CHECK(std::holds_alternative<AppendPlan>(p));
        } else {
            REQUIRE(std::holds_alternative<Reply>(p));
            CHECK(std::get<Reply>(p).status == c.status);
            CHECK(error_code(std::get<Reply>(p)) == 10000);
        }
    }
    CHECK(f.metrics.rejected("unauthenticated").value() == 4);
}

TEST_CASE("a purge is answered with its id and seq", "[purge_api][handler]") {
    Fixture f;
    const Reply r = f.purge(R"({"files":["https://shop.com/a.js"],"soft":true})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"success":true,"result":{"id":"id1","seq":1}})");
    CHECK(f.metrics.accepted(PurgeKind::files).value() == 1);
    const Reply failed =
        f.handler->appended(AppendPlan{}, Result<PurgeRecordPtr>(make_error_code(Errc::internal)));
    CHECK(failed.status == 503);
    CHECK(error_code(failed) == 1500);
    CHECK(failed.body.find("not applied") != std::string::npos);
}

TEST_CASE("Idempotency-Key: replays, conflicts and honest 503s", "[purge_api][handler]") {
    Fixture f;
    Request req{bh::verb::post, "/v1/purge", 11};
    req.set(bh::field::authorization, "Bearer ops-token");
    req.set("Idempotency-Key", "retry-42");
    req.body() = R"({"tags":["a"]})";
    Plan p = f.handler->plan(req);
    REQUIRE(std::holds_alternative<AppendPlan>(p));
    const AppendPlan& a = std::get<AppendPlan>(p);
    CHECK(a.idempotency_key == "ops/retry-42");  // per token
    CHECK(a.fingerprint == purge_fingerprint(a.draft));

    const PurgeRecordPtr rec = make_record(7, "abc", 1, a.draft);
    const Reply replay = f.handler->appended(a, AppendResult{AppendStatus::replayed, rec});
    CHECK(replay.status == 200);
    CHECK(replay.body == R"({"success":true,"result":{"id":"abc","seq":7}})");
    CHECK(replay.headers.at(0) ==
          std::pair<std::string, std::string>{"Idempotent-Replayed", "true"});
    CHECK(f.metrics.replayed.value() == 1);
    CHECK(f.metrics.accepted(PurgeKind::tags).value() == 0);

    const Reply reused = f.handler->appended(a, AppendResult{AppendStatus::key_reused, nullptr});
    CHECK(reused.status == 409);
    CHECK(error_code(reused) == 1012);

    // The store did not confirm in time: the answer says the purge may still be applied, and
    // how to retry safely.
    const Reply maybe = f.handler->appended(a, AppendResult{AppendStatus::maybe_applied, nullptr});
    CHECK(maybe.status == 503);
    CHECK(maybe.body.find("may still be applied") != std::string::npos);
    CHECK(maybe.body.find("same Idempotency-Key") != std::string::npos);

    req.set("Idempotency-Key", "has space");
    p = f.handler->plan(req);
    REQUIRE(std::holds_alternative<Reply>(p));
    CHECK(std::get<Reply>(p).status == 400);
}

TEST_CASE("validation and scope errors", "[purge_api][handler]") {
    Fixture f;
    struct Case {
        std::string body;
        std::string token;
        unsigned status;
        int code;
    };
    std::string thirty_one = R"({"tags":[)";
    for (int i = 0; i < 31; ++i)
        thirty_one += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
    thirty_one += "]}";
    const std::vector<Case> cases = {
        {"{", "ops-token", 400, 1000},
        {R"({"tags":["a"],"extra":1})", "ops-token", 400, 1001},
        {R"({"tags":[]})", "ops-token", 400, 1004},
        {R"({"tags":["a"],"hosts":["b"]})", "ops-token", 400, 1003},
        {thirty_one, "ops-token", 400, 1005},
        {R"({"files":["https://other.com/x"]})", "shop-token", 403, 10001},
        {R"({"tags":["a"]})", "shop-token", 403, 10001},
        {R"({"purge_everything":true})", "shop-token", 403, 10001},
        {R"({"prefixes":["other.com/"]})", "shop-token", 403, 10001},
    };
    for (const Case& c : cases) {
        INFO(c.body.substr(0, 80) << " with " << c.token);
        const Reply r = f.purge(c.body, c.token);
        CHECK(r.status == c.status);
        CHECK(error_code(r) == c.code);
    }
    CHECK(f.purge(R"({"hosts":["shop.com"]})", "shop-token").status == 200);
    CHECK(f.store.last_seq() == 1);
    CHECK(f.metrics.rejected("forbidden").value() == 4);
    CHECK(f.metrics.rejected("too_many_items").value() == 1);
}

TEST_CASE("stream requests need the edge token, an edge id and a number", "[purge_api][handler]") {
    Fixture f;
    Plan p = f.plan(bh::verb::get, "/v1/stream?edge=edge-a&after=42", "edge-token");
    // Beyond this instance's log: first it catches up with the shared log.
    REQUIRE(std::holds_alternative<SyncPlan>(p));
    CHECK(std::get<SyncPlan>(p).seq == 42);
    {
        Request again{bh::verb::get, "/v1/stream?edge=edge-a&after=42", 11};
        again.set(bh::field::authorization, "Bearer edge-token");
        // Still unknown (etcd unreachable): 503 with Retry-After, never a reset.
        const Plan unknown = f.handler->plan(again, *f.live->current(), SeqCheck::unknown);
        REQUIRE(std::holds_alternative<Reply>(unknown));
        CHECK(std::get<Reply>(unknown).status == 503);
        CHECK(std::get<Reply>(unknown).headers.at(0).first == "Retry-After");
        // The shared log truly ends before it: the stream (which starts with a reset).
        p = f.handler->plan(again, *f.live->current(), SeqCheck::beyond_log);
    }
    REQUIRE(std::holds_alternative<StreamPlan>(p));
    CHECK(std::get<StreamPlan>(p).edge == "edge-a");
    CHECK(std::get<StreamPlan>(p).after == 42);
    p = f.plan(bh::verb::get, "/v1/stream?edge=e", "edge-token");
    CHECK(std::get<StreamPlan>(p).after == 0);

    Request req{bh::verb::get, "/v1/stream?edge=e", 11};
    req.set(bh::field::authorization, "Bearer edge-token");
    req.set("Last-Event-ID", "7");
    CHECK(std::get<SyncPlan>(f.handler->plan(req)).seq == 7);
    CHECK(std::get<StreamPlan>(f.handler->plan(req, *f.live->current(), SeqCheck::beyond_log))
              .after == 7);

    CHECK(std::get<Reply>(f.plan(bh::verb::get, "/v1/stream?edge=e", "ops-token")).status == 401);
    CHECK(std::get<Reply>(f.plan(bh::verb::get, "/v1/stream?edge=e")).status == 401);
    CHECK(std::get<Reply>(f.plan(bh::verb::get, "/v1/stream?after=1", "edge-token")).status == 400);
    CHECK(std::get<Reply>(f.plan(bh::verb::get, "/v1/stream?edge=a%20b", "edge-token")).status ==
          400);
    CHECK(
        std::get<Reply>(f.plan(bh::verb::get, "/v1/stream?edge=e&after=-1", "edge-token")).status ==
        400);
}

TEST_CASE("acks, edges and purge status", "[purge_api][handler]") {
    Fixture f;
    REQUIRE(f.purge(R"({"tags":["a"]})").status == 200);
    REQUIRE(f.purge(R"({"tags":["b"]})").status == 200);

    CHECK(f.reply(bh::verb::post, "/v1/edges/edge-a/ack", "edge-token", R"({"seq":2})").status ==
          204);
    CHECK(f.reply(bh::verb::post, "/v1/edges/edge-a/ack", "edge-token", R"({"seq":9})").status ==
          400);
    CHECK(f.reply(bh::verb::post, "/v1/edges/edge-a/ack", "edge-token", R"({"sq":1})").status ==
          400);
    CHECK(f.reply(bh::verb::post, "/v1/edges/edge-a/ack", "ops-token", R"({"seq":1})").status ==
          401);
    CHECK(f.reply(bh::verb::get, "/v1/edges/edge-a/ack", "edge-token").status == 405);
    CHECK(f.metrics.acks.value() == 1);

    const Reply edges = f.reply(bh::verb::get, "/v1/edges", "ops-token");
    REQUIRE(edges.status == 200);
    const json::array a = json::parse(edges.body).as_array();
    REQUIRE(a.size() == 2);
    CHECK(a[0].at("edge") == "edge-a");
    CHECK(a[0].at("last_applied_seq").to_number<int>() == 2);
    CHECK(a[0].at("connected") == false);
    CHECK(a[1].at("last_seen_ms").is_null());
    CHECK(f.reply(bh::verb::get, "/v1/edges", "edge-token").status == 401);

    const Reply st = f.reply(bh::verb::get, "/v1/purges/id1", "ops-token");
    REQUIRE(st.status == 200);
    const json::object o = json::parse(st.body).as_object();
    CHECK(o.at("seq").to_number<int>() == 1);
    CHECK(o.at("kind") == "tags");
    CHECK(o.at("values").as_array().size() == 1);
    CHECK(o.at("complete") == false);
    CHECK(o.at("completed_ms").is_null());
    const json::array es = o.at("edges").as_array();
    REQUIRE(es.size() == 2);
    CHECK(es[0].at("status") == "applied");
    CHECK(es[1].at("status") == "unreachable");

    CHECK(f.reply(bh::verb::post, "/v1/edges/edge-b/ack", "edge-token", R"({"seq":1})").status ==
          204);
    const json::object done =
        json::parse(f.reply(bh::verb::get, "/v1/purges/id1", "ops-token").body).as_object();
    CHECK(done.at("complete") == true);
    CHECK(done.at("completed_ms").is_int64());

    CHECK(f.reply(bh::verb::get, "/v1/purges/nope", "ops-token").status == 404);
    CHECK(f.reply(bh::verb::get, "/v1/purges/id1", "shop-token").status == 403);
}

TEST_CASE("health, metrics, unknown paths and methods", "[purge_api][handler]") {
    Fixture f;
    CHECK(f.reply(bh::verb::get, "/healthz").status == 200);
    const Reply m = f.reply(bh::verb::get, "/metrics");
    CHECK(m.status == 200);
    CHECK_THAT(m.body, Catch::Matchers::Contains("cdn_purge_api_purges_total{kind=\"files\"}"));
    CHECK(f.reply(bh::verb::get, "/nope").status == 404);
    CHECK(f.reply(bh::verb::get, "/v1/purge", "ops-token").status == 405);
    CHECK(f.reply(bh::verb::delete_, "/healthz").status == 405);
}

TEST_CASE("stream event texts", "[purge_api][handler]") {
    const PurgeRecordPtr r =
        make_record(3, "abc", 77, PurgeDraft{PurgeKind::hosts, {"a.com"}, false});
    CHECK(purge::sse_purge(r->seq, r->json) ==
          "id: 3\nevent: purge\ndata: "
          R"({"seq":3,"id":"abc","time_ms":77,"kind":"hosts","values":["a.com"],"soft":false})"
          "\n\n");
    CHECK(purge::sse_reset({5, 99}) ==
          "event: reset\ndata: {\"compacted_through\":5,\"time_ms\":99}\n\n");
    CHECK(query_param("a=1&edge=x&b", "edge") == std::optional<std::string_view>("x"));
    CHECK(query_param("a=1&b", "b") == std::optional<std::string_view>(""));
    CHECK_FALSE(query_param("a=1", "edge"));
}

TEST_CASE("a reload swaps tokens and limits for the next request", "[purge_api][handler]") {
    Fixture f;
    REQUIRE(f.purge(R"({"tags":["a"]})").status == 200);
    const SettingsPtr before = f.live->current();
    ApiConfig next = f.config;
    next.tokens = {Token{"ops2", "ops-token-2", {}}};
    next.limits.max_items = 1;
    f.live->publish(next);
    CHECK(f.purge(R"({"tags":["a"]})").status == 401);
    CHECK(f.purge(R"({"tags":["a"]})", "ops-token-2").status == 200);
    CHECK(error_code(f.purge(R"({"tags":["a","b"]})", "ops-token-2")) == 1005);
    // A request planned with the snapshot it started with still sees the old settings.
    Request req{bh::verb::post, "/v1/purge", 11};
    req.set(bh::field::authorization, "Bearer ops-token");
    req.body() = R"({"tags":["a","b"]})";
    CHECK(std::holds_alternative<AppendPlan>(f.handler->plan(req, *before)));
}

TEST_CASE("the Cloudflare zone API: body shapes, zone limits and its envelope",
          "[purge_api][handler]") {
    Fixture f;
    auto zone = [&](const std::string& z, const std::string& body,
                    const std::string& token = "ops-token") {
        return f.reply(bh::verb::post, "/client/v4/zones/" + z + "/purge_cache", token, body);
    };
    auto last = [&] { return f.store.read_after(f.store.last_seq() - 1, 1).records.at(0); };

    Reply r = zone(
        "shop.com",
        R"({"files":["https://shop.com/a.js",{"url":"http://SHOP.com:8080/b","headers":{"CF-IPCountry":"US"}}]})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"success":true,"errors":[],"messages":[],"result":{"id":"id1"}})");
    CHECK(last()->kind == PurgeKind::files);
    CHECK(last()->values ==
          std::vector<std::string>{"https://shop.com/a.js", "http://SHOP.com:8080/b"});

    CHECK(zone("Shop.com", R"({"purge_everything":true})").status == 200);
    CHECK(last()->kind == PurgeKind::hosts);  // everything in the zone = its host
    CHECK(last()->values == std::vector<std::string>{"shop.com"});
    CHECK(zone("shop.com", R"({"prefixes":["shop.com/static/"]})").status == 200);
    CHECK(last()->kind == PurgeKind::prefixes);
    CHECK(zone("shop.com", R"({"hosts":["shop.com"],"soft":true})").status == 200);
    CHECK(last()->soft);
    // The host-limited token may purge its zone, everything in it included.
    CHECK(zone("shop.com", R"({"purge_everything":true})", "shop-token").status == 200);

    struct Bad {
        std::string zone, body, token;
        unsigned status;
        int code;
    };
    const std::vector<Bad> bad = {
        {"shop.com", R"({"files":["https://other.com/a"]})", "ops-token", 400, 1010},
        {"shop.com", R"({"prefixes":["other.com/"]})", "ops-token", 400, 1010},
        {"shop.com", R"({"hosts":["img.shop.com"]})", "ops-token", 400, 1010},
        {"shop.com", R"({"tags":["a"]})", "ops-token", 400, 1011},
        {"shop.com", R"({"files":[]})", "ops-token", 400, 1004},
        {"shop.com", R"({"nope":1})", "ops-token", 400, 1001},
        {"shop.com", "{", "ops-token", 400, 1000},
        {"shop.com", R"({"tags":["a"]})", "nope", 401, 10000},
        {"other.com", R"({"purge_everything":true})", "shop-token", 403, 10001},
        {"023e105f4ecef8ad9ca31a8372d0c353", R"({"purge_everything":true})", "ops-token", 404,
         1404},
        {"a:80", R"({"purge_everything":true})", "ops-token", 404, 1404},
    };
    for (const Bad& b : bad) {
        INFO(b.zone << " " << b.body);
        const Reply e = zone(b.zone, b.body, b.token);
        CHECK(e.status == b.status);
        CHECK(error_code(e) == b.code);
        const json::value v = json::parse(e.body);
        CHECK(v.at("success") == false);
        CHECK(v.at("messages").as_array().empty());
        CHECK(v.at("result").is_null());
    }

    // A body that is not JSON by its Content-Type: 415.
    Request req{bh::verb::post, "/client/v4/zones/shop.com/purge_cache", 11};
    req.set(bh::field::authorization, "Bearer ops-token");
    req.set(bh::field::content_type, "application/x-www-form-urlencoded");
    req.body() = R"({"purge_everything":true})";
    Plan p = f.handler->plan(req);
    REQUIRE(std::holds_alternative<Reply>(p));
    CHECK(std::get<Reply>(p).status == 415);
    req.set(bh::field::content_type, "Application/JSON; charset=utf-8");
    CHECK(std::holds_alternative<AppendPlan>(f.handler->plan(req)));

    // Other methods and paths under /client/v4/ answer in the same envelope.
    const Reply get = f.reply(bh::verb::get, "/client/v4/zones/shop.com/purge_cache", "ops-token");
    CHECK(get.status == 405);
    CHECK(json::parse(get.body).at("result").is_null());
    CHECK(f.reply(bh::verb::post, "/client/v4/zones/shop.com/dns_records", "ops-token").status ==
          404);
    CHECK(f.handler
              ->error_for("/client/v4/zones/x/purge_cache",
                          make_error(ApiErrc::body_too_large, "big"))
              .body.find("\"messages\":[]") != std::string::npos);
}

TEST_CASE("the dashboard page is served without a token, locked down by its headers",
          "[purge_api][handler][fleet]") {
    Fixture f;
    const Reply r = f.reply(bh::verb::get, "/dashboard");
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(r.body == dashboard_html());
    CHECK(r.body.starts_with("<!doctype html>"));
    // Self-contained: no external script, style, font or image.
    for (const char* external : {"src=\"http", "href=\"http", "@import", "url(", "//fonts."})
        CHECK(r.body.find(external) == std::string::npos);
    auto header = [&](std::string_view name) -> std::string {
        for (const auto& [k, v] : r.headers)
            if (k == name) return v;
        return {};
    };
    const std::string csp = header("Content-Security-Policy");
    CHECK(csp == dashboard_csp());
    CHECK(csp.starts_with("default-src 'none'; "));
    CHECK(csp.find("connect-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);  // inline code only by its hash
    // One inline script and one inline style, each allowed by its hash.
    const std::string html(dashboard_html());
    auto count = [&](const std::string& needle) {
        std::size_t n = 0;
        for (auto p = html.find(needle); p != std::string::npos; p = html.find(needle, p + 1))
            ++n;
        return n;
    };
    CHECK(count("<script") == 1);
    CHECK(count("<style") == 1);
    CHECK(csp.find("script-src 'sha256-" + inline_sha256(html, "script") + "'") !=
          std::string::npos);
    CHECK(csp.find("style-src 'sha256-" + inline_sha256(html, "style") + "'") != std::string::npos);
    CHECK(inline_sha256(html, "script").size() == 44);
    // Known value: sha256("") in base64.
    CHECK(inline_sha256("<x></x>", "x") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    CHECK(inline_sha256("<x>", "x").empty());
    CHECK(header("Referrer-Policy") == "no-referrer");
    CHECK(f.reply(bh::verb::post, "/dashboard").status == 405);
}

TEST_CASE("GET /v1/fleet: a token is needed, then edges, streams and recent purges",
          "[purge_api][handler][fleet]") {
    Fixture f;
    FleetRegistry fleet(f.clock, {std::chrono::seconds(10), {}});
    ApiHandler handler(*f.live, f.store, f.edges, f.registry, f.metrics, &fleet);
    auto get = [&](const std::string& token) {
        Request req{bh::verb::get, "/v1/fleet", 11};
        if (!token.empty()) req.set(bh::field::authorization, "Bearer " + token);
        Plan p = handler.plan(req);
        REQUIRE(std::holds_alternative<Reply>(p));
        return std::get<Reply>(p);
    };
    CHECK(get("").status == 401);
    CHECK(get("nope").status == 401);

    Registration reg;
    reg.id = "edge-a";
    reg.region = "eu-central";
    reg.http = "http://127.0.0.1:8080";
    reg.admin = "http://127.0.0.1:8081";
    reg.ipv4 = {"127.0.0.1"};
    reg.instance = "i1";
    fleet.put(reg);
    REQUIRE(f.purge(R"({"tags":["blue"]})").status == 200);
    REQUIRE(f.purge(R"({"hosts":["shop.com"]})").status == 200);
    f.edges.ack("edge-a", 1);

    const Reply r = get("ops-token");
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "application/json");
    const json::object o = json::parse(r.body).as_object();
    CHECK(o.at("log_head_seq").to_number<std::uint64_t>() == 2);
    CHECK(o.at("observer_health").is_null());
    const auto& regions = o.at("regions").as_array();
    REQUIRE(regions.size() == 2);  // edge-b (configured, never seen) has no region
    const json::object& a = regions[0].at("edges").at(0).as_object();
    CHECK(a.at("id").as_string() == "edge-a");
    CHECK(a.at("status").as_string() == "pending");  // no scraper: nothing read yet
    CHECK(a.at("purge").at("last_applied_seq").to_number<std::uint64_t>() == 1);
    CHECK(a.at("purge").at("lag").to_number<std::uint64_t>() == 1);
    CHECK(regions[1].at("edges").at(0).at("id").as_string() == "edge-b");
    const auto& purges = o.at("purges").as_array();
    REQUIRE(purges.size() == 2);
    CHECK(purges[0].at("seq").to_number<std::uint64_t>() == 2);  // newest first
    CHECK(purges[1].at("edges").at(0).at("status").as_string() == "applied");

    // The edge token reads it too; a host-limited token sees only its hosts' purges.
    CHECK(get("edge-token").status == 200);
    const Reply shop = get("shop-token");
    REQUIRE(shop.status == 200);
    const json::value shop_fleet = json::parse(shop.body);
    const auto& mine = shop_fleet.at("purges").as_array();
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].at("kind").as_string() == "hosts");
}
