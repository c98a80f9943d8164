// Purge rules (lazy, by insertion sequence) and the Purger that applies and journals them.
#include "edge/cache/purge_rules.hpp"
#include "edge/proxy/purger.hpp"
#include "edge/storage/memory_store.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace cdn;
using namespace cdn::edge;
using cache::PurgeKind;
using cache::PurgeRequest;
using cache::PurgeVerdict;

namespace {

storage::ObjectPtr obj(const std::string& key, const std::string& extra_fields = "") {
    auto o = storage::CachedObject::make(
        key, "HTTP/1.1 200 OK\r\n" + extra_fields + "Content-Length: 1\r\n");
    o->status = 200;
    o->body = cdn::new_body("x");
    o->seq = storage::next_object_sequence();
    o->meta.response_time = TimePoint(std::chrono::seconds(1'800'000'000));
    return o;
}

PurgeRequest req(PurgeKind kind, std::vector<std::string> values, bool soft = false,
                 std::uint64_t seq = 0) {
    PurgeRequest r;
    r.kind = kind;
    r.values = std::move(values);
    r.soft = soft;
    r.seq = seq;
    return r;
}

PurgeRequest normalized(PurgeRequest r) {
    REQUIRE_FALSE(cache::normalize(r, {}));
    return r;
}

}  // namespace

TEST_CASE("purge values are normalised to what the cache stores", "[purge]") {
    auto r = normalized(req(PurgeKind::files, {"HTTPS://Example.COM:443/a?b=1"}));
    CHECK(r.values ==
          std::vector<std::string>{"http://example.com/a?b=1", "https://example.com/a?b=1"});
    CHECK(normalized(req(PurgeKind::prefixes, {"Example.com/img/"})).values ==
          std::vector<std::string>{"example.com/img/"});
    CHECK(normalized(req(PurgeKind::prefixes, {"http://example.com:80"})).values ==
          std::vector<std::string>{"example.com/"});
    CHECK(normalized(req(PurgeKind::hosts, {"WWW.Example.com:80"})).values ==
          std::vector<std::string>{"www.example.com"});
    CHECK(normalized(req(PurgeKind::tags, {"Product-7"})).values ==
          std::vector<std::string>{"Product-7"});

    auto bad = [](PurgeRequest q) { return cache::normalize(q, {}).has_value(); };
    CHECK(bad(req(PurgeKind::files, {})));
    CHECK(bad(req(PurgeKind::files, {"example.com/a"})));
    CHECK(bad(req(PurgeKind::files, {"ftp://example.com/a"})));
    CHECK(bad(req(PurgeKind::files, {"http:///a"})));
    CHECK(bad(req(PurgeKind::hosts, {"a.com/x"})));
    CHECK(bad(req(PurgeKind::tags, {"two tags"})));
    CHECK(bad(req(PurgeKind::tags, {std::string(5000, 't')})));
}

TEST_CASE("a purge covers what was stored before it, never what comes after", "[purge]") {
    cache::PurgeRules rules;
    CHECK(rules.empty());
    auto a = obj("http://example.com/img/a.png", "Surrogate-Key: red  blue\r\n");
    auto b = obj("http://example.com/img/b.png", "Cache-Tag: green, blue\r\n");
    auto c = obj("http://other.com/img/c.png");
    auto d = obj("https://example.com/css/d.css");

    SECTION("files") {
        rules.add(normalized(req(PurgeKind::files, {"http://example.com/img/a.png"})),
                  storage::next_object_sequence());
        CHECK(rules.check(*a) == PurgeVerdict::hard);
        CHECK(rules.check(*b) == PurgeVerdict::none);
    }
    SECTION("prefixes: by host and path") {
        rules.add(normalized(req(PurgeKind::prefixes, {"example.com/img/"})),
                  storage::next_object_sequence());
        CHECK(rules.check(*a) == PurgeVerdict::hard);
        CHECK(rules.check(*b) == PurgeVerdict::hard);
        CHECK(rules.check(*c) == PurgeVerdict::none);
        CHECK(rules.check(*d) == PurgeVerdict::none);
    }
    SECTION("tags from Surrogate-Key and Cache-Tag") {
        rules.add(normalized(req(PurgeKind::tags, {"blue"})), storage::next_object_sequence());
        CHECK(rules.check(*a) == PurgeVerdict::hard);
        CHECK(rules.check(*b) == PurgeVerdict::hard);
        CHECK(rules.check(*c) == PurgeVerdict::none);
    }
    SECTION("hosts, either scheme") {
        rules.add(normalized(req(PurgeKind::hosts, {"example.com"})),
                  storage::next_object_sequence());
        CHECK(rules.check(*a) == PurgeVerdict::hard);
        CHECK(rules.check(*d) == PurgeVerdict::hard);
        CHECK(rules.check(*c) == PurgeVerdict::none);
    }
    SECTION("everything, soft") {
        rules.add(normalized(req(PurgeKind::everything, {}, true)),
                  storage::next_object_sequence());
        CHECK(rules.check(*c) == PurgeVerdict::soft);
        SECTION("a hard purge wins over a soft one") {
            rules.add(normalized(req(PurgeKind::files, {"http://other.com/img/c.png"})),
                      storage::next_object_sequence());
            CHECK(rules.check(*c) == PurgeVerdict::hard);
        }
    }
    SECTION("by insertion time, after the purge log was compacted") {
        auto old = storage::CachedObject::copy(*a);
        old->meta.response_time = TimePoint(std::chrono::seconds(100));
        rules.add_time_floor(100'001);
        CHECK(rules.check(*old) == PurgeVerdict::hard);
        CHECK(rules.check(*a) == PurgeVerdict::none);
    }
    // Stored after the purge: not covered.
    auto later = obj("http://example.com/img/a.png", "Surrogate-Key: blue\r\n");
    CHECK(rules.check(*later) == PurgeVerdict::none);
}

TEST_CASE("rules retire once nothing cached is older than them", "[purge]") {
    cache::PurgeRules rules;
    auto a = obj("http://example.com/a");
    rules.add(normalized(req(PurgeKind::tags, {"t1", "t2"})), storage::next_object_sequence());
    rules.add(normalized(req(PurgeKind::prefixes, {"example.com/x"})),
              storage::next_object_sequence());
    CHECK(rules.size() == 3);
    CHECK(rules.retire(a->seq) == 0);  // a is older than both: they still matter
    auto b = obj("http://example.com/b");
    CHECK(rules.retire(b->seq) == 3);
    CHECK(rules.empty());
}

TEST_CASE("the purger applies in order, exactly once, and its journal survives a restart",
          "[purge]") {
    cdn::test::TempDir dir;
    const auto journal = dir.path() / "purges.log";
    storage::MemoryStore store(1 << 20, 1);
    auto a = obj("http://example.com/a", "Surrogate-Key: k\r\n");
    auto b = obj("http://example.com/b");
    REQUIRE(store.insert(a));
    REQUIRE(store.insert(b));
    {
        cache::PurgeRules rules;
        proxy::Purger p(store, rules, {}, journal);
        CHECK(p.apply(req(PurgeKind::files, {"http://example.com/b"}, false, 1)).removed == 1);
        CHECK_FALSE(store.peek("http://example.com/b"));
        CHECK(p.apply(req(PurgeKind::tags, {"k"}, false, 2)).applied);
        CHECK_FALSE(p.apply(req(PurgeKind::tags, {"k"}, false, 2)).applied);     // again: skipped
        CHECK_FALSE(p.apply(req(PurgeKind::everything, {}, false, 1)).applied);  // older
        CHECK(p.last_seq() == 2);
        CHECK(p.apply(req(PurgeKind::files, {"nope"}, false, 3)).error.size() > 0);
        CHECK(p.last_seq() == 2);
    }
    // A torn last line (a crash mid-append) is skipped; the rest is reloaded.
    std::ofstream(journal, std::ios::app) << "{\"seq\":3,\"flo";
    cache::PurgeRules rules;
    proxy::Purger p(store, rules, {}, journal);
    CHECK(p.last_seq() == 2);
    CHECK(rules.check(*a) == PurgeVerdict::hard);
}

TEST_CASE("purge bodies in Cloudflare's purge_cache shape", "[purge]") {
    using P = proxy::Purger;
    auto ok = [](std::string_view body) {
        return std::holds_alternative<PurgeRequest>(P::parse_api_body(body));
    };
    CHECK(ok(R"({"files":["http://a.com/x", {"url":"http://a.com/y"}]})"));
    CHECK(ok(R"({"tags":["a","b"],"soft":true})"));
    CHECK(ok(R"({"purge_everything":true})"));
    CHECK_FALSE(ok(R"({"files":["http://a.com/x"],"tags":["a"]})"));
    CHECK_FALSE(ok(R"({"purge_everything":false})"));
    CHECK_FALSE(ok(R"({"tags":"a"})"));
    CHECK_FALSE(ok(R"({"tags":[1]})"));
    CHECK_FALSE(ok(R"({"hosts":["a.com"],"color":"red"})"));
    CHECK_FALSE(ok(R"({})"));
    CHECK_FALSE(ok(R"([1,2])"));
    CHECK_FALSE(ok(R"({"tags":["a")"));
    const auto e = P::parse_event(
        R"({"seq":7,"id":"x","time_ms":5,"kind":"prefixes","values":["a.com/p"],"soft":true})");
    REQUIRE(e);
    CHECK(e->seq == 7);
    CHECK(e->kind == PurgeKind::prefixes);
    CHECK(e->soft);
    CHECK_FALSE(P::parse_event(R"({"seq":0,"kind":"tags"})"));
    CHECK_FALSE(P::parse_event(R"({"seq":1,"kind":"colors"})"));
}
