// The request pipeline (proxy::EdgeHandler) against a fake upstream and a manual clock: no
// socket, no sleep. Miss, store and hit; expiry and revalidation; stale-if-error; what goes to
// parents and what does not; loops.
#include "edge/cache/cache_key.hpp"
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/outcome_label.hpp"
#include "edge/upstream/hrw.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

using namespace cdn;
using namespace cdn::edge;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bh = boost::beast::http;

namespace {

struct Answer {
    unsigned status = 0;
    std::string head;  // the stored head and the per-request fields
    std::string body;
    cache::Outcome outcome = cache::Outcome::synthetic;
    bool has(std::string_view text) const { return head.find(text) != std::string::npos; }
};

struct Pipeline {
    test::ManualClock clock;
    storage::MemoryStore store{64 << 20, 4};
    MetricsRegistry registry;
    proxy::EdgeMetrics metrics{registry, store};
    cache::InflightKeys refreshing;
    cache::FillRegistry fills;
    cache::PurgeRules purges;
    proxy::InflightBudget inflight{64 << 20};
    cache::HintTable hints;
    asio::io_context io;
    test::FakeUpstream* upstream = nullptr;  // owned by the handler
    std::unique_ptr<proxy::EdgeHandler> handler;

    explicit Pipeline(test::FakeUpstream::Script script, bool with_parents = false,
                      bool early_hints = false) {
        auto gen = std::make_shared<proxy::EdgeGeneration>();
        gen->config.name = "edge-t";
        OriginGroup g;
        g.hosts = {"*"};
        upstream::OriginServer s;
        s.url = parse_url("http://127.0.0.1:9000/").value();
        g.servers.push_back(s);
        g.early_hints.enabled = early_hints;
        gen->config.origins.push_back(g);
        gen->origin_sets.push_back(
            std::make_shared<upstream::OriginSet>(g.servers, g.balance, g.breaker));
        if (with_parents) {
            ParentGroup p;
            p.hosts = {"*"};
            p.servers = g.servers;
            gen->config.parents.push_back(p);
            gen->parent_sets.push_back(
                std::make_shared<upstream::OriginSet>(p.servers, g.balance, p.breaker));
            gen->parent_routes.push_back({gen->parent_sets.back().get(), 1, true});
        }
        auto fake = std::make_unique<test::FakeUpstream>(std::move(script));
        upstream = fake.get();
        handler = std::make_unique<proxy::EdgeHandler>(
            proxy::EdgeShared{store, metrics, clock, refreshing, fills, purges, inflight, &hints},
            gen, io.get_executor(), std::move(fake));
    }

    static asio::awaitable<Answer> exchange(proxy::EdgeHandler& h, http::Request& req) {
        http::Reply r = co_await h.handle(req);
        Answer a;
        a.status = r.status();
        a.outcome = proxy::outcome_of(r.outcome);
        a.head = std::string(r.object ? r.object->head() : std::string_view()) + r.extra;
        if (r.stream) {
            for (;;) {
                auto piece = co_await r.stream->next();
                if (!piece || piece->empty()) break;
                a.body.append(*piece);
            }
        } else if (r.object && r.object->body && !r.head_only) {
            a.body = r.object->body->view().substr(r.body_offset, r.body_length);
        }
        co_return a;
    }

    // One request, run to its end (the fill and any background work included).
    Answer request(std::string_view method, std::string target, bh::fields fields = {}) {
        http::Request req;
        req.msg.method_string(method);
        req.msg.target(target);
        req.msg.version(11);
        req.msg.set(bh::field::host, "a.example");
        for (const auto& f : fields)
            req.msg.insert(f.name_string(), f.value());
        req.client = tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 40000);
        Answer out;
        asio::co_spawn(io, exchange(*handler, req), [&](std::exception_ptr e, Answer a) {
            if (e) std::rethrow_exception(e);
            out = std::move(a);
        });
        io.restart();
        io.run();
        return out;
    }
};

test::FakeResponse ok(std::string body, std::string cc = "max-age=60") {
    return {200, {{"Cache-Control", cc}, {"ETag", "\"v1\""}}, std::move(body), {}};
}

}  // namespace

