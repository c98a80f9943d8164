// Caching behaviour of a real edge in front of a real origin_sim, proven with origin_sim's
// request counters.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Fixture {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge{dir, origin.url()};
    HttpClient client{edge.port()};
};

}  // namespace

TEST_CASE_METHOD(Fixture, "miss then hit, the origin sees one request", "[edge][cache]") {
    auto first = client.get("/static/logo.png");
    REQUIRE(first.result_int() == 200);
    CHECK(header(first, "X-Cache") == "MISS");
    CHECK_THAT(header(first, "Cache-Status"), StartsWith("test-edge; fwd=uri-miss"));
    CHECK_THAT(header(first, "Cache-Status"), Contains("stored"));
    CHECK(first.body() == cdn::origin_sim::make_body("/static/logo.png", 1, 1024));

    for (int i = 0; i < 5; ++i) {
        auto hit = client.get("/static/logo.png");
        REQUIRE(hit.result_int() == 200);
        CHECK(header(hit, "X-Cache") == "HIT");
        CHECK_THAT(header(hit, "Cache-Status"), StartsWith("test-edge; hit; ttl="));
        CHECK(!header(hit, "Age").empty());
        CHECK(hit.body() == first.body());
        CHECK(header(hit, "ETag") == header(first, "ETag"));
    }
    CHECK(origin.count("/static/logo.png") == 1);
    CHECK(edge.metric("cdn_edge_requests_total{outcome=\"hit\"}") == 5);
    CHECK(edge.metric("cdn_edge_requests_total{outcome=\"miss\"}") == 1);
    CHECK(edge.metric("cdn_edge_cache_objects{tier=\"memory\"}") == 1);
}

TEST_CASE_METHOD(Fixture, "a real curl sees MISS then HIT", "[edge][cache][curl]") {
    const std::string url = "http://127.0.0.1:" + std::to_string(edge.port()) + "/curl.txt";
    auto a = run_command({"curl", "-s", "-i", "--max-time", "10", url});
    auto b = run_command({"curl", "-s", "-i", "--max-time", "10", url});
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    CHECK_THAT(a.out, Contains("X-Cache: MISS"));
    CHECK_THAT(b.out, Contains("X-Cache: HIT"));
    CHECK(origin.count("/curl.txt") == 1);
}

TEST_CASE_METHOD(Fixture, "HEAD is answered from the cached GET", "[edge][cache]") {
    client.get("/page.html");
    auto head = client.request("HEAD", "/page.html");
    CHECK(head.result_int() == 200);
    CHECK(header(head, "X-Cache") == "HIT");
    CHECK(header(head, "Content-Length") == "1024");
    CHECK(head.body().empty());
    CHECK(origin.count("/page.html") == 1);
    // And a HEAD miss fills the cache for the next GET.
    auto head_miss = client.request("HEAD", "/other.html");
    CHECK(header(head_miss, "X-Cache") == "MISS");
    auto get = client.get("/other.html");
    CHECK(header(get, "X-Cache") == "HIT");
    CHECK(get.body().size() == 1024);
    CHECK(origin.count("/other.html") == 1);
}

TEST_CASE_METHOD(Fixture, "a new version in the URL is a new object", "[edge][cache]") {
    auto v1 = client.get("/app.js?v=1");
    auto v2 = client.get("/app.js?v=2");
    CHECK(header(v1, "X-Cache") == "MISS");
    CHECK(header(v2, "X-Cache") == "MISS");
    CHECK(v1.body() == cdn::origin_sim::make_body("/app.js?v=1", 1, 1024));
    CHECK(v2.body() == cdn::origin_sim::make_body("/app.js?v=2", 1, 1024));
    CHECK(v1.body() != v2.body());
    CHECK(header(client.get("/app.js?v=1"), "X-Cache") == "HIT");
    CHECK(header(client.get("/app.js?v=2"), "X-Cache") == "HIT");
    auto p1 = client.get("/v1/app.js");
    auto p2 = client.get("/v2/app.js");
    CHECK(header(p1, "X-Cache") == "MISS");
    CHECK(header(p2, "X-Cache") == "MISS");
    CHECK(p1.body() != p2.body());
    CHECK(origin.count("/app.js?v=1") == 1);
    CHECK(origin.count("/app.js?v=2") == 1);
}

