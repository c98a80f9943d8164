#include "origin_sim/object.hpp"
#include "origin_sim/query.hpp"

#include <catch2/catch.hpp>

using namespace cdn::origin_sim;

TEST_CASE("identity strips control parameters only", "[origin_sim][object]") {
    CHECK(identity_of("/app.js") == "/app.js");
    CHECK(identity_of("/app.js?v=2&size=10") == "/app.js?v=2");
    CHECK(identity_of("/app.js?size=10&v=2") == "/app.js?v=2");
    CHECK(identity_of("/a?size=1&status=404&cc=no-store&fault=reset") == "/a");
    CHECK(identity_of("/a?b=1&header=X:1&c=2&tags=x,y") == "/a?b=1&c=2");
    CHECK(identity_of("/a?%73ize=10&q=%20") == "/a?q=%20");  // keys are decoded before matching
    CHECK(identity_of("/a?") == "/a");
    CHECK(identity_of("/a?&&x&") == "/a?x");
    CHECK(identity_of("/a#frag") == "/a");
}

TEST_CASE("url decoding", "[origin_sim][object]") {
    CHECK(url_decode("a%20b+c") == "a b c");
    CHECK(url_decode("a+b", false) == "a+b");
    CHECK(url_decode("%2Fx%2f") == "/x/");
    CHECK_FALSE(url_decode("%"));
    CHECK_FALSE(url_decode("%4"));
    CHECK_FALSE(url_decode("%zz"));
    CHECK(url_encode("/a?x=1 2") == "%2Fa%3Fx%3D1%202");
    CHECK(url_decode(url_encode("/a?b=c&d")) == "/a?b=c&d");
}

TEST_CASE("defaults without any configuration", "[origin_sim][object]") {
    const SimConfig config;
    const Resolution r = resolve(config, "/styles/site.css");
    REQUIRE(r.object);
    const ResolvedObject& o = *r.object;
    CHECK(o.identity == "/styles/site.css");
    CHECK(o.size == 1024);
    CHECK(o.status == 200);
    CHECK(o.cache_control == "public, max-age=60");
    CHECK(o.content_type == "text/css");
    CHECK(o.etag == EtagMode::strong);
    CHECK_FALSE(o.last_modified.omit);
    CHECK(o.last_modified.ago == 3600);
    CHECK(o.fault == Fault::none);
    CHECK(content_type_for("/a.js") == "text/javascript");
    CHECK(content_type_for("/a.HTML") == "text/html");
    CHECK(content_type_for("/a.json") == "application/json");
    CHECK(content_type_for("/a.txt") == "text/plain");
    CHECK(content_type_for("/a.png") == "image/png");
    CHECK(content_type_for("/a.jpg") == "image/jpeg");
    CHECK(content_type_for("/a.d/b") == "application/octet-stream");
    CHECK(content_type_for("/noext") == "application/octet-stream");
}

TEST_CASE("query parameters override everything", "[origin_sim][object]") {
    const SimConfig config;
    const Resolution r = resolve(
        config,
        "/a.bin?size=64KiB&status=404&cc=private%2C+max-age%3D5&expires=-30&lm=10&etag=weak"
        "&vary=Accept-Encoding&tags=x,%20y&cookie=s%3D1&age=7&date_offset=-100&delay=20"
        "&chunked=1&ctype=text/plain&header=X-One:%201&header=X-Two:2&fault=slow&slow_ms=5");
    REQUIRE(r.object);
    const ResolvedObject& o = *r.object;
    CHECK(o.identity == "/a.bin");
    CHECK(o.size == 64 * 1024);
    CHECK(o.status == 404);
    CHECK(o.cache_control == "private, max-age=5");
    REQUIRE(o.expires);
    CHECK(o.expires->seconds == -30);
    CHECK_FALSE(o.expires->invalid);
    CHECK(o.last_modified.ago == 10);
    CHECK(o.etag == EtagMode::weak);
    CHECK(o.vary == "Accept-Encoding");
    CHECK(o.tags == std::vector<std::string>{"x", "y"});
    CHECK(o.set_cookie == "s=1");
    CHECK(o.age == "7");
    CHECK(o.date_offset == -100);
    CHECK(o.delay == std::chrono::milliseconds(20));
    CHECK(o.chunked);
    CHECK(o.content_type == "text/plain");
    CHECK(o.headers == Headers{{"X-One", "1"}, {"X-Two", "2"}});
    CHECK(o.fault == Fault::slow);
    CHECK(o.slow_interval == std::chrono::milliseconds(5));

    const Resolution r2 = resolve(config, "/a?cc=&expires=bad&lm=none&etag=0&fault=500");
    REQUIRE(r2.object);
    CHECK(r2.object->expires->invalid);
    CHECK(r2.object->last_modified.omit);
    CHECK(r2.object->etag == EtagMode::none);
    CHECK(r2.object->status == 500);
    CHECK(r2.object->cache_control == "no-store");  // fault=500 forces no-store
    const Resolution r3 = resolve(config, "/a?cc=");
    CHECK_FALSE(r3.object->cache_control);
}

