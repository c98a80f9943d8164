// The edge's own gzip/brotli variants of stored text responses, against a real origin_sim, with
// raw requests (whose compressed bytes are decoded here) and a real curl --compressed.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/support/decompress.hpp"

#include <zlib.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;

namespace {

constexpr const char* kToken = "edge-admin-token-0123456789";
const std::string kAdminToml = std::string("[admin]\npurge_token = \"") + kToken + "\"\n";

struct Fixture {
    TempDir dir;
    OriginSim origin{dir};
    Edge edge{dir, origin.url(), kAdminToml};
    HttpClient client{edge.port()};

    double compressions(const char* coding) {
        return edge.metric(std::string("cdn_edge_compress_total{coding=\"") + coding + "\"}");
    }
};

// The decoders' own failure is a test failure: an empty string comes back.
std::string gunzip(const std::string& in) {
    auto out = cdn::test::gunzip(in);
    CHECK(out);
    return out.value_or("");
}

std::string unbrotli(const std::string& in) {
    auto out = cdn::test::unbrotli(in, 16 * 1024 * 1024);
    CHECK(out);
    return out.value_or("");
}

Headers ae(const char* v) {
    return {{"Accept-Encoding", v}};
}

}  // namespace

TEST_CASE_METHOD(Fixture,
                 "compression: the coding the q-values select, made once, decoding to "
                 "the origin's bytes",
                 "[edge][compress]") {
    const std::string t = "/c/app.js?size=20000";
    const std::string body = cdn::origin_sim::make_body("/c/app.js", 1, 20000);
    // No Accept-Encoding: identity, marked as varying for downstream caches.
    auto plain = client.get(t);
    REQUIRE(plain.result_int() == 200);
    CHECK(plain.body() == body);
    CHECK(header(plain, "Content-Encoding").empty());
    CHECK(header(plain, "Vary") == "Accept-Encoding");

    auto br = client.get(t, ae("gzip;q=0.5, br;q=1"));
    CHECK(header(br, "X-Cache") == "HIT");
    CHECK(header(br, "Content-Encoding") == "br");
    CHECK(header(br, "Vary") == "Accept-Encoding");
    CHECK(header(br, "Content-Length") == std::to_string(br.body().size()));
    CHECK(br.body().size() < body.size());
    CHECK(unbrotli(br.body()) == body);

    auto gz = client.get(t, ae("GZIP;q=1, br;q=0.5"));
    CHECK(header(gz, "Content-Encoding") == "gzip");
    CHECK(gunzip(gz.body()) == body);
    CHECK(header(client.get(t, ae("br;q=0, *")), "Content-Encoding") == "gzip");
    CHECK(header(client.get(t, ae("identity")), "Content-Encoding").empty());
    CHECK(header(client.get(t, ae("*;q=0")), "Content-Encoding").empty());
    CHECK(compressions("br") == 1);
    CHECK(compressions("gzip") == 1);
    CHECK(edge.metric("cdn_edge_compress_bytes_in_total{coding=\"br\"}") == 20000);
    CHECK(edge.metric("cdn_edge_compress_bytes_out_total{coding=\"br\"}") ==
          static_cast<double>(br.body().size()));

    // Later clients of each coding are plain hits: no compression, no origin request.
    for (const char* a : {"br", "gzip, deflate, br", "gzip", "x-gzip, identity;q=0.1"}) {
        auto again = client.get(t, ae(a));
        CHECK(header(again, "X-Cache") == "HIT");
        CHECK_FALSE(header(again, "Content-Encoding").empty());
    }
    CHECK(client.get(t, ae("br")).body() == br.body());
    CHECK(compressions("br") == 1);
    CHECK(compressions("gzip") == 1);
    CHECK(origin.count(t) == 1);
}

TEST_CASE_METHOD(Fixture, "compression: a streamed fill is compressed on the next request",
                 "[edge][compress]") {
    // Larger than what is taken with the head: the body streams into the cache while the first
    // client reads it as identity.
    const std::string t = "/c/big.json?size=300KiB";
    const std::string body = cdn::origin_sim::make_body("/c/big.json", 1, 300 * 1024);
    auto first = client.get(t, ae("br"));
    CHECK(header(first, "X-Cache") == "MISS");
    CHECK(header(first, "Content-Encoding").empty());
    CHECK(header(first, "Vary") == "Accept-Encoding");
    CHECK(first.body() == body);
    auto br = client.get(t, ae("br"));
    CHECK(header(br, "X-Cache") == "HIT");
    CHECK(header(br, "Content-Encoding") == "br");
    CHECK(unbrotli(br.body()) == body);
    CHECK(compressions("br") == 1);
    CHECK(origin.count(t) == 1);
}

