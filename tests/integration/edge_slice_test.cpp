// Large objects in slices ([origin.slice]): a real edge in front of a real origin_sim, which
// generates multi-GiB bodies without storing them and counts the requests it answers. The
// bytes are checked against origin_sim/body.hpp at any offset.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

constexpr const char* kAdminToken = "edge-admin-token-0123456789";

// One origin group slicing at 1 MiB.
std::string slice_toml(const OriginSim& origin, const std::string& size = "1MiB") {
    return std::string("[admin]\npurge_token = \"") + kAdminToken + "\"\n" +
           "[[origin]]\nurl = \"" + origin.url() + "\"\n[origin.slice]\nsize = \"" + size + "\"\n";
}

// Bytes [offset, offset + n) of version `version` of identity's body.
std::string body_at(const std::string& identity, std::uint64_t version, std::uint64_t offset,
                    std::size_t n) {
    std::string out(n, '\0');
    cdn::origin_sim::fill_body(cdn::origin_sim::body_seed(identity, version), offset, out.data(),
                               n);
    return out;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Curl {
    int status = -1;
    std::string head;  // the response head curl wrote (-D)
    std::string body;
};

// A real curl, as a user would run it: extra arguments (e.g. {"-r", "0-99"}) then the URL.
Curl curl(const TempDir& dir, std::uint16_t port, const std::string& target,
          std::vector<std::string> extra = {}) {
    static int n = 0;
    const std::string tag = std::to_string(n++);
    const auto head = dir.path() / ("curl-" + tag + ".head");
    const auto body = dir.path() / ("curl-" + tag + ".body");
    std::vector<std::string> argv = {"curl", "-s",          "--max-time", "60",
                                     "-D",   head.string(), "-o",         body.string()};
    // Host: localhost, as HttpClient sends: both clients use the same cache keys.
    argv.insert(argv.end(), {"-H", "Host: localhost"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("http://127.0.0.1:" + std::to_string(port) + target);
    const auto r = run_command(argv, std::chrono::seconds(90));
    return {r.status, read_file(head), read_file(body)};
}

Response purge(Edge& edge, const std::string& body) {
    HttpClient c(edge.admin_port());
    return c.request("POST", "/purge",
                     {{"Content-Type", "application/json"},
                      {"Authorization", std::string("Bearer ") + kAdminToken}},
                     body);
}

void deploy(OriginSim& origin) {
    HttpClient c(origin.port());
    REQUIRE(c.request("POST", "/_version").result_int() == 200);
}

std::string range_field(std::uint64_t first, std::uint64_t last) {
    return "bytes=" + std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace

TEST_CASE("slices: a 1 MiB range at 2 GiB of a 4 GiB object fetches only its slices",
          "[edge][slice][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/video.mp4?size=4GiB";
    // Half a slice in: the range spans slices 2048 and 2049.
    const std::uint64_t first = 2 * GiB + MiB / 2;
    const std::uint64_t last = first + MiB - 1;
    auto a =
        curl(dir, edge.port(), target, {"-r", std::to_string(first) + "-" + std::to_string(last)});
    REQUIRE(a.status == 0);
    CHECK_THAT(a.head, StartsWith("HTTP/1.1 206"));
    CHECK_THAT(a.head, Contains("Content-Range: bytes " + std::to_string(first) + "-" +
                                std::to_string(last) + "/4294967296"));
    CHECK_THAT(a.head, Contains("Content-Length: 1048576"));
    CHECK_THAT(a.head, Contains("X-Cache: MISS"));
    CHECK(a.head.find("CDN-Slice-Manifest") == std::string::npos);
    REQUIRE(a.body.size() == MiB);
    CHECK(a.body == body_at("/video.mp4", 1, first, MiB));
    // The origin was asked for the two slices, 2 MiB in all, not 4 GiB.
    CHECK(origin.count(target) == 2);
    CHECK(edge.metric("cdn_edge_slice_fetches_total") == 2);
    CHECK(edge.metric("cdn_edge_origin_body_bytes_total") == 2 * MiB);

    // An overlapping range inside the second slice: served from the stored slices.
    const std::uint64_t first2 = 2 * GiB + MiB + 1000;
    auto b = curl(dir, edge.port(), target,
                  {"-r", std::to_string(first2) + "-" + std::to_string(first2 + 99999)});
    REQUIRE(b.status == 0);
    CHECK_THAT(b.head, StartsWith("HTTP/1.1 206"));
    CHECK_THAT(b.head, Contains("X-Cache: HIT"));
    CHECK(b.body == body_at("/video.mp4", 1, first2, 100000));
    CHECK(origin.count(target) == 2);
    CHECK(edge.metric("cdn_edge_slice_hits_total") >= 1);
    CHECK(edge.metric("cdn_edge_origin_body_bytes_total") == 2 * MiB);

    // A range in a slice not fetched yet: that slice only.
    const std::uint64_t first3 = 3 * GiB;
    HttpClient client(edge.port());
    auto c = client.get(target, {{"Range", range_field(first3, first3 + 9)}});
    REQUIRE(c.result_int() == 206);
    CHECK(c.body() == body_at("/video.mp4", 1, first3, 10));
    CHECK(origin.count(target) == 3);
    CHECK(edge.metric("cdn_edge_origin_body_bytes_total") == 3 * MiB);
    // A suffix range: the last slice.
    auto d = client.get(target, {{"Range", "bytes=-100"}});
    REQUIRE(d.result_int() == 206);
    CHECK(header(d, "Content-Range") == "bytes 4294967196-4294967295/4294967296");
    CHECK(d.body() == body_at("/video.mp4", 1, 4 * GiB - 100, 100));
    CHECK(origin.count(target) == 4);
    // Past the end: 416 with the total, from the manifest.
    auto e = client.get(target, {{"Range", range_field(4 * GiB, 4 * GiB + 5)}});
    CHECK(e.result_int() == 416);
    CHECK(header(e, "Content-Range") == "bytes */4294967296");
    CHECK(origin.count(target) == 4);
}

TEST_CASE("slices: a full GET of a 20 MiB object streams every slice, then hits",
          "[edge][slice][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/big.bin?size=20MiB";
    const std::string expected = cdn::origin_sim::make_body("/big.bin", 1, 20 * MiB);
    auto a = curl(dir, edge.port(), target);
    REQUIRE(a.status == 0);
    CHECK_THAT(a.head, StartsWith("HTTP/1.1 200"));
    CHECK_THAT(a.head, Contains("Content-Length: 20971520"));
    CHECK(a.head.find("Content-Range") == std::string::npos);
    CHECK(a.body == expected);
    CHECK(origin.count(target) == 20);
    CHECK(edge.metric("cdn_edge_origin_body_bytes_total") == 20 * MiB);
    // Manifest and 20 slices.
    CHECK(edge.metric("cdn_edge_cache_objects{tier=\"memory\"}") == 21);

    auto b = curl(dir, edge.port(), target);
    REQUIRE(b.status == 0);
    CHECK_THAT(b.head, Contains("X-Cache: HIT"));
    CHECK(b.body == expected);
    CHECK(origin.count(target) == 20);
    CHECK(edge.metric("cdn_edge_slice_hits_total") >= 20);
}

TEST_CASE("slices: an object under one slice is stored as a normal 200", "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/small.txt?size=10KiB";
    HttpClient client(edge.port());
    auto a = client.get(target);
    REQUIRE(a.result_int() == 200);
    CHECK(header(a, "Content-Range").empty());
    CHECK(header(a, "Content-Length") == "10240");
    CHECK(a.body() == cdn::origin_sim::make_body("/small.txt", 1, 10 * KiB));
    // The origin got a Range for slice 0 and answered the whole object with it.
    CHECK(edge.metric("cdn_edge_slice_fetches_total") == 1);
    REQUIRE(eventually([&] { return header(client.get(target), "X-Cache") == "HIT"; }));
    auto r = client.get(target, {{"Range", "bytes=100-199"}});
    REQUIRE(r.result_int() == 206);
    CHECK(header(r, "X-Cache") == "HIT");
    CHECK(header(r, "Content-Range") == "bytes 100-199/10240");
    CHECK(r.body() == body_at("/small.txt", 1, 100, 100));
    CHECK(origin.count(target) == 1);
    CHECK(edge.metric("cdn_edge_cache_objects{tier=\"memory\"}") == 1);
}

TEST_CASE("slices: HEAD of a sliced object is answered from its manifest", "[edge][slice][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/h.bin?size=5MiB";
    const std::string etag = cdn::origin_sim::make_etag("/h.bin", 1, 5 * MiB);
    HttpClient client(edge.port());
    auto a = client.request("HEAD", target);
    REQUIRE(a.result_int() == 200);
    CHECK(header(a, "Content-Length") == "5242880");
    CHECK(header(a, "ETag") == etag);
    CHECK(header(a, "Accept-Ranges") == "bytes");
    CHECK(header(a, "CDN-Slice-Manifest").empty());
    CHECK(a.body().empty());
    CHECK(origin.count(target) == 1);  // one slice, to learn the object
    auto b = curl(dir, edge.port(), target, {"-I"});
    REQUIRE(b.status == 0);
    CHECK_THAT(b.head, StartsWith("HTTP/1.1 200"));
    CHECK_THAT(b.head, Contains("Content-Length: 5242880"));
    CHECK_THAT(b.head, Contains("X-Cache: HIT"));
    CHECK(origin.count(target) == 1);
    // The client's validators are answered from the manifest too.
    auto c = client.get(target, {{"If-None-Match", etag}});
    CHECK(c.result_int() == 304);
    CHECK(origin.count(target) == 1);
    // If-Range with another ETag: the whole object, 200.
    auto d = client.get(target, {{"Range", "bytes=0-9"}, {"If-Range", "\"other\""}});
    REQUIRE(d.result_int() == 200);
    CHECK(d.body() == cdn::origin_sim::make_body("/h.bin", 1, 5 * MiB));
    CHECK(origin.count(target) == 5);
}

TEST_CASE("slices: a purge of the URL removes the manifest and every slice", "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/p/movie.bin?size=5MiB";
    HttpClient client(edge.port());
    auto objects = [&] { return edge.metric("cdn_edge_cache_objects{tier=\"memory\"}"); };
    REQUIRE(client.get(target).result_int() == 200);
    CHECK(origin.count(target) == 5);
    CHECK(objects() == 6);

    // A URL purge drops all six at once.
    REQUIRE(purge(edge, R"({"files":["http://localhost/p/movie.bin?size=5MiB"]})").result_int() ==
            200);
    CHECK(objects() == 0);
    auto a = client.get(target, {{"Range", "bytes=0-9"}});
    REQUIRE(a.result_int() == 206);
    CHECK(header(a, "X-Cache") == "MISS");
    CHECK(origin.count(target) == 6);

    // A prefix purge covers the slices too: each one is fetched again.
    REQUIRE(client.get(target).result_int() == 200);
    CHECK(origin.count(target) == 10);  // slices 1..4 were missing
    REQUIRE(purge(edge, R"({"prefixes":["localhost/p/"]})").result_int() == 200);
    auto b = client.get(target);
    REQUIRE(b.result_int() == 200);
    CHECK(b.body() == cdn::origin_sim::make_body("/p/movie.bin", 1, 5 * MiB));
    CHECK(origin.count(target) == 15);
    CHECK(objects() == 6);

    // A tag purge too (the slices carry the origin's Surrogate-Key).
    const std::string tagged = "/t.bin?size=3MiB&tags=film";
    REQUIRE(client.get(tagged).result_int() == 200);
    CHECK(origin.count(tagged) == 3);
    REQUIRE(purge(edge, R"({"tags":["film"]})").result_int() == 200);
    REQUIRE(client.get(tagged, {{"Range", "bytes=2097152-2097161"}}).result_int() == 206);
    CHECK(origin.count(tagged) == 4);  // the manifest's slice (slice 2) only
    REQUIRE(client.get(tagged).result_int() == 200);
    CHECK(origin.count(tagged) == 6);  // slices 0 and 1 were purged too
}

TEST_CASE("slices: the origin changes the object between two range requests", "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/v.bin?size=8MiB";
    HttpClient client(edge.port());
    auto a = client.get(target, {{"Range", "bytes=0-99"}});
    REQUIRE(a.result_int() == 206);
    CHECK(a.body() == body_at("/v.bin", 1, 0, 100));
    CHECK(header(a, "ETag") == cdn::origin_sim::make_etag("/v.bin", 1, 8 * MiB));
    deploy(origin);  // version 2 from now on
    // Another slice: the origin sends version 2's; nothing was sent to the client yet, so the
    // edge starts over with the new version.
    auto b = client.get(target, {{"Range", range_field(5 * MiB, 5 * MiB + 99)}});
    REQUIRE(b.result_int() == 206);
    CHECK(b.body() == body_at("/v.bin", 2, 5 * MiB, 100));
    CHECK(header(b, "ETag") == cdn::origin_sim::make_etag("/v.bin", 2, 8 * MiB));
    CHECK(edge.metric("cdn_edge_slice_version_changes_total") == 1);
    // Slice 0 of version 1 went with it: the whole body is version 2, consistently.
    auto c = client.get(target);
    REQUIRE(c.result_int() == 200);
    CHECK(c.body() == cdn::origin_sim::make_body("/v.bin", 2, 8 * MiB));
}

TEST_CASE("slices: the origin changes the object during one full GET", "[edge][slice][curl]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    // Each slice takes 200 ms at the origin: the deploy lands while the body is streaming.
    const std::string target = "/slow.bin?size=12MiB&delay=200";
    auto running = std::async(std::launch::async, [&] { return curl(dir, edge.port(), target); });
    REQUIRE(eventually([&] { return origin.count(target) >= 3; }));
    deploy(origin);
    const Curl a = running.get();
    // Cut short (curl: "transfer closed with bytes remaining"), never spliced.
    CHECK(a.status != 0);
    CHECK_THAT(a.head, StartsWith("HTTP/1.1 200"));
    CHECK(a.body.size() < 12 * MiB);
    CHECK(a.body == body_at("/slow.bin", 1, 0, a.body.size()));
    CHECK(edge.metric("cdn_edge_slice_version_changes_total") == 1);
    // The next request gets version 2, whole.
    auto b = curl(dir, edge.port(), target);
    REQUIRE(b.status == 0);
    CHECK(b.body == cdn::origin_sim::make_body("/slow.bin", 2, 12 * MiB));
}

TEST_CASE("slices: an origin that ignores Range still works", "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/nr.bin?size=3MiB&ranges=0";
    HttpClient client(edge.port());
    auto a = client.get(target, {{"Range", range_field(2 * MiB, 2 * MiB + 99)}});
    REQUIRE(a.result_int() == 206);
    CHECK(a.body() == body_at("/nr.bin", 1, 2 * MiB, 100));
    CHECK(origin.count(target) == 1);
    // Stored whole, as without slicing.
    auto b = client.get(target);
    REQUIRE(b.result_int() == 200);
    CHECK(header(b, "X-Cache") == "HIT");
    CHECK(b.body() == cdn::origin_sim::make_body("/nr.bin", 1, 3 * MiB));
    CHECK(origin.count(target) == 1);
}

TEST_CASE("slices: without a strong ETag, Last-Modified keeps the slices consistent",
          "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/weak.bin?size=3MiB&etag=weak";
    HttpClient client(edge.port());
    auto a = client.get(target);
    REQUIRE(a.result_int() == 200);
    CHECK(a.body() == cdn::origin_sim::make_body("/weak.bin", 1, 3 * MiB));
    CHECK(origin.count(target) == 3);
    // Neither validator: not sliced, fetched whole and stored whole, as without slicing.
    const std::string bare = "/bare.bin?size=3MiB&etag=0&lm=none";
    auto b = client.get(bare);
    REQUIRE(b.result_int() == 200);
    CHECK(b.body() == cdn::origin_sim::make_body("/bare.bin", 1, 3 * MiB));
    CHECK(origin.count(bare) == 2);  // the slice, then the whole object
    REQUIRE(eventually([&] { return header(client.get(bare), "X-Cache") == "HIT"; }));
    CHECK(origin.count(bare) == 2);
    CHECK(edge.metric("cdn_edge_cache_objects{tier=\"memory\"}") == 5);
}

TEST_CASE("slices: HTTP/2 reads the same slices, and a change midway resets the stream",
          "[edge][slice][curl][http2]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", "[server]\nh2c = true\n" + slice_toml(origin));
    const std::string target = "/h2.bin?size=6MiB&delay=200";
    const std::vector<std::string> h2 = {"--http2-prior-knowledge"};
    auto with = [&](std::vector<std::string> more) {
        more.insert(more.begin(), h2.begin(), h2.end());
        return more;
    };
    auto a = curl(dir, edge.port(), target, with({"-r", "1048000-1049999"}));
    REQUIRE(a.status == 0);
    CHECK_THAT(a.head, StartsWith("HTTP/2 206"));
    CHECK_THAT(a.head, Contains("content-range: bytes 1048000-1049999/6291456"));
    CHECK(a.body == body_at("/h2.bin", 1, 1048000, 2000));
    CHECK(origin.count(target) == 2);
    // A full GET while the origin deploys: the stream ends with RST_STREAM, never spliced.
    auto running =
        std::async(std::launch::async, [&] { return curl(dir, edge.port(), target, h2); });
    REQUIRE(eventually([&] { return origin.count(target) >= 3; }));
    deploy(origin);
    const Curl b = running.get();
    CHECK(b.status != 0);
    CHECK(b.body.size() < 6 * MiB);
    CHECK(b.body == body_at("/h2.bin", 1, 0, b.body.size()));
    CHECK(edge.metric("cdn_edge_http2_resets_sent_total{error=\"internal_error\"}") == 1);
    CHECK(edge.metric("cdn_edge_slice_version_changes_total") == 1);
    auto c = curl(dir, edge.port(), target, h2);
    REQUIRE(c.status == 0);
    CHECK_THAT(c.head, StartsWith("HTTP/2 200"));
    CHECK(c.body == cdn::origin_sim::make_body("/h2.bin", 2, 6 * MiB));
}

TEST_CASE("slices: concurrent misses of one slice are collapsed into one origin request",
          "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/c.bin?size=8MiB&delay=300";
    auto get = [&](std::uint64_t first) {
        return http_get(edge.port(), target, {{"Range", range_field(first, first + 99)}});
    };
    // Five clients miss the URL at once: one slice request; the others wait for its manifest.
    {
        std::vector<std::future<Response>> all;
        for (int i = 0; i < 5; ++i)
            all.push_back(std::async(std::launch::async, get, 100));
        for (auto& f : all) {
            const Response r = f.get();
            CHECK(r.result_int() == 206);
            CHECK(r.body() == body_at("/c.bin", 1, 100, 100));
        }
    }
    CHECK(origin.count(target) == 1);
    // Five clients want slice 6, not stored yet: one more slice request.
    {
        std::vector<std::future<Response>> all;
        for (int i = 0; i < 5; ++i)
            all.push_back(std::async(std::launch::async, get, 6 * MiB + 5));
        for (auto& f : all) {
            const Response r = f.get();
            CHECK(r.result_int() == 206);
            CHECK(r.body() == body_at("/c.bin", 1, 6 * MiB + 5, 100));
        }
    }
    CHECK(origin.count(target) == 2);
    CHECK(edge.metric("cdn_edge_slice_fetches_total") == 2);
}

TEST_CASE("slices: a soft purge makes the manifest stale: revalidated by the next slice fetch",
          "[edge][slice]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target = "/s.bin?size=4MiB";
    HttpClient client(edge.port());
    REQUIRE(client.get(target).result_int() == 200);
    CHECK(origin.count(target) == 4);
    REQUIRE(
        purge(edge, R"({"files":["http://localhost/s.bin?size=4MiB"],"soft":true})").result_int() ==
        200);
    // Stale: the slice the request needs is asked again; the same ETag keeps the other slices.
    auto a = client.get(target);
    REQUIRE(a.result_int() == 200);
    CHECK(a.body() == cdn::origin_sim::make_body("/s.bin", 1, 4 * MiB));
    CHECK(origin.count(target) == 5);
    auto b = client.get(target, {{"Range", "bytes=3145728-3145827"}});
    REQUIRE(b.result_int() == 206);
    CHECK(header(b, "X-Cache") == "HIT");
    CHECK(origin.count(target) == 5);
    // A soft prefix purge covers the slices too: each is fetched again when read.
    REQUIRE(purge(edge, R"({"prefixes":["localhost/s.bin"],"soft":true})").result_int() == 200);
    auto c = client.get(target);
    REQUIRE(c.result_int() == 200);
    CHECK(c.body() == cdn::origin_sim::make_body("/s.bin", 1, 4 * MiB));
    CHECK(origin.count(target) == 9);
}

TEST_CASE("slices: a sliced object that carries CDN-Cache-Control still has its body",
          "[edge][slice][cdn-cache-control]") {
    // The manifest's client view is copied without the CDN's fields: that copy must not be
    // mistaken for a 304 made from it.
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, "", slice_toml(origin));
    const std::string target =
        "/cdn-video.mp4?size=8MiB&cc=no-store&header=CDN-Cache-Control:max-age%3D600";
    for (const char* cache : {"MISS", "HIT"}) {
        auto r = curl(dir, edge.port(), target, {"-r", "3145728-3146751"});
        REQUIRE(r.status == 0);
        CHECK_THAT(r.head, StartsWith("HTTP/1.1 206"));
        CHECK_THAT(r.head, Contains(std::string("X-Cache: ") + cache));
        CHECK(r.head.find("CDN-Cache-Control") == std::string::npos);
        CHECK(r.body == body_at("/cdn-video.mp4", 1, 3145728, 1024));
    }
    auto full = curl(dir, edge.port(), target);
    REQUIRE(full.status == 0);
    CHECK(full.body.size() == 8 * MiB);
    CHECK(full.head.find("CDN-Cache-Control") == std::string::npos);
}
