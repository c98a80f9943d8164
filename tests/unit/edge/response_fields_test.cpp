#include "edge/proxy/response_fields.hpp"

#include "common/http_date.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge;
using namespace cdn::edge::proxy;
using Catch::Matchers::Contains;

namespace {
const TimePoint t0{std::chrono::seconds(1'700'000'000)};
}

TEST_CASE("facts are read from the fields", "[response_fields]") {
    Fields f;
    f.insert("Cache-Control", "public");
    f.insert("Cache-Control", "max-age=30");
    f.insert("Date", format_http_date(t0));
    f.insert("Expires", "0");
    f.insert("Age", "7");
    f.insert("ETag", "\"abc\"");
    f.insert("Set-Cookie", "a=b");
    const auto facts = facts_of(200, f, {});
    CHECK(facts.cc.public_);
    CHECK(facts.cc.max_age == 30);
    CHECK(facts.date == t0);
    CHECK(facts.has_expires);
    CHECK_FALSE(facts.expires);
    CHECK(facts.age == 7);
    CHECK(facts.has_etag);
    CHECK(facts.has_set_cookie);
}

TEST_CASE("a bogus Age is ignored", "[response_fields]") {
    Fields f;
    f.insert("Age", "-3");
    CHECK_FALSE(facts_of(200, f, {}).age);
    Fields g;
    g.insert("Age", "12abc");
    CHECK_FALSE(facts_of(200, g, {}).age);
    // Not all digits, or more than one value: ignored. Huge: capped at 2^31.
    for (const char* bad : {"+5", "5.0", "0x10", "", "5 5", "-99999999999999999999999"}) {
        Fields b;
        b.insert("Age", bad);
        CHECK_FALSE(facts_of(200, b, {}).age);
    }
    Fields two;
    two.insert("Age", "5");
    two.insert("Age", "7");
    CHECK_FALSE(facts_of(200, two, {}).age);
    Fields huge;
    huge.insert("Age", " 99999999999999999999999 ");
    CHECK(facts_of(200, huge, {}).age == 2147483648);
}

TEST_CASE("an invalid or repeated Expires means already expired", "[response_fields]") {
    for (const char* bad : {"0", "-1", "tomorrow", "Thu, 01 Dec 2094 16:00:00"}) {
        Fields f;
        f.insert("Expires", bad);
        const auto facts = facts_of(200, f, {});
        CHECK(facts.has_expires);
        CHECK_FALSE(facts.expires);
    }
    Fields two;
    two.insert("Expires", "Thu, 01 Dec 2094 16:00:00 GMT");
    two.insert("Expires", "Thu, 01 Dec 2095 16:00:00 GMT");
    CHECK_FALSE(facts_of(200, two, {}).expires);
}

TEST_CASE("end clients get no CDN fields, other fields stay in order", "[response_fields]") {
    Fields f;
    f.insert("Cache-Control", "max-age=5");
    f.insert("CDN-Cache-Control", "max-age=600");
    f.insert("X-A", "1");
    f.insert("Surrogate-Control", "max-age=60");
    f.insert("Acme-Cache-Control", "max-age=60");
    cache::CacheControlSources sources;
    sources.targeted = {"Acme-Cache-Control", "CDN-Cache-Control"};
    const auto facts = facts_of(200, f, sources);
    auto meta = cache::make_meta(facts, t0, t0, {});
    CHECK(meta.cdn_fields);
    auto body = cdn::new_body("hello");
    auto obj = build_object("k", 200, "OK", f, body, meta, t0, {});
    auto client = without_cdn_fields(obj, sources);
    CHECK(client != obj);
    CHECK(client->body == obj->body);
    CHECK(client->head().find("CDN-Cache-Control") == std::string::npos);
    CHECK(client->head().find("Surrogate-Control") == std::string::npos);
    CHECK(client->head().find("Acme-Cache-Control") == std::string::npos);
    CHECK(client->head().find("Cache-Control: max-age=5\r\nX-A: 1\r\n") != std::string::npos);
    CHECK(client->head().starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(client->head().ends_with("\r\n"));
    // An object without them is handed out as it is.
    Fields plain;
    plain.insert("Cache-Control", "max-age=5");
    auto p = build_object("k", 200, "OK", plain, body,
                          cache::make_meta(facts_of(200, plain, sources), t0, t0, {}), t0, {});
    CHECK(without_cdn_fields(p, sources) == p);
}

TEST_CASE("the stored head drops hop-by-hop fields and recomputes length", "[response_fields]") {
    Fields f;
    f.insert("Connection", "close, X-Hop");
    f.insert("X-Hop", "1");
    f.insert("Keep-Alive", "timeout=5");
    f.insert("Transfer-Encoding", "chunked");
    f.insert("Content-Length", "999");
    f.insert("Age", "5");
    f.insert("Set-Cookie", "s=1");
    f.insert("Cache-Control", "public, max-age=60");
    f.insert("ETag", "\"v1\"");
    auto body = cdn::new_body("hello");
    auto o = build_object("k", 200, "OK", f, body, {}, t0, {.strip_set_cookie = true});
    CHECK(o->head().starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK_THAT(std::string(o->head()), Contains("Cache-Control: public, max-age=60\r\n"));
    CHECK_THAT(std::string(o->head()), Contains("Content-Length: 5\r\n"));
    CHECK_THAT(std::string(o->head()), Contains("Date: "));  // added when the origin sent none
    CHECK(o->head().find("X-Hop") == std::string::npos);
    CHECK(o->head().find("Keep-Alive") == std::string::npos);
    CHECK(o->head().find("Transfer-Encoding") == std::string::npos);
    CHECK(o->head().find("999") == std::string::npos);
    CHECK(o->head().find("Age") == std::string::npos);
    CHECK(o->head().find("Set-Cookie") == std::string::npos);
    CHECK(o->etag() == "\"v1\"");
    CHECK(*o->body == "hello");
}

TEST_CASE("304 and 204 carry no body and no length", "[response_fields]") {
    Fields f;
    auto o = build_object("k", 304, "", f, cdn::new_body(), {}, t0, {});
    CHECK(o->head().starts_with("HTTP/1.1 304 Not Modified\r\n"));
    CHECK(o->head().find("Content-Length") == std::string::npos);
    CHECK(o->body == nullptr);
}

TEST_CASE("a stored head parses back and merges a 304", "[response_fields]") {
    Fields f;
    f.insert("Cache-Control", "max-age=1");
    f.insert("ETag", "\"v1\"");
    f.insert("X-Other", "kept");
    auto o = build_object("k", 200, "OK", f, cdn::new_body("abc"), {}, t0, {});
    ParsedHead p = parse_head(o->head());
    CHECK(p.status == 200);
    CHECK(p.reason == "OK");
    CHECK(p.fields["X-Other"] == "kept");
    Fields nm;
    nm.insert("Cache-Control", "max-age=100");
    nm.insert("Content-Length", "0");
    nm.insert("Connection", "keep-alive");
    merge_not_modified(p.fields, nm);
    CHECK(p.fields["Cache-Control"] == "max-age=100");
    CHECK(p.fields.count("Cache-Control") == 1);
    CHECK(p.fields["Content-Length"] == "3");
    CHECK(p.fields["X-Other"] == "kept");
    CHECK(p.fields.count("Connection") == 0);
}

TEST_CASE("a stored field is read from the head, not kept twice", "[response_fields]") {
    const auto o = storage::CachedObject::make(
        "k",
        "HTTP/1.1 200 OK\r\nETag-Extra: no\r\netag:  \"v1\" \r\nLast-Modified: Sun, 06 Nov 1994 "
        "08:49:37 GMT\r\nETag: \"second\"\r\n");
    CHECK(o->etag() == "\"v1\"");
    CHECK(o->last_modified() == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(o->field("ETAG-EXTRA") == "no");
    CHECK(o->field("content-type").empty());
    CHECK(o->field("HTTP/1.1 200 OK").empty());
    CHECK(storage::CachedObject::copy(*o, "HTTP/1.1 200 OK\r\n")->etag().empty());
}
