#include "edge/cache/freshness.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge::cache;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{std::chrono::seconds(1'700'000'000)};

ResponseFacts ok(std::string_view cc = "") {
    ResponseFacts r;
    r.status = 200;
    r.cc = parse_cache_control(cc);
    r.date = t0;
    return r;
}

RequestFacts get() {
    RequestFacts q;
    q.method_cacheable = true;
    return q;
}

}  // namespace

TEST_CASE("s-maxage beats max-age beats Expires", "[freshness]") {
    const FreshnessPolicy p;
    auto r = ok("max-age=60, s-maxage=30");
    r.has_expires = true;
    r.expires = t0 + 1000s;
    CHECK(freshness_lifetime(r, t0, p).value == 30s);
    r.cc = parse_cache_control("max-age=60");
    CHECK(freshness_lifetime(r, t0, p).value == 60s);
    r.cc = {};
    CHECK(freshness_lifetime(r, t0, p).value == 1000s);
}

TEST_CASE("Expires is measured against Date, not the local clock", "[freshness]") {
    auto r = ok();
    r.date = t0 - 3600s;  // origin clock an hour behind
    r.has_expires = true;
    r.expires = t0 - 3600s + 120s;
    CHECK(freshness_lifetime(r, t0, {}).value == 120s);
}

TEST_CASE("an invalid Expires means already expired", "[freshness]") {
    auto r = ok();
    r.has_expires = true;
    r.expires = std::nullopt;
    CHECK(freshness_lifetime(r, t0, {}).value == 0s);
}

TEST_CASE("an invalid max-age means stale, even with Expires", "[freshness]") {
    auto r = ok("max-age=soon");
    r.has_expires = true;
    r.expires = t0 + 100s;
    CHECK(freshness_lifetime(r, t0, {}).value == 0s);
}

TEST_CASE("heuristic freshness is 10% of the Last-Modified age, capped", "[freshness]") {
    FreshnessPolicy p;
    p.heuristic_max = 3600s;
    auto r = ok();
    r.last_modified = t0 - 1000s;
    auto l = freshness_lifetime(r, t0, p);
    CHECK(l.value == 100s);
    CHECK(l.heuristic);
    r.last_modified = t0 - 1'000'000s;
    CHECK(freshness_lifetime(r, t0, p).value == 3600s);
    // Not for a status that is not heuristically cacheable...
    r.status = 500;
    CHECK(freshness_lifetime(r, t0, p).value == 0s);
    // ...unless public says so.
    r.cc = parse_cache_control("public");
    CHECK(freshness_lifetime(r, t0, p).value == 3600s);
}

TEST_CASE("age: the larger of apparent age and corrected Age", "[freshness]") {
    auto r = ok();
    r.date = t0 - 10s;  // apparent age 10 s
    r.age = 3;
    // request sent at t0-2, response at t0: response_delay 2, corrected age 5
    CHECK(corrected_initial_age(r, t0 - 2s, t0) == 10s);
    r.age = 50;
    CHECK(corrected_initial_age(r, t0 - 2s, t0) == 52s);
    r.date = t0 + 100s;  // origin clock ahead: apparent age clamps to 0
    r.age.reset();
    CHECK(corrected_initial_age(r, t0, t0) == 0s);
}

TEST_CASE("an entry ages with resident time and goes stale", "[freshness]") {
    auto r = ok("max-age=60");
    r.age = 10;
    const auto m = make_meta(r, t0, t0, {});
    CHECK(current_age(m, t0) == 10s);
    CHECK(ttl_left(m, t0) == 50);
    CHECK(usable_without_validation(m, t0 + 49s));
    CHECK_FALSE(usable_without_validation(m, t0 + 50s));
    CHECK(current_age(m, t0 + 50s) == 60s);
}

TEST_CASE("no-cache entries are stored but never used without validation", "[freshness]") {
    auto r = ok("no-cache, max-age=600");
    r.has_etag = true;
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::store);
    const auto m = make_meta(r, t0, t0, {});
    CHECK_FALSE(usable_without_validation(m, t0));
}

