#include "origin_sim/handler.hpp"

#include "common/http_date.hpp"
#include "origin_sim/body.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::origin_sim;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

class ManualClock final : public Clock {
  public:
    TimePoint now() const noexcept override { return t; }
    TimePoint t = TimePoint(std::chrono::seconds(1'800'000'000)) + 250ms;
};

struct Fixture {
    ManualClock clock;
    SimState state{clock.now()};
    RequestHandler handler;

    explicit Fixture(SimConfig config = {})
        : handler(std::make_shared<const SimConfig>(std::move(config)), state, clock, "t1") {}

    ResponsePlan run(const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     http::verb method = http::verb::get, const std::string& body = {}) {
        Request req(method, target, 11);
        for (const auto& [k, v] : headers)
            req.insert(k, v);
        req.body() = body;
        return handler.handle(req);
    }
};

std::string body_of(const ResponsePlan& plan) {
    std::string out(static_cast<std::size_t>(plan.body_length()), '\0');
    BodyReader reader(plan);
    std::size_t done = 0;
    // Odd read sizes on purpose, to cross segment boundaries mid-read.
    while (done < out.size()) {
        const std::size_t n =
            reader.read(out.data() + done, std::min<std::size_t>(7, out.size() - done));
        REQUIRE(n > 0);
        done += n;
    }
    char extra;
    CHECK(reader.read(&extra, 1) == 0);
    return out;
}

}  // namespace

TEST_CASE("a default object", "[origin_sim][handler]") {
    Fixture f;
    const ResponsePlan p = f.run("/app.js?v=1&size=100");
    CHECK(p.status == 200);
    CHECK(p.header("Cache-Control") == "public, max-age=60");
    CHECK(p.header("Content-Type") == "text/javascript");
    CHECK(p.header("ETag") == make_etag("/app.js?v=1", 1, 100));
    CHECK(p.header("Date") == format_http_date(f.clock.t));
    // Last-Modified: the start time (whole seconds) minus an hour.
    CHECK(p.header("Last-Modified") ==
          format_http_date(TimePoint(std::chrono::seconds(1'800'000'000 - 3600))));
    CHECK(p.header("X-Origin-Name") == "t1");
    CHECK(p.header("Accept-Ranges") == "bytes");
    CHECK(p.header("Expires").empty());
    CHECK(p.body_length() == 100);
    CHECK(body_of(p) == make_body("/app.js?v=1", 1, 100));
    const std::string head = p.head();
    CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(head.find("Content-Length: 100\r\n") != std::string::npos);
    CHECK(head.ends_with("\r\n\r\n"));
    CHECK_FALSE(p.close);
    CHECK(f.state.counts().total == 1);
    CHECK(f.state.counts_for("/app.js?v=1&size=100").first == 1);
}

TEST_CASE("header-shaping parameters", "[origin_sim][handler]") {
    Fixture f;
    const ResponsePlan p = f.run(
        "/a?expires=120&date_offset=-10&lm=100&tags=a,b,c&cookie=k%3Dv&age=5&vary=Accept"
        "&header=X-Extra:yes&header=Cache-Control:private&ctype=text/x-test");
    CHECK(p.header("Date") == format_http_date(f.clock.t - 10s));
    CHECK(p.header("Expires") == format_http_date(f.clock.t - 10s + 120s));
    CHECK(p.header("Last-Modified") ==
          format_http_date(TimePoint(std::chrono::seconds(1'800'000'000 - 100))));
    CHECK(p.header("Surrogate-Key") == "a b c");
    CHECK(p.header("Cache-Tag") == "a,b,c");
    CHECK(p.header("Set-Cookie") == "k=v");
    CHECK(p.header("Age") == "5");
    CHECK(p.header("Vary") == "Accept");
    CHECK(p.header("X-Extra") == "yes");
    CHECK(p.header("Cache-Control") == "private");  // an extra header replaces the generated one
    CHECK(p.header("Content-Type") == "text/x-test");
    const ResponsePlan q = f.run("/a?expires=bad&lm=none&etag=0&cc=");
    CHECK(q.header("Expires") == "0");
    CHECK(q.header("Last-Modified").empty());
    CHECK(q.header("ETag").empty());
    CHECK(q.header("Cache-Control").empty());
    CHECK(f.run("/a?etag=weak").header("ETag").starts_with("W/\""));
    const ResponsePlan c = f.run("/a?chunked=1&size=10");
    CHECK(c.head().find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(c.head().find("Content-Length") == std::string::npos);
    const ResponsePlan s = f.run("/missing?status=404&size=3");
    CHECK(s.status == 404);
    CHECK(s.head().starts_with("HTTP/1.1 404 Not Found\r\n"));
    CHECK(s.body_length() == 3);
    CHECK(f.run("/a?status=599").head().starts_with("HTTP/1.1 599 "));
    const ResponsePlan e = f.run("/a?fault=500");
    CHECK(e.status == 500);
    CHECK(e.header("Cache-Control") == "no-store");
    CHECK(f.run("/a?size=nope").status == 400);
    CHECK(f.run("/a?size=2PiB").status == 400);
    CHECK(f.run("/a?date_offset=99999999999").status == 400);
    CHECK(f.run("/a?lm=-99999999999").status == 400);
    CHECK(f.run("/a?delay=99999999999").status == 400);
    CHECK(f.run("/a?expires=99999999999").header("Expires") == "0");
    CHECK(f.run("/a?date_offset=-3000000000&expires=-3000000000").status == 200);
    CHECK(f.run("/a?delay=250&fault=slow&slow_ms=3").delay == 250ms);
}

TEST_CASE("conditional requests", "[origin_sim][handler]") {
    Fixture f;
    const ResponsePlan full = f.run("/c?expires=60&vary=Accept-Encoding");
    const std::string etag(full.header("ETag"));
    const std::string lm(full.header("Last-Modified"));

    const ResponsePlan inm = f.run("/c?expires=60&vary=Accept-Encoding", {{"If-None-Match", etag}});
    CHECK(inm.status == 304);
    CHECK(inm.no_length);
    CHECK_FALSE(inm.send_body);
    CHECK(inm.header("ETag") == etag);
    CHECK(inm.header("Last-Modified") == lm);
    CHECK(inm.header("Cache-Control") == "public, max-age=60");
    CHECK_FALSE(inm.header("Expires").empty());
    CHECK(inm.header("Vary") == "Accept-Encoding");
    CHECK_FALSE(inm.header("Date").empty());
    CHECK(inm.head().find("Content-Length") == std::string::npos);

    CHECK(f.run("/c", {{"If-None-Match", "\"nope\", " + etag}}).status == 304);
    CHECK(f.run("/c", {{"If-None-Match", "W/" + etag}}).status == 304);  // weak comparison
    CHECK(f.run("/c", {{"If-None-Match", "*"}}).status == 304);
    CHECK(f.run("/c", {{"If-None-Match", "\"nope\""}}).status == 200);
    // If-None-Match takes precedence over If-Modified-Since.
    CHECK(f.run("/c", {{"If-None-Match", "\"nope\""}, {"If-Modified-Since", lm}}).status == 200);

    CHECK(f.run("/c", {{"If-Modified-Since", lm}}).status == 304);
    CHECK(f.run("/c", {{"If-Modified-Since", format_http_date(f.clock.t)}}).status == 304);
    CHECK(f.run("/c", {{"If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}}).status == 200);
    CHECK(f.run("/c", {{"If-Modified-Since", "garbage"}}).status == 200);
    // Far-future dates are ignored instead of overflowing a nanosecond clock.
    CHECK(f.run("/c", {{"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"}}).status == 200);
    CHECK(f.run("/c", {{"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}}).status == 304);
    CHECK(f.run("/c?lm=none", {{"If-Modified-Since", lm}}).status == 200);
    CHECK(f.run("/c?status=404", {{"If-None-Match", "*"}}).status == 404);
    CHECK(f.run("/c", {{"If-None-Match", etag}}, http::verb::head).status == 304);

    const auto counts = f.state.counts();
    CHECK(counts.not_modified.at("/c") == 7);
    CHECK(counts.not_modified.at("/c?expires=60&vary=Accept-Encoding") == 1);
}

TEST_CASE("ranges", "[origin_sim][handler]") {
    Fixture f;
    const std::string whole = make_body("/r", 1, 1000);
    const ResponsePlan one = f.run("/r?size=1000", {{"Range", "bytes=100-199"}});
    CHECK(one.status == 206);
    CHECK(one.header("Content-Range") == "bytes 100-199/1000");
    CHECK(body_of(one) == whole.substr(100, 100));

    const ResponsePlan multi = f.run("/r?size=1000", {{"Range", "bytes=0-9,-10"}});
    CHECK(multi.status == 206);
    const std::string ct(multi.header("Content-Type"));
    REQUIRE(ct.starts_with("multipart/byteranges; boundary="));
    const std::string boundary = ct.substr(ct.find('=') + 1);
    const std::string expected =
        "--" + boundary +
        "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-9/1000\r\n\r\n" +
        whole.substr(0, 10) + "\r\n--" + boundary +
        "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 990-999/1000\r\n\r\n" +
        whole.substr(990) + "\r\n--" + boundary + "--\r\n";
    CHECK(body_of(multi) == expected);

    const ResponsePlan bad = f.run("/r?size=1000", {{"Range", "bytes=2000-"}});
    CHECK(bad.status == 416);
    CHECK(bad.header("Content-Range") == "bytes */1000");
    CHECK(bad.body_length() == 0);

    CHECK(f.run("/r?size=1000", {{"Range", "bytes=oops"}}).status == 200);
    CHECK(f.run("/r?size=1000", {{"Range", "bytes=0-1"}}, http::verb::head).status == 200);
    CHECK(f.run("/r?status=404", {{"Range", "bytes=0-1"}}).status == 404);

    // ranges=0: an origin without range support, the full 200 whatever the Range.
    const ResponsePlan ignored = f.run("/r?size=1000&ranges=0", {{"Range", "bytes=100-199"}});
    CHECK(ignored.status == 200);
    CHECK(ignored.header("Content-Range").empty());
    CHECK(ignored.header("Accept-Ranges") == "none");
    CHECK(ignored.body_length() == 1000);
    // Not part of the identity: the same body and ETag as the object with ranges.
    CHECK(ignored.header("ETag") == f.run("/r?size=1000").header("ETag"));
    CHECK(f.run("/r?ranges=maybe").status == 400);

    // If-Range: the current strong ETag or Last-Modified keeps the range; anything else -> 200.
    const ResponsePlan full = f.run("/r?size=1000");
    const std::string etag(full.header("ETag"));
    const std::string lm(full.header("Last-Modified"));
    CHECK(f.run("/r?size=1000", {{"Range", "bytes=0-1"}, {"If-Range", etag}}).status == 206);
    CHECK(f.run("/r?size=1000", {{"Range", "bytes=0-1"}, {"If-Range", lm}}).status == 206);
    CHECK(f.run("/r?size=1000", {{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}}).status == 200);
    CHECK(f.run("/r?size=1000", {{"Range", "bytes=0-1"}, {"If-Range", "W/" + etag}}).status == 200);
    CHECK(f.run("/r?size=1000",
                {{"Range", "bytes=0-1"}, {"If-Range", "Fri, 31 Dec 9999 23:59:59 GMT"}})
              .status == 200);
    CHECK(f.run("/r?size=1000",
                {{"Range", "bytes=0-1"}, {"If-Range", "Thu, 01 Jan 1970 00:00:00 GMT"}})
              .status == 200);
}

TEST_CASE("versions change body, ETag and Last-Modified", "[origin_sim][handler]") {
    Fixture f;
    const ResponsePlan v1 = f.run("/v?size=64");
    CHECK(v1.header("X-Object-Version") == "1");

    const ResponsePlan bump = f.run("/_version?path=%2Fv", {}, http::verb::post);
    CHECK(bump.status == 200);
    const auto j = boost::json::parse(body_of(bump)).as_object();
    CHECK(j.at("version").as_int64() == 2);
    CHECK(j.at("path").as_string() == "/v");

    const ResponsePlan v2 = f.run("/v?size=64");
    CHECK(v2.header("X-Object-Version") == "2");
    CHECK(v2.header("ETag") != v1.header("ETag"));
    CHECK(v2.header("Last-Modified") != v1.header("Last-Modified"));
    CHECK(body_of(v2) == make_body("/v", 2, 64));
    // The old validators no longer match.
    CHECK(f.run("/v?size=64", {{"If-None-Match", std::string(v1.header("ETag"))}}).status == 200);
    CHECK(f.run("/v?size=64", {{"If-Modified-Since", std::string(v1.header("Last-Modified"))}})
              .status == 200);
    // Other identities are untouched.
    CHECK(f.run("/other").header("X-Object-Version") == "1");

    CHECK(f.run("/_version?path=/v&v=7", {}, http::verb::post).status == 200);
    CHECK(f.run("/v").header("X-Object-Version") == "7");
    CHECK(f.run("/_version?path=/v&v=0", {}, http::verb::post).status == 400);
    CHECK(f.run("/_version?path=/v", {}, http::verb::get).status == 405);

    // A global deploy adds to every version.
    const ResponsePlan g = f.run("/_version", {}, http::verb::post);
    CHECK(boost::json::parse(body_of(g)).as_object().at("version").as_int64() == 1);
    CHECK(f.run("/v").header("X-Object-Version") == "8");
    CHECK(f.run("/other").header("X-Object-Version") == "2");
    CHECK(body_of(f.run("/other?size=10")) == make_body("/other", 2, 10));
}

TEST_CASE("admin endpoints and counters", "[origin_sim][handler]") {
    Fixture f;
    f.run("/a?x=1");
    f.run("/a?x=1");
    f.run("/b");
    f.run("/b", {{"If-None-Match", "*"}});
    f.run("/_healthz");
    const ResponsePlan stats = f.run("/_stats");
    CHECK(stats.header("Content-Type") == "application/json");
    const auto j = boost::json::parse(body_of(stats)).as_object();
    CHECK(j.at("total").as_int64() == 4);
    CHECK(j.at("targets").as_object().at("/a?x=1").as_int64() == 2);
    CHECK(j.at("targets").as_object().at("/b").as_int64() == 2);
    CHECK(j.at("not_modified").as_object().at("/b").as_int64() == 1);

    const auto one = boost::json::parse(body_of(f.run("/_stats?target=%2Fa%3Fx%3D1"))).as_object();
    CHECK(one.at("target").as_string() == "/a?x=1");
    CHECK(one.at("requests").as_int64() == 2);
    CHECK(one.at("not_modified").as_int64() == 0);

    CHECK(f.run("/_reset", {}, http::verb::post).status == 204);
    CHECK(f.state.counts().total == 0);
    CHECK(f.state.counts().targets.empty());
    CHECK(f.run("/_reset").status == 405);
    const ResponsePlan h = f.run("/_healthz");
    CHECK(h.status == 200);
    CHECK(body_of(h) == "ok");
    CHECK(f.state.counts().total == 0);
}

TEST_CASE("other methods echo the body and /_echo describes the request", "[origin_sim][handler]") {
    Fixture f;
    const ResponsePlan p =
        f.run("/form?status=201", {{"Content-Type", "text/plain"}}, http::verb::put, "hello");
    CHECK(p.status == 201);
    CHECK(p.header("X-Method") == "PUT");
    CHECK(p.header("Cache-Control") == "no-store");
    CHECK(p.header("Content-Type") == "text/plain");
    CHECK(body_of(p) == "hello");
    CHECK(f.run("/x", {}, http::verb::delete_).header("X-Method") == "DELETE");

    const ResponsePlan e = f.run("/_echo?q=1", {{"X-A", "1"}, {"X-A", "2"}, {"Accept", "*/*"}});
    CHECK(e.header("Cache-Control") == "no-store");
    const auto j = boost::json::parse(body_of(e)).as_object();
    CHECK(j.at("method").as_string() == "GET");
    CHECK(j.at("target").as_string() == "/_echo?q=1");
    const auto& h = j.at("headers").as_object();
    CHECK(h.at("accept").as_string() == "*/*");
    REQUIRE(h.at("x-a").is_array());
    CHECK(h.at("x-a").as_array().size() == 2);
    CHECK(f.state.counts_for("/_echo?q=1").first == 1);
}

TEST_CASE("connection handling flags", "[origin_sim][handler]") {
    Fixture f;
    Request r10(http::verb::get, "/a?chunked=1", 10);
    const ResponsePlan p10 = f.handler.handle(r10);
    CHECK(p10.close);  // HTTP/1.0 without keep-alive
    CHECK_FALSE(p10.chunked);
    Request r10k(http::verb::get, "/a", 10);
    r10k.set(http::field::connection, "keep-alive");
    const ResponsePlan p10k = f.handler.handle(r10k);
    CHECK_FALSE(p10k.close);
    CHECK(p10k.head().find("Connection: keep-alive\r\n") != std::string::npos);
    CHECK(f.run("/a", {{"Connection", "close"}}).head().find("Connection: close\r\n") !=
          std::string::npos);
    const ResponsePlan err = f.handler.error(431, "too large");
    CHECK(err.close);
    CHECK(err.head().starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(f.run("http://absolute/form").status == 400);
}