TEST_CASE_METHOD(Fixture, "expiry leads to a refetch", "[edge][cache][slow]") {
    // No validators, so the stale copy cannot be revalidated: it is fetched again in full.
    const std::string t = "/short?cc=max-age%3D2&etag=0&lm=none";
    CHECK(header(client.get(t), "X-Cache") == "MISS");
    CHECK(header(client.get(t), "X-Cache") == "HIT");
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    auto again = client.get(t);
    CHECK(header(again, "X-Cache") == "EXPIRED");
    CHECK(origin.count(t) == 2);
    CHECK(header(client.get(t), "X-Cache") == "HIT");
    CHECK(origin.count(t) == 2);
}

TEST_CASE_METHOD(Fixture, "a stale entry with a validator is revalidated with a 304",
                 "[edge][cache][slow]") {
    const std::string t = "/validated?cc=max-age%3D2";
    auto first = client.get(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    auto again = client.get(t);
    CHECK(header(again, "X-Cache") == "REVALIDATED");
    CHECK(again.body() == first.body());
    CHECK(origin.count(t) == 2);
    CHECK(origin.not_modified(t) == 1);
    CHECK(header(client.get(t), "X-Cache") == "HIT");
}

TEST_CASE_METHOD(Fixture, "no-store is never stored", "[edge][cache]") {
    const std::string t = "/secret?cc=no-store";
    for (int i = 0; i < 3; ++i) {
        auto r = client.get(t);
        CHECK(header(r, "X-Cache") == "MISS");
        CHECK_THAT(header(r, "Cache-Status"), Contains("detail=\"no-store\""));
    }
    CHECK(origin.count(t) == 3);
    // A request carrying no-store is not stored (it may use what is: see
    // edge_cache_control_test.cpp).
    auto r = client.get("/fine", {{"Cache-Control", "no-store"}});
    CHECK(header(r, "X-Cache") == "PASS");
    CHECK(header(client.get("/fine"), "X-Cache") == "MISS");
}

TEST_CASE_METHOD(Fixture, "private is never shared", "[edge][cache]") {
    const std::string t = "/account?cc=private%2C%20max-age%3D600";
    CHECK(header(client.get(t), "X-Cache") == "MISS");
    CHECK(header(client.get(t), "X-Cache") == "MISS");
    CHECK(origin.count(t) == 2);
}

TEST_CASE_METHOD(Fixture, "Set-Cookie responses are shared only when public, without the cookie",
                 "[edge][cache]") {
    // Not public: never stored, every user gets their own response and cookie.
    const std::string t = "/login?cookie=session%3Dabc&cc=max-age%3D600";
    auto a = client.get(t);
    auto b = client.get(t);
    CHECK(header(b, "X-Cache") == "MISS");
    CHECK(header(b, "Set-Cookie") == "session=abc");
    CHECK(origin.count(t) == 2);

    // Public: stored, but the cookie went only to the client whose request fetched it.
    const std::string p = "/banner?cookie=tracker%3D1&cc=public%2C%20max-age%3D600";
    auto miss = client.get(p);
    CHECK(header(miss, "X-Cache") == "MISS");
    CHECK(header(miss, "Set-Cookie") == "tracker=1");
    auto hit = client.get(p);
    CHECK(header(hit, "X-Cache") == "HIT");
    CHECK(hit.count("Set-Cookie") == 0);
    CHECK(origin.count(p) == 1);
}

TEST_CASE_METHOD(Fixture, "Authorization requests are shared only if the origin allows it",
                 "[edge][cache]") {
    const Headers auth = {{"Authorization", "Bearer alice"}};
    const std::string t = "/me?cc=max-age%3D600";
    CHECK(header(client.get(t, auth), "X-Cache") == "MISS");
    CHECK(header(client.get(t, auth), "X-Cache") == "MISS");
    CHECK(origin.count(t) == 2);
    const std::string pub = "/shared?cc=public%2C%20max-age%3D600";
    CHECK(header(client.get(pub, auth), "X-Cache") == "MISS");
    CHECK(header(client.get(pub), "X-Cache") == "HIT");
    CHECK(origin.count(pub) == 1);
}

TEST_CASE_METHOD(Fixture, "heuristic freshness from Last-Modified, nothing to go on: not stored",
                 "[edge][cache]") {
    // No Cache-Control, no Expires; modified 1000 s ago: fresh for ~100 s.
    const std::string h = "/heuristic?cc=&lm=1000";
    client.get(h);
    auto hit = client.get(h);
    CHECK(header(hit, "X-Cache") == "HIT");
    CHECK(origin.count(h) == 1);
    // No freshness information and no validator: stored would be useless.
    const std::string n = "/bare?cc=&lm=none&etag=0";
    client.get(n);
    auto again = client.get(n);
    CHECK(header(again, "X-Cache") == "MISS");
    CHECK_THAT(header(again, "Cache-Status"), Contains("no-lifetime"));
    CHECK(origin.count(n) == 2);
}

TEST_CASE_METHOD(Fixture, "Expires is honoured, an invalid Expires is already stale",
                 "[edge][cache]") {
    const std::string e = "/expires?cc=&expires=600";
    client.get(e);
    CHECK(header(client.get(e), "X-Cache") == "HIT");
    const std::string bad = "/expired?cc=&expires=bad";
    client.get(bad);
    // Stored for its validators, but stale at once: every use is revalidated.
    CHECK(header(client.get(bad), "X-Cache") == "REVALIDATED");
}

TEST_CASE_METHOD(Fixture, "the Age from upstream counts against the lifetime", "[edge][cache]") {
    const std::string t = "/aged?cc=max-age%3D100&age=40";
    client.get(t);
    auto hit = client.get(t);
    CHECK(std::stoi(header(hit, "Age")) >= 40);
    const auto status = header(hit, "Cache-Status");
    const auto ttl = std::stoi(status.substr(status.find("ttl=") + 4));
    CHECK(ttl <= 60);
    CHECK(ttl > 50);
    // Already older than its lifetime: never served from cache.
    const std::string old = "/old?cc=max-age%3D10&age=20&etag=0&lm=none";
    client.get(old);
    CHECK(header(client.get(old), "X-Cache") == "EXPIRED");
}

TEST_CASE("query normalisation: sorted, utm_* dropped", "[edge][cache]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[cache]\nsort_query = true\ndrop_query_params = [\"utm_*\"]\n");
    HttpClient client(edge.port());
    CHECK(std::string(client.get("/p?b=2&a=1&utm_source=mail")["X-Cache"]) == "MISS");
    CHECK(std::string(client.get("/p?a=1&b=2")["X-Cache"]) == "HIT");
    CHECK(std::string(client.get("/p?utm_campaign=x&a=1&b=2")["X-Cache"]) == "HIT");
}