TEST_CASE("pipeline: a miss is fetched and stored, the next request is a hit", "[pipeline]") {
    Pipeline p([](const test::FakeCall&) { return ok("hello"); });
    auto first = p.request("GET", "/a");
    CHECK(first.status == 200);
    CHECK(first.body == "hello");
    CHECK(first.outcome == cache::Outcome::miss);
    CHECK(first.has("Cache-Status: edge-t; fwd=uri-miss; fwd-status=200; stored; ttl=60"));
    auto second = p.request("GET", "/a");
    CHECK(second.outcome == cache::Outcome::hit);
    CHECK(second.body == "hello");
    REQUIRE(p.upstream->calls().size() == 1);
    // What went upstream: the target, the Host, this edge in CDN-Loop; no parents configured.
    const auto& c = p.upstream->calls()[0];
    CHECK(c.target == "/a");
    CHECK(c.host == "a.example");
    CHECK(c.cdn_loop == "edge-t");
    CHECK_FALSE(c.to_parents);
}

// Regression: a 304 without Date left the stored Date in place, so the refreshed response
// looked as old as the first one and was stale again at once.
TEST_CASE("pipeline: expiry is decided by the injected clock, revalidation keeps the body",
          "[pipeline]") {
    unsigned answer_304 = 0;
    Pipeline p([&](const test::FakeCall& c) {
        if (!c.if_none_match.empty()) {
            ++answer_304;
            return test::FakeResponse{304, {{"Cache-Control", "max-age=60"}}, "", {}};
        }
        return ok("body-1");
    });
    p.request("GET", "/r");
    p.clock.advance(59s);
    CHECK(p.request("GET", "/r").outcome == cache::Outcome::hit);
    p.clock.advance(2s);
    auto r = p.request("GET", "/r");
    CHECK(r.outcome == cache::Outcome::revalidated);
    CHECK(r.body == "body-1");
    CHECK(answer_304 == 1);
    CHECK(p.upstream->calls().back().if_none_match == "\"v1\"");
    CHECK(p.request("GET", "/r").outcome == cache::Outcome::hit);
}

TEST_CASE("pipeline: stale-if-error serves the stored copy when the upstream fails", "[pipeline]") {
    bool down = false;
    Pipeline p([&](const test::FakeCall&) {
        if (down) return test::FakeResponse{0, {}, "", Errc::origin_unreachable};
        return ok("keep me", "max-age=10, stale-if-error=300");
    });
    p.request("GET", "/s");
    down = true;
    p.clock.advance(20s);
    auto r = p.request("GET", "/s");
    CHECK(r.status == 200);
    CHECK(r.body == "keep me");
    CHECK(r.outcome == cache::Outcome::stale);
    CHECK(r.has("stale-if-error"));
    p.clock.advance(2h);  // past stale-if-error and the default grace (1 h): the failure shows
    CHECK(p.request("GET", "/s").status == 502);
}

TEST_CASE("pipeline: cacheable fetches go to the parents with the key's hash, passes do not",
          "[pipeline]") {
    Pipeline p([](const test::FakeCall&) { return ok("x"); }, true);
    p.request("GET", "/p?q=1");
    p.request("POST", "/form");
    REQUIRE(p.upstream->calls().size() == 2);
    const auto& get = p.upstream->calls()[0];
    CHECK(get.to_parents);
    CHECK(get.key_hash ==
          upstream::hrw_key_hash(cache::make_cache_key("http", "a.example", "/p?q=1", {})));
    CHECK_FALSE(p.upstream->calls()[1].to_parents);
}

TEST_CASE("pipeline: a request that already came through this edge is a loop (508)", "[pipeline]") {
    Pipeline p([](const test::FakeCall&) { return ok("x"); });
    bh::fields f;
    f.insert("CDN-Loop", "cdn-a, edge-t; v=2");
    auto r = p.request("GET", "/l", f);
    CHECK(r.status == 508);
    CHECK(p.upstream->calls().empty());
    CHECK(p.metrics.loops.value() == 1);
}

TEST_CASE("pipeline: hint Links are learned from HTML, forgotten when a response has none",
          "[pipeline][early_hints]") {
    int call = 0;
    Pipeline p(
        [&](const test::FakeCall&) {
            ++call;
            test::FakeResponse r{
                200, {{"Cache-Control", "no-store"}, {"Content-Type", "text/html"}}, "page", {}};
            if (call == 1) r.fields.emplace_back("Link", "</a.css>; rel=preload; as=style");
            if (call == 3)
                r.fields = {{"Cache-Control", "no-store"}, {"Content-Type", "image/png"}};
            return r;
        },
        false, true);
    p.request("GET", "/page");
    CHECK(p.hints.size() == 1);
    p.request("GET", "/page");  // HTML without hint Links: forgotten
    CHECK(p.hints.size() == 0);
    call = 0;
    p.request("GET", "/page");
    CHECK(p.hints.size() == 1);
    call = 2;
    p.request("GET", "/page");  // not HTML any more: forgotten
    CHECK(p.hints.size() == 0);
}
