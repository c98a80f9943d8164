// Hostile HTTP/1.1 input against the real edge, over raw sockets: cache poisoning through the
// target's authority, Host spellings and unkeyed override fields; response desync through an
// origin's 1xx; request smuggling through Transfer-Encoding; slow readers of large objects.
// Origins are a ScriptedOrigin (every byte the test's) or origin_sim.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/support/raw_connection.hpp"
#include "tests/support/scripted_origin.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// Every object's body names the Host and target the origin was sent, so a poisoned entry shows.
std::string reflect(const RecordedRequest& r) {
    return http_response(200, "host=" + r.field("host") + " target=" + r.target + "\n");
}

std::string body_of(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? "" : response.substr(end + 4);
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + 1))
        ++n;
    return n;
}

// One request on its own connection; the whole response.
std::string round_trip(std::uint16_t port, const std::string& request) {
    RawConnection c(port);
    c.send(request);
    return c.read_response();
}

std::string get(std::uint16_t port, const std::string& target, const std::string& host,
                const std::string& fields = "") {
    return round_trip(port,
                      "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + fields + "\r\n");
}

}  // namespace

TEST_CASE("absolute-form: the target's authority is the key and the Host the origin gets",
          "[hostile][http1][poisoning]") {
    TempDir dir;
    ScriptedOrigin origin(reflect);
    Edge edge(dir, origin.url());

    const std::string first = round_trip(
        edge.port(), "GET http://victim.example/p HTTP/1.1\r\nHost: attacker.example\r\n\r\n");
    CHECK_THAT(first, StartsWith("HTTP/1.1 200"));
    CHECK(body_of(first) == "host=victim.example target=/p\n");
    REQUIRE(origin.requests().size() == 1);
    CHECK(origin.requests()[0].field("host") == "victim.example");
    CHECK(origin.requests()[0].target == "/p");

    // What victim.example's users get is what victim.example's origin said, from the cache.
    const std::string victim = get(edge.port(), "/p", "victim.example");
    CHECK_THAT(victim, Contains("X-Cache: HIT"));
    CHECK(body_of(victim) == "host=victim.example target=/p\n");
    // The attacker's own host is another object.
    const std::string own = get(edge.port(), "/p", "attacker.example");
    CHECK_THAT(own, Contains("X-Cache: MISS"));
    CHECK(body_of(own) == "host=attacker.example target=/p\n");

    // The scheme in any case, a default port, a query without a path.
    const std::string odd = round_trip(
        edge.port(), "GET HTTP://Victim.Example:80?q=1 HTTP/1.1\r\nHost: attacker.example\r\n\r\n");
    CHECK(body_of(odd) == "host=victim.example target=/?q=1\n");
    // Userinfo has no place in a request target.
    CHECK_THAT(round_trip(edge.port(),
                          "GET http://user@victim.example/p HTTP/1.1\r\nHost: "
                          "victim.example\r\n\r\n"),
               StartsWith("HTTP/1.1 400"));
}

TEST_CASE("Host spellings of one site share one key and a Host that names no site is refused",
          "[hostile][http1][poisoning]") {
    TempDir dir;
    ScriptedOrigin origin(reflect);
    Edge edge(dir, origin.url());

    CHECK_THAT(get(edge.port(), "/h", "Victim.Example."), Contains("X-Cache: MISS"));
    for (const char* same :
         {"victim.example", "victim.example:80", "VICTIM.example.:80", "victim.example:"}) {
        INFO("Host: " << same);
        const std::string r = get(edge.port(), "/h", same);
        CHECK_THAT(r, Contains("X-Cache: HIT"));
        CHECK(body_of(r) == "host=victim.example target=/h\n");
    }
    REQUIRE(origin.requests().size() == 1);
    CHECK(origin.requests()[0].field("host") == "victim.example");

    for (const std::string bad :
         {"GET /h HTTP/1.1\r\nHost: victim.example:abc\r\n\r\n",
          "GET /h HTTP/1.1\r\nHost: victim.example:0\r\n\r\n",
          "GET /h HTTP/1.1\r\nHost: victim.example:65536\r\n\r\n",
          "GET /h HTTP/1.1\r\nHost: user@victim.example\r\n\r\n",
          "GET /h HTTP/1.1\r\nHost: victim..example\r\n\r\n",
          "GET /h HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
          "GET /h HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\nHost: victim.example\r\n\r\n",
          "OPTIONS * HTTP/1.1\r\nHost: victim.example\r\n\r\n",
          "GET /h#fragment HTTP/1.1\r\nHost: victim.example\r\n\r\n",
          "GET http://victim.example/h#f HTTP/1.1\r\nHost: victim.example\r\n\r\n"}) {
        INFO(bad);
        RawConnection c(edge.port());
        c.send(bad);
        CHECK_THAT(c.read_response(), StartsWith("HTTP/1.1 400"));
        CHECK(c.closed_by_peer());
    }
    CHECK(origin.requests().size() == 1);
}

