#include "edge/proxy/access_log.hpp"

#include "edge/proxy/request_id.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <set>
#include <string>

using namespace cdn::edge;
using namespace cdn::edge::proxy;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

AccessRecord sample() {
    AccessRecord r;
    r.time = std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} + 5h + 44min + 37s + 576ms;
    r.client = "192.0.2.7";
    r.method = "GET";
    r.host = "www.example.com";
    r.url = "/a.txt?x=1";
    r.protocol = "HTTP/1.1";
    r.status = 200;
    r.bytes = 275;
    r.cache = "MISS";
    r.duration_ms = 12.3456;
    r.origin_ms = 10.5;
    r.user_agent = "curl/7.88.1";
    r.referer = "https://www.example.com/";
    r.tls = "TLSv1.3";
    r.request_id = "0123456789abcdef0123456789abcdef";
    return r;
}

std::string line(AccessLogFormat f, const AccessRecord& r) {
    std::string out;
    append_access_line(out, f, r);
    return out;
}

// What a hostile client puts in every field it controls: quotes, backslashes, line breaks,
// control bytes and bytes that are not UTF-8.
constexpr std::string_view kHostile = "a\"b\\c\r\nstatus=200 \"x\x01\x7f\xff\xc3(";

const std::regex kCombined(
    R"re(^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"( .*)?\n$)re");

}  // namespace

TEST_CASE("logfmt access line: every field, absent ones left out", "[access_log]") {
    const std::string l = line(AccessLogFormat::logfmt, sample());
    CHECK(l ==
          "ts=2026-11-22T05:44:37.576Z client=192.0.2.7 method=GET host=\"www.example.com\" "
          "url=\"/a.txt?x=1\" protocol=HTTP/1.1 status=200 bytes=275 cache=MISS dur_ms=12.346 "
          "origin_ms=10.500 tls=TLSv1.3 request_id=\"0123456789abcdef0123456789abcdef\" "
          "user_agent=\"curl/7.88.1\" referer=\"https://www.example.com/\"\n");
    AccessRecord hit = sample();
    hit.origin_ms = -1;
    hit.tls = hit.user_agent = hit.referer = {};
    hit.detail = "collapsed";
    const std::string h = line(AccessLogFormat::logfmt, hit);
    CHECK_THAT(h, !Contains("origin_ms") && !Contains("tls=") && !Contains("user_agent") &&
                      !Contains("referer"));
    CHECK_THAT(h, EndsWith(" detail=\"collapsed\"\n"));
}

TEST_CASE("JSON access line: one object per line, every field typed", "[access_log]") {
    const std::string l = line(AccessLogFormat::json, sample());
    REQUIRE(l.back() == '\n');
    CHECK(l.find('\n') == l.size() - 1);
    const boost::json::object o = boost::json::parse(l).as_object();
    CHECK(o.at("ts") == "2026-11-22T05:44:37.576Z");
    CHECK(o.at("client") == "192.0.2.7");
    CHECK(o.at("method") == "GET");
    CHECK(o.at("host") == "www.example.com");
    CHECK(o.at("url") == "/a.txt?x=1");
    CHECK(o.at("protocol") == "HTTP/1.1");
    CHECK(o.at("status").as_int64() == 200);
    CHECK(o.at("bytes").as_int64() == 275);
    CHECK(o.at("cache") == "MISS");
    CHECK(o.at("dur_ms").as_double() == Approx(12.346));
    CHECK(o.at("origin_ms").as_double() == Approx(10.5));
    CHECK(o.at("tls") == "TLSv1.3");
    CHECK(o.at("request_id") == "0123456789abcdef0123456789abcdef");
    CHECK(o.at("user_agent") == "curl/7.88.1");
    CHECK(o.at("referer") == "https://www.example.com/");
    CHECK(o.at("detail").is_null());
    CHECK(o.size() == 16);

    AccessRecord hit = sample();
    hit.origin_ms = -1;
    hit.tls = hit.user_agent = hit.referer = hit.request_id = {};
    const boost::json::object h = boost::json::parse(line(AccessLogFormat::json, hit)).as_object();
    for (const char* k : {"origin_ms", "tls", "user_agent", "referer", "request_id", "detail"})
        CHECK(h.at(k).is_null());
    CHECK(h.size() == 16);
}