TEST_CASE("a full cache evicts and stays within its budget", "[edge][cache]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[cache]\nmemory = \"1MiB\"\nshards = 1\n");
    HttpClient client(edge.port());
    for (int i = 0; i < 40; ++i)
        client.get("/big/" + std::to_string(i) + "?size=65536");
    CHECK(edge.metric("cdn_edge_cache_bytes{tier=\"memory\"}") <= 1024 * 1024);
    CHECK(edge.metric("cdn_edge_cache_evictions_total{tier=\"memory\"}") > 0);
    // The most recent object is still there; the first is gone.
    CHECK(std::string(client.get("/big/39?size=65536")["X-Cache"]) == "HIT");
    CHECK(std::string(client.get("/big/0?size=65536")["X-Cache"]) == "MISS");
}

TEST_CASE("hosts map to their own origins", "[edge][cache]") {
    TempDir dir;
    OriginSim a(dir), b(dir);
    Edge edge(dir, "",
              "[[origin]]\nhosts = [\"a.example\"]\nurl = \"" + a.url() +
                  "\"\n[[origin]]\nhosts = [\"b.example\"]\nurl = \"" + b.url() + "\"\n");
    HttpClient client(edge.port());
    client.get("/x", {{"Host", "a.example"}});
    client.get("/x", {{"Host", "b.example"}});
    CHECK(std::string(client.get("/x", {{"Host", "A.Example:80"}})["X-Cache"]) == "HIT");
    CHECK(a.count("/x") == 1);
    CHECK(b.count("/x") == 1);
    CHECK(client.get("/x", {{"Host", "c.example"}}).result_int() == 421);
}