TEST_CASE("override fields are stripped before the origin unless a group passes and keys them",
          "[hostile][http1][poisoning]") {
    TempDir dir;
    ScriptedOrigin origin([](const RecordedRequest& r) {
        return http_response(200, "xfh=" + r.field("x-forwarded-host") + "\n");
    });
    const std::string overrides =
        "X-Forwarded-Host: evil.example\r\nX-Forwarded-Server: evil\r\nX-Forwarded-Port: 1\r\n"
        "X-Forwarded-Proto: https\r\nX-Forwarded-Scheme: https\r\nX-Original-URL: /admin\r\n"
        "X-Rewrite-URL: /admin\r\nX-HTTP-Method-Override: DELETE\r\nX-Method-Override: PUT\r\n"
        "Forwarded: host=evil.example;proto=https\r\nX-Original-Host: evil.example\r\n";

    SECTION("by default none reaches the origin, and the edge says the scheme itself") {
        Edge edge(dir, origin.url());
        const std::string r = get(edge.port(), "/o", "site.example", overrides);
        CHECK(body_of(r) == "xfh=\n");
        REQUIRE(origin.requests().size() == 1);
        const RecordedRequest seen = origin.requests()[0];
        for (const char* f :
             {"X-Forwarded-Host", "X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Scheme",
              "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-Method-Override",
              "Forwarded", "X-Original-Host"}) {
            INFO(f);
            CHECK_FALSE(seen.has(f));
        }
        CHECK(seen.field("x-forwarded-proto") == "http");
        CHECK(seen.method == "GET");
        CHECK(seen.target == "/o");
        CHECK(seen.field("x-forwarded-for") == "127.0.0.1");
    }
    SECTION("a group that passes one keys on it") {
        Edge edge(
            dir, "",
            "[[origin]]\nurl = \"" + origin.url() + "\"\npass_headers = [\"X-Forwarded-Host\"]\n");
        const std::string a = get(edge.port(), "/k", "site.example", "X-Forwarded-Host: a\r\n");
        CHECK_THAT(a, Contains("X-Cache: MISS"));
        CHECK(body_of(a) == "xfh=a\n");
        const std::string b = get(edge.port(), "/k", "site.example", "X-Forwarded-Host: b\r\n");
        CHECK_THAT(b, Contains("X-Cache: MISS"));
        CHECK(body_of(b) == "xfh=b\n");
        const std::string a2 = get(edge.port(), "/k", "site.example", "X-Forwarded-Host: a\r\n");
        CHECK_THAT(a2, Contains("X-Cache: HIT"));
        CHECK(body_of(a2) == "xfh=a\n");
        const std::string none = get(edge.port(), "/k", "site.example");
        CHECK_THAT(none, Contains("X-Cache: MISS"));
        CHECK(body_of(none) == "xfh=\n");
        // The others are still stripped.
        get(edge.port(), "/k2", "site.example", overrides);
        CHECK_FALSE(origin.requests().back().has("X-Original-URL"));
        CHECK(origin.requests().back().field("x-forwarded-host") == "evil.example");
    }
    SECTION("a pass_headers entry that is forwarded anyway is a config error naming the line") {
        const std::string path = dir.write("bad.toml", "[[origin]]\nurl = \"" + origin.url() +
                                                           "\"\npass_headers = [\"Accept\"]\n");
        const auto r = run_command({EDGE_BIN, "--config", path, "--check"});
        CHECK(r.status == 2);
    }
}