TEST_CASE("storability for a shared cache", "[freshness]") {
    const FreshnessPolicy p;
    CHECK(storability(get(), ok("max-age=60"), t0, p) == StoreVerdict::store);
    CHECK(storability(get(), ok("no-store, max-age=60"), t0, p) == StoreVerdict::no_store);
    CHECK(storability(get(), ok("private, max-age=60"), t0, p) == StoreVerdict::private_);

    RequestFacts post;
    CHECK(storability(post, ok("max-age=60"), t0, p) == StoreVerdict::method);

    RequestFacts req_no_store = get();
    req_no_store.cc = parse_cache_control("no-store");
    CHECK(storability(req_no_store, ok("max-age=60"), t0, p) == StoreVerdict::no_store);

    auto partial = ok("max-age=60");
    partial.status = 206;
    CHECK(storability(get(), partial, t0, p) == StoreVerdict::status);

    // Nothing to go on: no lifetime and no validator.
    CHECK(storability(get(), ok(), t0, p) == StoreVerdict::no_lifetime);
    auto validated = ok();
    validated.has_etag = true;
    CHECK(storability(get(), validated, t0, p) == StoreVerdict::store);

    // A 500 is not cacheable by default, but is with explicit freshness.
    auto err = ok();
    err.status = 500;
    err.has_etag = true;
    CHECK(storability(get(), err, t0, p) == StoreVerdict::status);
    err.cc = parse_cache_control("max-age=5");
    CHECK(storability(get(), err, t0, p) == StoreVerdict::store);
}

TEST_CASE("Authorization: shared only when the origin says so", "[freshness]") {
    RequestFacts auth = get();
    auth.has_authorization = true;
    CHECK(storability(auth, ok("max-age=60"), t0, {}) == StoreVerdict::authorization);
    CHECK(storability(auth, ok("public, max-age=60"), t0, {}) == StoreVerdict::store);
    CHECK(storability(auth, ok("s-maxage=60"), t0, {}) == StoreVerdict::store);
    CHECK(storability(auth, ok("must-revalidate, max-age=60"), t0, {}) == StoreVerdict::store);
}

TEST_CASE("Set-Cookie responses are shared only when public", "[freshness]") {
    auto r = ok("max-age=60");
    r.has_set_cookie = true;
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::set_cookie);
    r.cc = parse_cache_control("public, max-age=60");
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::store);
}

TEST_CASE("Vary: * is never stored, other Vary responses are, as variants", "[freshness]") {
    auto r = ok("max-age=60");
    r.vary = "*";
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::vary);
    r.vary = "Accept-Encoding, *";
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::vary);
    r.vary = "Accept-Encoding";
    CHECK(storability(get(), r, t0, {}) == StoreVerdict::store);
}

TEST_CASE("s-maxage implies proxy-revalidate", "[freshness]") {
    CHECK(make_meta(ok("s-maxage=5"), t0, t0, {}).must_revalidate);
    CHECK_FALSE(make_meta(ok("max-age=5"), t0, t0, {}).must_revalidate);
}

TEST_CASE("negative caching: a bare 404 lives for the configured default", "[freshness]") {
    FreshnessPolicy p;
    p.negative_ttl = 30s;
    auto r = ok();
    r.status = 404;
    CHECK(freshness_lifetime(r, t0, p).value == 30s);
    CHECK(storability(get(), r, t0, p) == StoreVerdict::store);
    // The origin's own lifetime wins.
    r.cc = parse_cache_control("max-age=5");
    CHECK(freshness_lifetime(r, t0, p).value == 5s);
    // Not for errors that are not cacheable by default.
    auto e = ok();
    e.status = 503;
    CHECK(freshness_lifetime(e, t0, p).value == 0s);
    // And off when set to zero.
    p.negative_ttl = 0s;
    r.cc = {};
    CHECK(freshness_lifetime(r, t0, p).value == 0s);
}

TEST_CASE("jitter shortens only lifetimes the edge assigns itself", "[freshness]") {
    FreshnessPolicy p;
    p.jitter = 0.2;
    p.negative_ttl = 100s;
    auto missing = ok();
    missing.status = 404;
    CHECK(freshness_lifetime(missing, t0, p, 0.0).value == 100s);
    CHECK(freshness_lifetime(missing, t0, p, 0.5).value == 90s);
    CHECK(freshness_lifetime(missing, t0, p, 0.999).value == 80s);
    auto heuristic = ok();
    heuristic.last_modified = t0 - 1000s;
    CHECK(freshness_lifetime(heuristic, t0, p, 0.5).value == 90s);
    // Explicit lifetimes are the origin's word: never jittered.
    CHECK(freshness_lifetime(ok("max-age=100"), t0, p, 0.999).value == 100s);
}