TEST_CASE_METHOD(Fixture, "far-future and far-past dates are handled, not overflowed",
                 "[edge][cache][bad-input]") {
    // A year-9999 Expires once overflowed the time arithmetic (UBSan abort).
    const std::string t = "/far?cc=&header=" + url_encode("Expires:Fri, 31 Dec 9999 23:59:59 GMT");
    CHECK(header(client.get(t), "X-Cache") == "MISS");
    CHECK(header(client.get(t), "X-Cache") == "HIT");
    const std::string old =
        "/ancient?cc=&lm=none&header=" + url_encode("Last-Modified:Mon, 01 Jan 0001 00:00:00 GMT");
    CHECK(client.get(old).result_int() == 200);
    CHECK(client.get(old).result_int() == 200);
    CHECK(origin.count(t) == 1);
}

TEST_CASE_METHOD(Fixture, "clients' conditional requests are answered from the cache",
                 "[edge][cache][conditional]") {
    auto first = client.get("/cond.css");
    const std::string etag = header(first, "ETag");
    const std::string lm = header(first, "Last-Modified");
    REQUIRE(!etag.empty());
    auto inm = client.get("/cond.css", {{"If-None-Match", etag}});
    CHECK(inm.result_int() == 304);
    CHECK(header(inm, "X-Cache") == "HIT");
    CHECK(header(inm, "ETag") == etag);
    CHECK(header(inm, "Cache-Control") == header(first, "Cache-Control"));
    CHECK(inm.body().empty());
    auto ims = client.get("/cond.css", {{"If-Modified-Since", lm}});
    CHECK(ims.result_int() == 304);
    auto other = client.get("/cond.css", {{"If-None-Match", "\"someone-else\""}});
    CHECK(other.result_int() == 200);
    CHECK(other.body() == first.body());
    auto head = client.request("HEAD", "/cond.css", {{"If-None-Match", "W/" + etag}});
    CHECK(head.result_int() == 304);
    CHECK(origin.count("/cond.css") == 1);

    // On a miss the origin is asked for the full object (to store it); the edge answers 304.
    const std::string tag = cdn::origin_sim::make_etag("/cond2.css", 1, 1024);
    auto miss = client.get("/cond2.css", {{"If-None-Match", tag}});
    CHECK(miss.result_int() == 304);
    CHECK(header(miss, "X-Cache") == "MISS");
    CHECK(origin.not_modified("/cond2.css") == 0);
    CHECK(client.get("/cond2.css").body().size() == 1024);
}

TEST_CASE_METHOD(Fixture, "a missing object is cached briefly (negative caching)",
                 "[edge][cache]") {
    const std::string t = "/missing.png?status=404&cc=&lm=none&etag=0";
    auto first = client.get(t);
    CHECK(first.result_int() == 404);
    CHECK(header(first, "X-Cache") == "MISS");
    for (int i = 0; i < 5; ++i)
        CHECK(header(client.get(t), "X-Cache") == "HIT");
    CHECK(origin.count(t) == 1);
    // A 503 says nothing about the object: never cached without explicit freshness.
    const std::string u = "/busy?status=503&cc=&lm=none&etag=0";
    client.get(u);
    CHECK(client.get(u).result_int() == 503);
    CHECK(origin.count(u) == 2);
}