TEST_CASE("an origin's 1xx never ends an exchange: 100 is consumed and 103 relayed",
          "[hostile][http1][desync]") {
    TempDir dir;
    ScriptedOrigin origin([](const RecordedRequest& r) -> std::string {
        const std::string final_response = http_response(200, "final " + r.target + "\n");
        if (r.target == "/continue") return "HTTP/1.1 100 Continue\r\n\r\n" + final_response;
        if (r.target == "/processing")
            return "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + final_response;
        if (r.target.starts_with("/hints"))
            return "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
                   "Connection: x-hop\r\nX-Hop: 1\r\n\r\n" +
                   final_response;
        if (r.target == "/switch")
            return "HTTP/1.1 101 Switching Protocols\r\n\r\n" + final_response;
        if (r.target == "/flood") {
            std::string all;
            for (int i = 0; i < 40; ++i)
                all += "HTTP/1.1 100 Continue\r\n\r\n";
            return all + final_response;
        }
        return final_response;
    });
    Edge edge(dir, origin.url());

    SECTION("100 and 102 are consumed; the next request on the connection gets its own answer") {
        RawConnection c(edge.port());
        c.send("GET /continue HTTP/1.1\r\nHost: a\r\n\r\n");
        const std::string first = c.read_response();
        CHECK_THAT(first, StartsWith("HTTP/1.1 200"));
        CHECK(body_of(first) == "final /continue\n");
        c.send("GET /processing HTTP/1.1\r\nHost: a\r\n\r\n");
        const std::string second = c.read_response();
        CHECK_THAT(second, StartsWith("HTTP/1.1 200"));
        CHECK(body_of(second) == "final /processing\n");
        c.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n");
        CHECK(body_of(c.read_response()) == "final /other\n");
        // The final response was cached as usual.
        CHECK_THAT(get(edge.port(), "/continue", "a"), Contains("X-Cache: HIT"));
    }
    SECTION("103 Early Hints reach an HTTP/1.1 client before the final response") {
        RawConnection c(edge.port());
        c.send("GET /hints HTTP/1.1\r\nHost: a\r\n\r\n");
        const std::string r = c.read_response();
        CHECK_THAT(r, StartsWith("HTTP/1.1 103 Early Hints\r\n"));
        CHECK_THAT(r, Contains("Link: </style.css>; rel=preload; as=style\r\n"));
        CHECK_THAT(r, !Contains("X-Hop"));
        CHECK(count_of(r, "HTTP/1.1 ") == 2);
        CHECK_THAT(r, Contains("\r\n\r\nHTTP/1.1 200"));
        CHECK(body_of(r.substr(r.find("HTTP/1.1 200"))) == "final /hints\n");
        c.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
        CHECK(body_of(c.read_response()) == "final /after\n");
    }
    SECTION("an HTTP/1.0 client gets no 1xx") {
        RawConnection c(edge.port());
        c.send("GET /hints10 HTTP/1.0\r\nHost: a\r\n\r\n");
        const std::string r = c.read_rest();
        CHECK_THAT(r, StartsWith("HTTP/1.1 200"));
        CHECK(count_of(r, "HTTP/1.1 ") == 1);
    }
    SECTION("a 101 nobody asked for, or endless 1xx, is a bad gateway") {
        CHECK_THAT(get(edge.port(), "/switch", "a"), StartsWith("HTTP/1.1 502"));
        CHECK_THAT(get(edge.port(), "/flood", "a"), StartsWith("HTTP/1.1 502"));
    }
}