TEST_CASE("combined access line: the combined format exactly, then the edge's fields",
          "[access_log]") {
    const std::string l = line(AccessLogFormat::combined, sample());
    std::smatch m;
    REQUIRE(std::regex_match(l, m, kCombined));
    CHECK(m[1] == "192.0.2.7");
    CHECK_THAT(m[2].str(), StartsWith("22/Nov/2026:") || StartsWith("21/Nov/2026:") ||
                               StartsWith("23/Nov/2026:"));  // local time
    CHECK(m[3] == "GET /a.txt?x=1 HTTP/1.1");
    CHECK(m[4] == "200");
    CHECK(m[5] == "275");
    CHECK(m[6] == "https://www.example.com/");
    CHECK(m[7] == "curl/7.88.1");
    CHECK(m[8] ==
          " host=\"www.example.com\" cache=MISS dur_ms=12.346 origin_ms=10.500 tls=TLSv1.3 "
          "request_id=\"0123456789abcdef0123456789abcdef\"");

    AccessRecord bare = sample();
    bare.user_agent = bare.referer = bare.tls = {};
    bare.origin_ms = -1;
    bare.method = bare.url = {};  // no request line could be read
    REQUIRE(std::regex_match(l, m, kCombined));
    const std::string b = line(AccessLogFormat::combined, bare);
    REQUIRE(std::regex_match(b, m, kCombined));
    CHECK(m[3] == "-");
    CHECK(m[6] == "-");
    CHECK(m[7] == "-");
    CHECK_THAT(b, Contains(" origin_ms=- tls=- "));
}

TEST_CASE("no field a client controls can break or forge a line, in any format",
          "[access_log][bad-input]") {
    AccessRecord r = sample();
    r.method = kHostile;
    r.host = kHostile;
    r.url = kHostile;
    r.user_agent = kHostile;
    r.referer = kHostile;
    r.request_id = kHostile;  // never sane, but the logger must not rely on that
    r.detail = kHostile;

    const std::string lf = line(AccessLogFormat::logfmt, r);
    CHECK(lf.find('\n') == lf.size() - 1);
    for (char c : lf.substr(0, lf.size() - 1))
        CHECK((c >= 0x20 && c < 0x7f));
    // Exactly one status key: the real one.
    CHECK(std::regex_search(lf, std::regex(" status=200 ")));
    CHECK_THAT(lf, Contains(R"(host="a\"b\\c\x0d\x0astatus=200 \"x\x01\x7f\xff\xc3(")"));
    CHECK_THAT(lf, Contains(R"(method="a\"b)"));

    const std::string js = line(AccessLogFormat::json, r);
    CHECK(js.find('\n') == js.size() - 1);
    const boost::json::object o = boost::json::parse(js).as_object();
    CHECK(o.at("status").as_int64() == 200);
    CHECK(o.size() == 16);
    // Back as it came, except the bytes that are not UTF-8 (\u00NN).
    CHECK(std::string(o.at("url").as_string()) ==
          "a\"b\\c\r\nstatus=200 \"x\x01\x7f\xc3\xbf\xc3\x83(");
    CHECK(o.at("user_agent") == o.at("url"));

    const std::string cb = line(AccessLogFormat::combined, r);
    std::smatch m;
    REQUIRE(std::regex_match(cb, m, kCombined));
    CHECK(m[4] == "200");
    CHECK(m[7] == R"(a\x22b\x5cc\x0d\x0astatus=200 \x22x\x01\x7f\xff\xc3()");
}

TEST_CASE("request ids: sane ones kept, others replaced, new ones unique and cheap",
          "[request_id]") {
    CHECK(is_sane_request_id("abc-123"));
    CHECK(is_sane_request_id(std::string(128, 'a')));
    CHECK_FALSE(is_sane_request_id(""));
    CHECK_FALSE(is_sane_request_id(std::string(129, 'a')));
    CHECK_FALSE(is_sane_request_id("a b"));
    CHECK_FALSE(is_sane_request_id("a\"\x01"));
    CHECK_FALSE(is_sane_request_id("caf\xc3\xa9"));

    RequestIdGenerator ids(0x0123456789abcdefull, 42);
    std::set<std::string> seen;
    for (int i = 0; i < 20000; ++i) {
        cdn::edge::http::RequestId id;
        ids.next(id);
        REQUIRE(id.view().size() == 32);
        REQUIRE(id.view().starts_with("0123456789abcdef"));
        REQUIRE(id.view().find_first_not_of("0123456789abcdef") == std::string_view::npos);
        seen.emplace(id.view());
    }
    CHECK(seen.size() == 20000);
    // Consecutive ids do not count up.
    cdn::edge::http::RequestId a, b;
    ids.next(a);
    ids.next(b);
    CHECK(std::stoull(std::string(b.view().substr(16)), nullptr, 16) !=
          std::stoull(std::string(a.view().substr(16)), nullptr, 16) + 1);

    http::Request req;
    assign_request_id(req, ids);
    CHECK(req.id.view().size() == 32);  // none sent
    req.msg.set("X-Request-Id", "client-chose-this");
    assign_request_id(req, ids);
    CHECK(req.id.view() == "client-chose-this");
    req.msg.set("X-Request-Id", "has space");
    assign_request_id(req, ids);
    CHECK(req.id.view().size() == 32);
    req.msg.set("X-Request-Id", "one");
    req.msg.insert("X-Request-Id", "two");
    assign_request_id(req, ids);
    CHECK(req.id.view().size() == 32);  // two of them: neither is trusted
}