TEST_CASE_METHOD(Fixture, "unsafe methods invalidate the target, Location and Content-Location",
                 "[edge][cache]") {
    client.get("/cart");
    client.get("/cart/summary");
    client.get("/cart/items");
    CHECK(header(client.get("/cart"), "X-Cache") == "HIT");
    // A failed POST changes nothing.
    auto failed = client.request("POST", "/cart?status=500", {}, "x");
    CHECK(header(client.get("/cart"), "X-Cache") == "HIT");
    auto post = client.request("POST",
                               "/cart?header=" + url_encode("Location:/cart/summary") + "&header=" +
                                   url_encode("Content-Location:http://localhost/cart/items"),
                               {}, "item=1");
    CHECK(post.result_int() == 200);
    // The target URI of the POST is "/cart?header=...": the plain "/cart" is a different URI,
    // but Location and Content-Location name the others.
    CHECK(header(client.get("/cart/summary"), "X-Cache") == "MISS");
    CHECK(header(client.get("/cart/items"), "X-Cache") == "MISS");
    client.request("DELETE", "/cart");
    CHECK(header(client.get("/cart"), "X-Cache") == "MISS");
    (void)failed;
}

TEST_CASE_METHOD(Fixture, "byte ranges are served from the cached full object",
                 "[edge][cache][range]") {
    const std::string t = "/video.mp4?size=100000";
    const std::string full = cdn::origin_sim::make_body("/video.mp4", 1, 100000);
    // A range request on a miss fetches the whole object once and answers the range from it.
    auto first = client.get(t, {{"Range", "bytes=1000-1999"}});
    CHECK(first.result_int() == 206);
    CHECK(header(first, "X-Cache") == "MISS");
    CHECK(header(first, "Content-Range") == "bytes 1000-1999/100000");
    CHECK(first.body() == full.substr(1000, 1000));
    // Seeks are hits.
    auto suffix = client.get(t, {{"Range", "bytes=-500"}});
    CHECK(suffix.result_int() == 206);
    CHECK(header(suffix, "X-Cache") == "HIT");
    CHECK(suffix.body() == full.substr(99500));
    auto open = client.get(t, {{"Range", "bytes=99990-"}});
    CHECK(open.body() == full.substr(99990));
    auto multi = client.get(t, {{"Range", "bytes=0-9, 50-59"}});
    CHECK(multi.result_int() == 206);
    CHECK_THAT(header(multi, "Content-Type"), StartsWith("multipart/byteranges; boundary="));
    CHECK_THAT(multi.body(), Contains(full.substr(0, 10)));
    CHECK_THAT(multi.body(), Contains(full.substr(50, 10)));
    CHECK(origin.count(t) == 1);
    // Unsatisfiable: 416 with the size; malformed or absurd: the whole object.
    auto past = client.get(t, {{"Range", "bytes=200000-"}});
    CHECK(past.result_int() == 416);
    CHECK(header(past, "Content-Range") == "bytes */100000");
    CHECK(client.get(t, {{"Range", "bytes=oops"}}).result_int() == 200);
    std::string thousands = "bytes=";
    for (int i = 0; i < 500; ++i)
        thousands += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 5) + ",";
    thousands.pop_back();
    auto many = client.get(t, {{"Range", thousands}});
    CHECK(many.result_int() == 200);
    CHECK(many.body().size() == 100000);
    CHECK(header(client.get(t), "Accept-Ranges") == "bytes");
}

