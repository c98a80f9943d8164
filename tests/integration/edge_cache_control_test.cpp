// Who sets the edge's caching policy (RFC 9213 CDN-Cache-Control and targeted names,
// Surrogate-Control, Cache-Control), strict field parsing, and the client's own Cache-Control,
// against a real edge and a real origin_sim. Bad input included: fields that contradict
// each other, invalid targeted fields, odd Age and Expires values, entity-tags with commas.
#include "common/http_date.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge{dir, origin.url()};
    HttpClient client{edge.port()};
};

// An [[origin]] section for the fixture's origin with extra settings.
std::string origin_toml(const OriginSim& origin, const std::string& extra) {
    return "[[origin]]\nurl = \"" + origin.url() + "\"\n" + extra + "\n";
}

}  // namespace

TEST_CASE_METHOD(Fixture, "CDN-Cache-Control beats a contradicting Cache-Control, both ways",
                 "[edge][cdn-cache-control]") {
    // The browser must not store it, the CDN may for 600 s (RFC 9213 section 3.1).
    const std::string a = "/cdn-a?cc=no-store&header=CDN-Cache-Control:max-age%3D600";
    auto first = client.get(a);
    CHECK(header(first, "X-Cache") == "MISS");
    CHECK_THAT(header(first, "Cache-Status"), Contains("stored; ttl=600"));
    auto hit = client.get(a);
    CHECK(header(hit, "X-Cache") == "HIT");
    // The client gets the origin's Cache-Control, not the CDN's field.
    CHECK(header(hit, "Cache-Control") == "no-store");
    CHECK(header(hit, "CDN-Cache-Control").empty());
    CHECK(header(first, "CDN-Cache-Control").empty());
    CHECK(origin.count(a) == 1);

    // The reverse: browsers may keep it an hour, the CDN must not store it.
    const std::string b = "/cdn-b?cc=public,max-age%3D3600&header=CDN-Cache-Control:no-store";
    for (int i = 0; i < 2; ++i) {
        auto r = client.get(b);
        CHECK(header(r, "X-Cache") == "MISS");
        CHECK_THAT(header(r, "Cache-Status"), Contains("detail=\"no-store\""));
        CHECK(header(r, "Cache-Control") == "public,max-age=3600");
    }
    CHECK(origin.count(b) == 2);

    // Expires is ignored too when CDN-Cache-Control is in charge.
    const std::string c = "/cdn-c?cc=&expires=-100&header=CDN-Cache-Control:max-age%3D60";
    client.get(c);
    CHECK(header(client.get(c), "X-Cache") == "HIT");
    CHECK(origin.count(c) == 1);
}

TEST_CASE_METHOD(Fixture, "an invalid CDN-Cache-Control is ignored as a whole",
                 "[edge][cdn-cache-control]") {
    // Upper-case keys, a trailing comma, a decimal max-age: not a valid field, Cache-Control
    // (no-store) decides.
    for (const char* value : {"Max-Age%3D600", "max-age%3D600,", "max-age%3D600,,no-cache"}) {
        const std::string t = std::string("/cdn-bad?cc=no-store&header=CDN-Cache-Control:") + value;
        client.get(t);
        CHECK(header(client.get(t), "X-Cache") == "MISS");
        CHECK(origin.count(t) == 2);
    }
    // A valid field whose max-age has the wrong type: the directive is ignored, the field still
    // rules (nothing in it forbids storing, and there is no lifetime: stored to revalidate).
    const std::string d =
        "/cdn-decimal?cc=max-age%3D600&lm=none&header=CDN-Cache-Control:max-age%3D1.5";
    client.get(d);
    auto again = client.get(d);
    CHECK(header(again, "X-Cache") == "REVALIDATED");
}

TEST_CASE_METHOD(Fixture, "caches downstream get the CDN's fields, end clients do not",
                 "[edge][cdn-cache-control]") {
    const std::string t = "/cdn-down?cc=max-age%3D5&header=CDN-Cache-Control:max-age%3D600";
    client.get(t);
    // A request that came through another CDN (it carries CDN-Loop) is from a cache that can
    // use the field (RFC 9213 section 3: CDN caches typically forward it).
    auto downstream = client.get(t, {{"CDN-Loop", "other-cdn"}});
    CHECK(header(downstream, "CDN-Cache-Control") == "max-age=600");
    CHECK(header(client.get(t), "CDN-Cache-Control").empty());
    // A HEAD and a 304 carry none either.
    auto head = client.request("HEAD", t);
    CHECK(header(head, "CDN-Cache-Control").empty());
    auto etag = header(head, "ETag");
    auto not_modified = client.get(t, {{"If-None-Match", etag}});
    CHECK(not_modified.result_int() == 304);
    CHECK(header(not_modified, "CDN-Cache-Control").empty());
    auto range = client.get(t, {{"Range", "bytes=0-9"}});
    CHECK(range.result_int() == 206);
    CHECK(header(range, "CDN-Cache-Control").empty());
}