TEST_CASE_METHOD(Fixture, "compression: a real curl --compressed gets the origin's body",
                 "[edge][compress][curl]") {
    const std::string url = "http://127.0.0.1:" + std::to_string(edge.port()) + "/c/page.html";
    const std::string body = cdn::origin_sim::make_body("/c/page.html", 1, 1024);
    for (int i = 0; i < 2; ++i) {  // identity from the miss, then the compressed variant
        auto r = run_command({"curl", "-s", "--max-time", "10", "--compressed", url});
        REQUIRE(r.status == 0);
        CHECK(r.out == body);
    }
    auto head = run_command(
        {"curl", "-s", "-D", "-", "-o", "/dev/null", "--max-time", "10", "--compressed", url});
    CHECK_THAT(head.out, Contains("Content-Encoding: br"));
    CHECK_THAT(head.out, Contains("X-Cache: HIT"));
    CHECK(origin.count("/c/page.html") == 1);
}

TEST_CASE_METHOD(Fixture, "compression: ETags per coding, If-None-Match, Range and HEAD",
                 "[edge][compress]") {
    const std::string t = "/c/site.css?size=5000";
    auto plain = client.get(t);
    const std::string etag = header(plain, "ETag");
    REQUIRE(etag.size() > 2);
    auto br = client.get(t, ae("br"));
    auto gz = client.get(t, ae("gzip"));
    const std::string br_etag = header(br, "ETag"), gz_etag = header(gz, "ETag");
    CHECK(br_etag == etag.substr(0, etag.size() - 1) + "-br\"");
    CHECK(gz_etag == etag.substr(0, etag.size() - 1) + "-gzip\"");

    auto not_modified = client.get(t, {{"Accept-Encoding", "br"}, {"If-None-Match", br_etag}});
    CHECK(not_modified.result_int() == 304);
    CHECK(header(not_modified, "ETag") == br_etag);
    CHECK(header(not_modified, "Vary") == "Accept-Encoding");
    // Another coding's ETag does not match this one's.
    CHECK(client.get(t, {{"Accept-Encoding", "br"}, {"If-None-Match", gz_etag}}).result_int() ==
          200);
    CHECK(client.get(t, {{"If-None-Match", etag}}).result_int() == 304);

    // Ranges are ranges of the compressed bytes (RFC 9110 section 14).
    auto part = client.get(t, {{"Accept-Encoding", "br"}, {"Range", "bytes=0-99"}});
    CHECK(part.result_int() == 206);
    CHECK(header(part, "Content-Encoding") == "br");
    CHECK(header(part, "Content-Range") == "bytes 0-99/" + std::to_string(br.body().size()));
    CHECK(part.body() == br.body().substr(0, 100));
    auto tail = client.get(t, {{"Accept-Encoding", "gzip"}, {"Range", "bytes=-10"}});
    CHECK(tail.body() == gz.body().substr(gz.body().size() - 10));

    auto head = client.request("HEAD", t, ae("br"));
    CHECK(head.result_int() == 200);
    CHECK(header(head, "Content-Encoding") == "br");
    CHECK(header(head, "Content-Length") == std::to_string(br.body().size()));
    CHECK(origin.count(t) == 1);
}

TEST_CASE_METHOD(Fixture, "compression: what is not compressed", "[edge][compress]") {
    // Already compressed by the origin: passed through untouched, its own Vary kept.
    const std::string gz = "/c/pre.js?header=Content-Encoding:gzip&vary=Accept-Encoding";
    const Headers both = ae("br, gzip");
    client.get(gz, both);
    auto r = client.get(gz, both);
    CHECK(header(r, "X-Cache") == "HIT");
    CHECK(header(r, "Content-Encoding") == "gzip");
    CHECK(header(r, "Vary") == "Accept-Encoding");
    CHECK(r.body() == cdn::origin_sim::make_body("/c/pre.js", 1, 1024));

    // no-transform, a type not listed, a body under min_size, an uncacheable response.
    for (const std::string t : {"/c/nt.html?cc=public,max-age=60,no-transform", "/c/i.png",
                                "/c/small.txt?size=100", "/c/private.json?cc=private"}) {
        client.get(t, both);
        auto again = client.get(t, both);
        CHECK(again.result_int() == 200);
        CHECK(header(again, "Content-Encoding").empty());
        CHECK(header(again, "Vary").empty());
    }
    CHECK(compressions("br") == 0);
    CHECK(compressions("gzip") == 0);
}