TEST_CASE("stale-while-revalidate: served stale within its window only", "[freshness][stale]") {
    const auto m = make_meta(ok("max-age=10, stale-while-revalidate=20"), t0, t0, {});
    CHECK(decide_use(m, t0 + 9s) == Use::fresh);
    CHECK(decide_use(m, t0 + 10s) == Use::stale_while_revalidate);
    CHECK(decide_use(m, t0 + 29s) == Use::stale_while_revalidate);
    CHECK(decide_use(m, t0 + 30s) == Use::revalidate);
    // must-revalidate and no-cache forbid it.
    CHECK(decide_use(
              make_meta(ok("max-age=10, stale-while-revalidate=20, must-revalidate"), t0, t0, {}),
              t0 + 11s) == Use::revalidate);
    CHECK(decide_use(make_meta(ok("no-cache, stale-while-revalidate=20"), t0, t0, {}), t0) ==
          Use::revalidate);
    CHECK(decide_use(make_meta(ok("max-age=10"), t0, t0, {}), t0 + 10s) == Use::revalidate);
}

TEST_CASE("stale-if-error and grace", "[freshness][stale]") {
    FreshnessPolicy p;
    p.grace = 60s;
    const auto sie = make_meta(ok("max-age=10, stale-if-error=600"), t0, t0, p);
    CHECK(may_serve_stale_on_error(sie, t0 + 10s + 600s, p));
    CHECK_FALSE(may_serve_stale_on_error(sie, t0 + 10s + 601s, p));
    // No directive: the grace applies.
    const auto plain = make_meta(ok("max-age=10"), t0, t0, p);
    CHECK(may_serve_stale_on_error(plain, t0 + 70s, p));
    CHECK_FALSE(may_serve_stale_on_error(plain, t0 + 71s, p));
    p.grace = 0s;
    CHECK_FALSE(may_serve_stale_on_error(plain, t0 + 11s, p));
    // Never when the origin forbids serving stale.
    p.grace = 3600s;
    CHECK_FALSE(may_serve_stale_on_error(make_meta(ok("max-age=10, must-revalidate"), t0, t0, p),
                                         t0 + 11s, p));
    CHECK_FALSE(may_serve_stale_on_error(make_meta(ok("s-maxage=10"), t0, t0, p), t0 + 11s, p));
    CHECK_FALSE(
        may_serve_stale_on_error(make_meta(ok("no-cache, max-age=10"), t0, t0, p), t0 + 1s, p));
    CHECK(is_origin_error_status(503));
    CHECK_FALSE(is_origin_error_status(404));
}

TEST_CASE("a client's no-cache, max-age, min-fresh and max-stale, where honoured",
          "[freshness][client]") {
    const auto m = make_meta(ok("max-age=100"), t0, t0, {});
    bool stale_ok = false;
    auto use = [&](std::string_view cc, Seconds at) {
        return decide_use(m, t0 + at, parse_cache_control(cc), &stale_ok);
    };
    CHECK(use("", 10s) == Use::fresh);
    CHECK(use("no-cache", 10s) == Use::revalidate);
    CHECK(use("max-age=0", 10s) == Use::revalidate);
    CHECK(use("max-age=20", 10s) == Use::fresh);
    CHECK(use("max-age=5", 10s) == Use::revalidate);
    CHECK(use("max-age=junk", 10s) == Use::revalidate);
    CHECK(use("min-fresh=50", 10s) == Use::fresh);
    CHECK(use("min-fresh=95", 10s) == Use::revalidate);
    CHECK(use("", 150s) == Use::revalidate);
    CHECK(use("max-stale=60", 150s) == Use::fresh);
    CHECK(stale_ok);
    CHECK(use("max-stale=10", 150s) == Use::revalidate);
    CHECK(use("max-stale", 100000s) == Use::fresh);
    // must-revalidate in the response forbids serving it stale, whatever the client says.
    const auto strict = make_meta(ok("max-age=100, must-revalidate"), t0, t0, {});
    CHECK(decide_use(strict, t0 + 150s, parse_cache_control("max-stale"), &stale_ok) ==
          Use::revalidate);
}