TEST_CASE("a Transfer-Encoding other than one final chunked is 400 and close: no smuggling",
          "[hostile][http1][smuggling]") {
    TempDir dir;
    ScriptedOrigin origin([](const RecordedRequest& r) {
        return http_response(200, "got " + r.method + " " + r.target + " " + r.body + "\n",
                             "Cache-Control: no-store\r\n");
    });
    Edge edge(dir, origin.url());
    const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string chunk = "0\r\n\r\n";
    for (const std::string te :
         {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked, identity\r\n",
          "Transfer-Encoding: xchunked\r\n", "Transfer-Encoding: \"chunked\"\r\n",
          "Transfer-Encoding: \r\n", "Transfer-Encoding: chunked, chunked\r\n",
          "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: identity\r\n",
          "Transfer-Encoding: chunked;x=1\r\n",
          "Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n",
          "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
          "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"}) {
        INFO(te);
        RawConnection c(edge.port());
        c.send("POST /te HTTP/1.1\r\nHost: a\r\n" + te + "\r\n" + smuggled);
        const std::string all = c.read_rest();
        CHECK_THAT(all, StartsWith("HTTP/1.1 400"));
        CHECK(count_of(all, "HTTP/1.1 ") == 1);
        CHECK(c.closed_by_peer());
    }
    // HTTP/1.0 has no chunked: its framing is broken even with chunked.
    {
        RawConnection c(edge.port());
        c.send("POST /te HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk +
               smuggled);
        const std::string all = c.read_rest();
        CHECK_THAT(all, StartsWith("HTTP/1.1 400"));
        CHECK(count_of(all, "HTTP/1.1 ") == 1);
    }
    for (const auto& r : origin.requests()) {
        CHECK(r.target != "/smuggled");
        CHECK(r.target != "/te");
    }
    // The one framing that is taken still works, body and all, and keeps the connection.
    RawConnection ok(edge.port());
    ok.send("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" +
            chunk + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(body_of(ok.read_response()) == "got POST /up hello\n");
    CHECK(body_of(ok.read_response()) == "got GET /next \n");
}

TEST_CASE("slow readers of large objects: fills past the in-flight budget stream through",
          "[hostile][http1][memory]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(
        dir, origin.url(),
        "[cache]\nmemory = \"64MiB\"\nshards = 1\n[limits]\ninflight_body_memory = \"40MiB\"\n"
        "[timeouts]\nclient_send = \"20s\"\n");
    constexpr std::size_t kSize = 16 << 20;
    // Six readers of distinct 16 MiB objects that read nothing: two fills fit the budget, the
    // others must not be held in memory.
    std::vector<std::unique_ptr<RawConnection>> readers;
    for (int i = 0; i < 6; ++i) {
        readers.push_back(std::make_unique<RawConnection>(edge.port(), "127.0.0.1", "", 4096));
        readers.back()->send("GET /big/" + std::to_string(i) +
                             "?size=16MiB HTTP/1.1\r\nHost: a\r\n\r\n");
        CHECK_THAT(readers.back()->read_until("\r\n\r\n"), StartsWith("HTTP/1.1 200"));
    }
    CHECK(edge.metric("cdn_edge_inflight_body_bytes") <= 40.0 * (1 << 20));
    CHECK(edge.metric("cdn_edge_inflight_body_limit_bytes") == 40.0 * (1 << 20));
    CHECK(edge.metric("cdn_edge_inflight_bypassed_total") >= 4);
    // Every reader still gets its whole, right body, held or streamed through.
    for (int i : {0, 5}) {
        RawConnection& reader = *readers[static_cast<std::size_t>(i)];
        std::string all;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        std::size_t head_end = std::string::npos;
        while (std::chrono::steady_clock::now() < deadline) {
            all += reader.read_some(1 << 20, 1000ms);
            if (head_end == std::string::npos) head_end = all.find("\r\n\r\n");
            if (head_end != std::string::npos && all.size() >= head_end + 4 + kSize) break;
        }
        REQUIRE(head_end != std::string::npos);
        const std::string got = all.substr(head_end + 4);
        INFO("reader " << i);
        REQUIRE(got.size() == kSize);
        CHECK(got == cdn::origin_sim::make_body("/big/" + std::to_string(i), 1, kSize));
    }
    // When the readers leave, the memory goes back.
    readers.clear();
    CHECK(eventually([&] { return edge.metric("cdn_edge_inflight_body_bytes") == 0; }));
}

TEST_CASE("an origin that trickles a cacheable body cannot hold its fill past origin_fill",
          "[hostile][http1][origin]") {
    TempDir dir;
    const std::string body(400, 'b');
    ScriptedOrigin origin([&](const RecordedRequest&) { return http_response(200, body); });
    Edge edge(dir, origin.url(), "[timeouts]\norigin_response = \"5s\"\norigin_fill = \"1s\"\n");
    const std::string head = http_response(200, body);
    origin.trickle(head.size() - body.size() + 10, 50ms);  // 10 body bytes, then 1 every 50 ms
    const auto start = std::chrono::steady_clock::now();
    RawConnection c(edge.port());
    c.send("GET /trickle HTTP/1.1\r\nHost: a\r\n\r\n");
    // Cut at about 1 s (each byte came well within origin_response): a short body, then close.
    CHECK(c.closed_by_peer(10s));
    CHECK(std::chrono::steady_clock::now() - start < 4s);
    CHECK(edge.metric("cdn_edge_origin_errors_total{reason=\"timeout\"}") >= 1);
    CHECK(edge.metric("cdn_edge_cache_stores_total") == 0);
}

TEST_CASE("an origin's 103 reaches an HTTP/2 client before the final response too",
          "[hostile][http2][desync]") {
    TempDir dir;
    ScriptedOrigin origin([](const RecordedRequest& r) {
        return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; "
               "rel=preload; as=style\r\n\r\n" +
               http_response(200, "final " + r.target + "\n");
    });
    Edge edge(dir, origin.url(), "[server]\nh2c = true\n");
    const auto r = run_command(
        {"nghttp", "-v", "http://127.0.0.1:" + std::to_string(edge.port()) + "/h2hints"}, 15s);
    CHECK(r.status == 0);
    const auto hints = r.out.find(":status: 103");
    const auto final_response = r.out.find(":status: 200");
    REQUIRE(hints != std::string::npos);
    REQUIRE(final_response != std::string::npos);
    CHECK(hints < final_response);
    CHECK_THAT(r.out, Contains("link: </style.css>; rel=preload; as=style"));
    CHECK(r.out.find(":status: 100") == std::string::npos);
    CHECK_THAT(r.out, Contains("final /h2hints"));
}