TEST_CASE_METHOD(Fixture, "compression: a purge of the URL removes every coding's variant",
                 "[edge][compress][purge]") {
    const std::string t = "/c/purge.js?size=3000";
    HttpClient admin(edge.admin_port());
    // Whichever coding asks first after the purge finds nothing stored.
    for (const char* first : {"br", "gzip", "identity"}) {
        client.get(t);
        client.get(t, ae("br"));
        client.get(t, ae("gzip"));
        REQUIRE(header(client.get(t, ae("br")), "Content-Encoding") == "br");
        REQUIRE(header(client.get(t, ae("gzip")), "X-Cache") == "HIT");
        auto p = admin.request("POST", "/purge",
                               {{"Content-Type", "application/json"},
                                {"Authorization", std::string("Bearer ") + kToken}},
                               R"({"files":["http://localhost)" + t + R"("]})");
        REQUIRE(p.result_int() == 200);
        CHECK(header(client.get(t, ae(first)), "X-Cache") == "MISS");
    }
    CHECK(origin.count(t) == 4);
    CHECK(origin.count(t) == 4);
}

TEST_CASE_METHOD(Fixture, "compression: revalidation uses the identity's validators",
                 "[edge][compress][revalidate]") {
    const std::string t = "/c/short.css?size=4000&cc=max-age=1";
    client.get(t);
    REQUIRE(header(client.get(t, ae("br")), "Content-Encoding") == "br");
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    // Expired: the edge asks with the identity ETag, the origin says 304.
    auto r = client.get(t, ae("br"));
    CHECK(header(r, "X-Cache") == "REVALIDATED");
    CHECK(origin.not_modified(t) == 1);
    // The compressed variant is made again from the refreshed identity.
    auto again = client.get(t, ae("br"));
    CHECK(header(again, "X-Cache") == "HIT");
    CHECK(header(again, "Content-Encoding") == "br");
    CHECK(unbrotli(again.body()) == cdn::origin_sim::make_body("/c/short.css", 1, 4000));
    // Still one identity for every client: the refresh kept the URL's keying (the Vary the edge
    // added to the stored head is not taken for the origin's).
    auto gz = client.get(t, ae("gzip"));
    CHECK(header(gz, "X-Cache") == "HIT");
    CHECK(header(gz, "Content-Encoding") == "gzip");
    CHECK(header(client.get(t), "X-Cache") == "HIT");
    CHECK(origin.count(t) == 2);  // the first fetch and the revalidation

    // A new body: the old compressed variants go with the old identity.
    HttpClient o(origin.port());
    REQUIRE(o.request("POST", "/_version?path=/c/short.css").result_int() == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    client.get(t, ae("br"));  // refetched: identity
    auto fresh = client.get(t, ae("br"));
    CHECK(header(fresh, "Content-Encoding") == "br");
    const std::string v2 = unbrotli(fresh.body());
    CHECK(v2 != cdn::origin_sim::make_body("/c/short.css", 1, 4000));
    CHECK(v2 == client.get(t).body());
}

TEST_CASE("compression: per-host [origin.compression] settings", "[edge][compress][config]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", R"([[origin]]
hosts = ["gzip-only.test"]
url = ")" + origin.url() + R"("
[origin.compression]
codings = ["gzip"]
types = ["text/plain"]

[[origin]]
hosts = ["off.test"]
url = ")" + origin.url() + R"("
[origin.compression]
enabled = false
)");
    HttpClient client(edge.port());
    const std::string t = "/c/a.txt?size=2000";
    const Headers both = {{"Host", "gzip-only.test"}, {"Accept-Encoding", "br, gzip"}};
    client.get(t, both);
    auto r = client.get(t, both);
    CHECK(header(r, "Content-Encoding") == "gzip");
    CHECK(gunzip(r.body()) == cdn::origin_sim::make_body("/c/a.txt", 1, 2000));
    // Not in this host's type list.
    const Headers css = {{"Host", "gzip-only.test"}, {"Accept-Encoding", "gzip"}};
    client.get("/c/b.css?size=2000", css);
    CHECK(header(client.get("/c/b.css?size=2000", css), "Content-Encoding").empty());
    const Headers off = {{"Host", "off.test"}, {"Accept-Encoding", "br, gzip"}};
    client.get(t, off);
    auto plain = client.get(t, off);
    CHECK(header(plain, "X-Cache") == "HIT");
    CHECK(header(plain, "Content-Encoding").empty());
    CHECK(header(plain, "Vary").empty());
}

TEST_CASE("compression: a request body with Content-Encoding reaches the origin byte for byte",
          "[edge][compress][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    // A real gzip body, made by the test's zlib.
    std::string raw(2000, 'a');
    for (std::size_t i = 0; i < raw.size(); ++i)
        raw[i] = static_cast<char>('a' + (i * 7) % 26);
    std::string gz(compressBound(static_cast<uLong>(raw.size())) + 32, '\0');
    z_stream z{};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(raw.data());
    z.avail_in = static_cast<uInt>(raw.size());
    z.next_out = reinterpret_cast<Bytef*>(gz.data());
    z.avail_out = static_cast<uInt>(gz.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    gz.resize(z.total_out);
    deflateEnd(&z);
    const std::string file = dir.write("body.gz", gz);
    for (const char* method : {"POST", "PUT"}) {
        auto r = run_command({"curl", "-s", "--max-time", "10", "-X", method, "--data-binary",
                              "@" + file, "-H", "Content-Encoding: gzip", "-H",
                              "Content-Type: text/plain", "-H", "Accept-Encoding: br, gzip",
                              "http://127.0.0.1:" + std::to_string(edge.port()) + "/_echo"});
        REQUIRE(r.status == 0);
        boost::json::parse_options opts;
        opts.allow_invalid_utf8 = true;
        const auto echo = boost::json::parse(r.out, {}, opts).as_object();
        CHECK(echo.at("method").as_string() == method);
        CHECK(std::string(echo.at("body").as_string()) == gz);
        const auto& h = echo.at("headers").as_object();
        CHECK(h.at("content-encoding").as_string() == "gzip");
        CHECK(h.at("content-length").as_string() == std::to_string(gz.size()));
    }
}