TEST_CASE("targeted names come first, Surrogate-Control after them, and a switch forwards them",
          "[edge][cdn-cache-control]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(),
              "[cache]\ntargeted_fields = "
              "[\"Acme-CDN-Cache-Control\", \"CDN-Cache-Control\"]\n");
    HttpClient client(edge.port());
    // Acme's own field wins over CDN-Cache-Control, which wins over Cache-Control.
    const std::string t =
        "/acme?cc=no-store&header=CDN-Cache-Control:no-store&header=Acme-CDN-Cache-Control:max-"
        "age%3D300";
    client.get(t);
    auto hit = client.get(t);
    CHECK(header(hit, "X-Cache") == "HIT");
    CHECK_THAT(header(hit, "Cache-Status"), Contains("ttl=300"));
    CHECK(header(hit, "Acme-CDN-Cache-Control").empty());
    CHECK(header(hit, "CDN-Cache-Control").empty());
    CHECK(origin.count(t) == 1);

    // Surrogate-Control sets the lifetime when no targeted field is valid, and is never passed on.
    const std::string s = "/surrogate?cc=max-age%3D0&header=Surrogate-Control:max-age%3D120";
    client.get(s);
    auto shit = client.get(s);
    CHECK(header(shit, "X-Cache") == "HIT");
    CHECK(header(shit, "Surrogate-Control").empty());
    CHECK(header(shit, "Cache-Control") == "max-age=0");
    // Directives aimed at another device do not apply here; those aimed at this edge do.
    const std::string other =
        "/surrogate-other?cc=no-store&header=Surrogate-Control:max-age%3D120%3Bother-edge";
    client.get(other);
    CHECK(header(client.get(other), "X-Cache") == "MISS");
    const std::string mine =
        "/surrogate-mine?cc=no-store&header=Surrogate-Control:max-age%3D120%3Btest-edge";
    client.get(mine);
    CHECK(header(client.get(mine), "X-Cache") == "MISS");  // Cache-Control's no-store holds
    const std::string mine2 =
        "/surrogate-mine2?cc=max-age%3D0&header=Surrogate-Control:max-age%3D120%3Btest-edge";
    client.get(mine2);
    CHECK(header(client.get(mine2), "X-Cache") == "HIT");

    // forward_cdn_fields: every client gets them.
    TempDir dir2;
    Edge fwd(dir2, origin.url(), "[cache]\nforward_cdn_fields = true\n");
    HttpClient c2(fwd.port());
    const std::string f = "/fwd?header=CDN-Cache-Control:max-age%3D600";
    c2.get(f);
    CHECK(header(c2.get(f), "CDN-Cache-Control") == "max-age=600");
}

TEST_CASE("a bad targeted_fields setting names the file and line", "[edge][cdn-cache-control]") {
    TempDir dir;
    const std::string bad = dir.write("bad.toml", "[cache]\n\ntargeted_fields = [\"Bad Name\"]\n");
    Process no({EDGE_BIN, "--config", bad, "--check", "--origin", "http://127.0.0.1:9"},
               (dir.path() / "check.log").string());
    CHECK(no.wait_exit(std::chrono::seconds(10)) == 2);
    CHECK_THAT(no.log(), Contains("bad.toml:3: cache.targeted_fields"));
}

TEST_CASE_METHOD(Fixture, "only-if-cached: a stored response or 504, never the origin",
                 "[edge][client-cache-control]") {
    auto none = client.get("/oic", {{"Cache-Control", "only-if-cached"}});
    CHECK(none.result_int() == 504);
    CHECK_THAT(header(none, "Cache-Status"), Contains("only-if-cached"));
    CHECK(origin.count("/oic") == 0);
    client.get("/oic");
    auto stored = client.get("/oic", {{"Cache-Control", "only-if-cached"}});
    CHECK(stored.result_int() == 200);
    CHECK(header(stored, "X-Cache") == "HIT");
    // A stale one that would need the origin does not do either.
    const std::string s = "/oic-stale?cc=max-age%3D0";
    client.get(s);
    CHECK(client.get(s, {{"Cache-Control", "only-if-cached"}}).result_int() == 504);
    CHECK(origin.count(s) == 1);
}

TEST_CASE_METHOD(Fixture, "by default a client's no-cache and max-age do not reach the origin",
                 "[edge][client-cache-control]") {
    client.get("/protect");
    for (const char* cc : {"no-cache", "max-age=0", "min-fresh=100000"})
        CHECK(header(client.get("/protect", {{"Cache-Control", cc}}), "X-Cache") == "HIT");
    CHECK(origin.count("/protect") == 1);
    // no-store: a stored response may still be used (RFC 9111 section 5.2.1.5)...
    CHECK(header(client.get("/protect", {{"Cache-Control", "no-store"}}), "X-Cache") == "HIT");
    // ...and what is not stored is fetched without being kept.
    CHECK(header(client.get("/ns", {{"Cache-Control", "no-store"}}), "X-Cache") == "PASS");
    CHECK(header(client.get("/ns"), "X-Cache") == "MISS");
    CHECK(origin.count("/ns") == 2);
}