TEST_CASE("bad control values are rejected with the parameter's name", "[origin_sim][object]") {
    const SimConfig config;
    for (const char* t :
         {"/a?size=lots", "/a?status=99", "/a?status=600", "/a?status=x", "/a?lm=yesterday",
          "/a?etag=maybe", "/a?delay=soon", "/a?chunked=2", "/a?header=NoColon",
          "/a?header=Bad%20Name:1", "/a?header=Content-Length:1", "/a?fault=explode",
          "/a?tags=a%20b", "/a?cc=x%0D%0ASet-Cookie:%20y", "/a?date_offset=z", "/a?slow_ms=-1"}) {
        INFO(t);
        const Resolution r = resolve(config, t);
        CHECK_FALSE(r.object);
        CHECK(r.error.find("query parameter") != std::string::npos);
    }
}

TEST_CASE("resolution layers: built-in, defaults, object, query", "[origin_sim][object]") {
    const SimConfig config = parse_config(R"(
[defaults]
size = "2KiB"
cache_control = "public, max-age=300"
headers = { "X-Default" = "d" }

[[object]]
prefix = "/static/"
cache_control = "public, max-age=31536000, immutable"
tags = ["static"]

[[object]]
prefix = "/static/img/"
content_type = "image/webp"

[[object]]
path = "/static/img/logo.png"
size = 100
status = 404
headers = { "X-Default" = "logo", "X-Logo" = "1" }

[[object]]
path = "/private"
cache_control = ""
etag = false
last_modified_ago = 10
expires = 60
delay = "50ms"
fault = "hang"
)",
                                          "sim.toml");
    auto get = [&](const char* target) {
        Resolution r = resolve(config, target);
        REQUIRE(r.object);
        return *r.object;
    };
    const ResolvedObject plain = get("/other");
    CHECK(plain.size == 2048);
    CHECK(plain.cache_control == "public, max-age=300");
    CHECK(plain.headers == Headers{{"X-Default", "d"}});

    const ResolvedObject css = get("/static/site.css?v=3");
    CHECK(css.identity == "/static/site.css?v=3");
    CHECK(css.cache_control == "public, max-age=31536000, immutable");
    CHECK(css.tags == std::vector<std::string>{"static"});
    CHECK(css.size == 2048);

    // The longest prefix wins over an earlier, shorter one.
    const ResolvedObject img = get("/static/img/a.png");
    CHECK(img.content_type == "image/webp");
    CHECK(img.cache_control == "public, max-age=300");  // the longer prefix does not set it

    // An exact path beats any prefix.
    const ResolvedObject logo = get("/static/img/logo.png");
    CHECK(logo.size == 100);
    CHECK(logo.status == 404);
    CHECK(logo.content_type == "image/png");
    CHECK(logo.headers == Headers{{"X-Default", "logo"}, {"X-Logo", "1"}});

    // The query overrides the configuration; paths match without the query.
    const ResolvedObject logo2 = get("/static/img/logo.png?status=200&size=5");
    CHECK(logo2.status == 200);
    CHECK(logo2.size == 5);

    const ResolvedObject priv = get("/private");
    CHECK_FALSE(priv.cache_control);
    CHECK(priv.etag == EtagMode::none);
    CHECK(priv.last_modified.ago == 10);
    CHECK(priv.expires->seconds == 60);
    CHECK(priv.delay == std::chrono::milliseconds(50));
    CHECK(priv.fault == Fault::hang);
    CHECK(get("/private?fault=none").fault == Fault::none);
    CHECK(get("/private/x").fault == Fault::none);  // a path is exact, not a prefix
}