TEST_CASE_METHOD(Fixture, "If-Range: the range applies only to the same representation",
                 "[edge][cache][range]") {
    const std::string t = "/doc.pdf?size=5000";
    const auto first = client.get(t);
    const std::string etag = header(first, "ETag");
    auto same = client.get(t, {{"Range", "bytes=0-99"}, {"If-Range", etag}});
    CHECK(same.result_int() == 206);
    CHECK(same.body().size() == 100);
    auto changed = client.get(t, {{"Range", "bytes=0-99"}, {"If-Range", "\"other\""}});
    CHECK(changed.result_int() == 200);
    CHECK(changed.body().size() == 5000);
    // HEAD ignores Range.
    auto head = client.request("HEAD", t, {{"Range", "bytes=0-99"}});
    CHECK(head.result_int() == 200);
}

TEST_CASE_METHOD(Fixture, "Vary: one URL, one variant per normalised request value",
                 "[edge][cache][vary]") {
    const std::string t = "/styles.css?vary=Accept-Encoding";
    CHECK(header(client.get(t, {{"Accept-Encoding", "gzip, br"}}), "X-Cache") == "MISS");
    // The same codings, written differently: the same variant.
    auto same = client.get(t, {{"Accept-Encoding", "br;q=1.0, gzip"}});
    CHECK(header(same, "X-Cache") == "HIT");
    CHECK(header(same, "Vary") == "Accept-Encoding");
    CHECK(header(client.get(t, {{"Accept-Encoding", "identity"}}), "X-Cache") == "MISS");
    CHECK(header(client.get(t), "X-Cache") == "HIT");  // no coding at all = identity
    CHECK(header(client.get(t, {{"Accept-Encoding", "gzip"}}), "X-Cache") == "MISS");
    CHECK(origin.count(t) == 3);
    for (const char* ae : {"gzip, br", "identity", "gzip"})
        CHECK(header(client.get(t, {{"Accept-Encoding", ae}}), "X-Cache") == "HIT");
    CHECK(origin.count(t) == 3);

    // Any request field can select a variant.
    const std::string lang = "/page?vary=Accept-Language";
    client.get(lang, {{"Accept-Language", "en"}});
    client.get(lang, {{"Accept-Language", "fr"}});
    CHECK(header(client.get(lang, {{"Accept-Language", "en"}}), "X-Cache") == "HIT");
    CHECK(header(client.get(lang, {{"Accept-Language", "fr"}}), "X-Cache") == "HIT");
    CHECK(origin.count(lang) == 2);

    // Dropping the URL drops every variant.
    client.request("DELETE", t);
    CHECK(header(client.get(t, {{"Accept-Encoding", "gzip, br"}}), "X-Cache") == "MISS");
    CHECK(header(client.get(t, {{"Accept-Encoding", "identity"}}), "X-Cache") == "MISS");
}

TEST_CASE_METHOD(Fixture, "Vary: * is never served from cache", "[edge][cache][vary]") {
    const std::string t = "/anything?vary=*";
    client.get(t);
    auto again = client.get(t);
    CHECK(header(again, "X-Cache") == "MISS");
    CHECK_THAT(header(again, "Cache-Status"), Contains("detail=\"vary\""));
    CHECK(origin.count(t) == 2);
}

TEST_CASE("collapsed waiters with another variant fetch their own", "[edge][cache][vary]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const std::string t = "/v.js?vary=Accept-Language&delay=300";
    std::vector<std::thread> threads;
    std::vector<std::string> vary(6);
    std::vector<unsigned> status(6);
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&, i] {
            auto r = http_get(edge.port(), t, {{"Accept-Language", i % 2 ? "fr" : "en"}});
            status[static_cast<std::size_t>(i)] = r.result_int();
        });
    }
    for (auto& th : threads)
        th.join();
    for (unsigned s : status)
        CHECK(s == 200);
    HttpClient c(edge.port());
    CHECK(std::string(c.get(t, {{"Accept-Language", "en"}})["X-Cache"]) == "HIT");
    CHECK(std::string(c.get(t, {{"Accept-Language", "fr"}})["X-Cache"]) == "HIT");
    CHECK(origin.count(t) >= 2);
    CHECK(origin.count(t) <= 5);
}