TEST_CASE("client_cache_control = true honours no-cache, max-age, min-fresh and max-stale",
          "[edge][client-cache-control]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", origin_toml(origin, "client_cache_control = true"));
    HttpClient client(edge.port());
    client.get("/honour");
    auto nc = client.get("/honour", {{"Cache-Control", "no-cache"}});
    CHECK(header(nc, "X-Cache") == "REVALIDATED");
    CHECK(origin.not_modified("/honour") == 1);
    // max-age: older than the client accepts (the origin says it is 100 s old already).
    const std::string old = "/honour-old?age=100&cc=max-age%3D1000";
    client.get(old);
    CHECK(header(client.get(old, {{"Cache-Control", "max-age=50"}}), "X-Cache") == "REVALIDATED");
    CHECK(header(client.get("/honour", {{"Cache-Control", "min-fresh=1000"}}), "X-Cache") ==
          "REVALIDATED");
    CHECK(header(client.get("/honour", {{"Cache-Control", "max-age=1000"}}), "X-Cache") == "HIT");
    // max-stale: a stale response is fine for this client, no origin trip.
    const std::string s = "/stale-ok?cc=max-age%3D0";
    client.get(s);
    auto st = client.get(s, {{"Cache-Control", "max-stale=3600"}});
    CHECK(header(st, "X-Cache") == "STALE");
    CHECK_THAT(header(st, "Cache-Status"), Contains("max-stale"));
    CHECK(origin.count(s) == 1);
    // ...unless the origin said must-revalidate.
    const std::string m = "/stale-strict?cc=max-age%3D0,must-revalidate";
    client.get(m);
    CHECK(header(client.get(m, {{"Cache-Control", "max-stale"}}), "X-Cache") != "STALE");
}

TEST_CASE_METHOD(Fixture, "odd Age and Expires values are read as RFC 9111 says",
                 "[edge][strict]") {
    // An Age that is not all digits is ignored: the response is fresh, not 2^31 s old.
    for (const char* age : {"abc", "-5", "5.5", "%2B5"}) {
        const std::string t = std::string("/age?cc=max-age%3D600&a=") + age + "&age=" + age;
        client.get(t);
        auto hit = client.get(t);
        CHECK(header(hit, "X-Cache") == "HIT");
        CHECK(std::stoi(header(hit, "Age")) < 60);
    }
    // An invalid Expires means already expired: stored (it has validators) but revalidated.
    const std::string e = "/expires-bad?cc=&expires=bad";
    client.get(e);
    CHECK(header(client.get(e), "X-Cache") == "REVALIDATED");
    // A response with an invalid Date is dated by the edge (RFC 9110 section 6.6.1).
    const std::string nd = "/bad-date?header=Date:yesterday";
    auto r = client.get(nd);
    CHECK(cdn::parse_http_date(header(r, "Date")).has_value());
    CHECK(header(client.get(nd), "X-Cache") == "HIT");
}

TEST_CASE_METHOD(Fixture, "entity-tags with commas and obs-text are compared whole",
                 "[edge][strict]") {
    const std::string t = "/etag-comma?header=ETag:%22v1,v2%22";
    auto first = client.get(t);
    REQUIRE(header(first, "ETag") == "\"v1,v2\"");
    // "v1" alone is another tag; the list holding "v1,v2" matches (weakly, W/ too).
    CHECK(client.get(t, {{"If-None-Match", "\"v1\""}}).result_int() == 200);
    CHECK(client.get(t, {{"If-None-Match", "\"x\", W/\"v1,v2\""}}).result_int() == 304);
    // If-Range needs a strong match: a weak one gets the whole body.
    CHECK(client.get(t, {{"Range", "bytes=0-3"}, {"If-Range", "W/\"v1,v2\""}}).result_int() == 200);
    CHECK(client.get(t, {{"Range", "bytes=0-3"}, {"If-Range", "\"v1,v2\""}}).result_int() == 206);
    // obs-text in a tag.
    const std::string u = "/etag-obs?header=ETag:%22caf%C3%A9%22";
    auto obs = client.get(u);
    const std::string tag = header(obs, "ETag");
    CHECK(tag == "\"caf\xc3\xa9\"");
    CHECK(client.get(u, {{"If-None-Match", tag}}).result_int() == 304);
    // A malformed If-None-Match is not evaluated: the full response.
    CHECK(client.get(u, {{"If-None-Match", "caf\xc3\xa9"}}).result_int() == 200);
}

TEST_CASE_METHOD(Fixture, "Vary with empty members stores, Vary with * among names never does",
                 "[edge][strict]") {
    const std::string a = "/vary-empty?vary=,%20Accept-Language,,";
    client.get(a, {{"Accept-Language", "en"}});
    CHECK(header(client.get(a, {{"Accept-Language", "en"}}), "X-Cache") == "HIT");
    CHECK(header(client.get(a, {{"Accept-Language", "fr"}}), "X-Cache") == "MISS");
    const std::string s = "/vary-star?vary=Accept-Language,%20*";
    client.get(s);
    auto again = client.get(s);
    CHECK(header(again, "X-Cache") == "MISS");
    CHECK_THAT(header(again, "Cache-Status"), Contains("detail=\"vary\""));
}
