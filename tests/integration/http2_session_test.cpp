// The HTTP/2 server session on real loopback sockets: a test server runs serve_http2 over
// beast::tcp_stream with a fake RequestHandler, driven by real clients (nghttp, curl, h2load)
// and by a raw frame client for what real clients will not send (bad frames, too many streams,
// rapid reset).
#include "edge/http/http2_session.hpp"
#include "edge/http/address_budget.hpp"
#include "tests/support/h2_raw_client.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/process.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace cdn::edge::http;
using cdn::tcp;
using cdn::test::eventually;
using cdn::test::Process;
using cdn::test::run_command;
using cdn::test::TempDir;
using namespace cdn::test::h2;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::string pattern_body(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    return s;
}

std::size_t number_after(std::string_view target, std::string_view prefix) {
    std::size_t n = 0;
    target.remove_prefix(prefix.size());
    std::from_chars(target.data(), target.data() + target.size(), n);
    return n;
}

// A body handed out in 64 KiB pieces, each after a yield, as an origin relay would. `alive`
// counts the sources not yet destroyed (a pass-through relay holds an origin connection).
class PieceSource final : public BodySource {
  public:
    PieceSource(std::string body, std::atomic<int>& alive) : body_(std::move(body)), alive_(alive) {
        ++alive_;
    }
    ~PieceSource() override { --alive_; }
    PieceSource(const PieceSource&) = delete;
    PieceSource& operator=(const PieceSource&) = delete;
    asio::awaitable<cdn::Result<std::string_view>> next() override {
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        const std::string_view rest = std::string_view(body_).substr(offset_);
        const std::string_view piece = rest.substr(0, 64 * 1024);
        offset_ += piece.size();
        co_return piece;
    }

  private:
    std::string body_;
    std::size_t offset_ = 0;
    std::atomic<int>& alive_;
};

// /size/N: N bytes; /stream/N: N bytes through a BodySource; /slow: waits until release();
// /echo: method, host, body length and the body; /early: a 103 (with a Link and fields HTTP/2
// must not carry) before its 200; /slow-early: waits until release(), then the same.
class FakeHandler final : public RequestHandler {
  public:
    explicit FakeHandler(asio::io_context& io) : io_(io), latch_(io) {}

    asio::awaitable<Reply> handle(Request& req) override {
        const std::string target(req.msg.target());
        ++running;
        max_running = std::max(max_running.load(), running.load());
        Reply r;
        if (target.starts_with("/slow")) {
            ++slow_waiting;
            while (!released_) {
                latch_.expires_at(asio::steady_timer::time_point::max());
                co_await latch_.async_wait(nothrow);
            }
            --slow_waiting;
            if (target == "/slow-early" && req.interim)
                co_await req.interim->send_interim(103, "Link: </late.css>; rel=preload\r\n");
            r = make_reply(200, "slow done\n", OutcomeLabel::none);
        } else if (target == "/early") {
            if (req.interim)
                co_await req.interim->send_interim(
                    103,
                    "Link: </a.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\n"
                    "Keep-Alive: timeout=5\r\nLink: </b.js>; rel=preload; as=script\r\n");
            r = make_reply(200, "early done\n", OutcomeLabel::none);
        } else if (target.starts_with("/size/")) {
            r = make_reply(200, pattern_body(number_after(target, "/size/")), OutcomeLabel::none,
                           "application/octet-stream");
        } else if (target.starts_with("/stream/")) {
            r.object = cdn::make_response(
                200,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: "
                "keep-alive, x-private\r\nX-Private: 1\r\nTransfer-Encoding: chunked\r\n");
            r.outcome = OutcomeLabel::none;
            r.stream = std::make_unique<PieceSource>(pattern_body(number_after(target, "/stream/")),
                                                     sources_alive);
            r.chunked = true;
        } else if (target == "/echo") {
            r = make_reply(200,
                           "method=" + std::string(req.msg.method_string()) +
                               " host=" + std::string(req.msg[beast_http::field::host]) +
                               " len=" + std::to_string(req.msg.body().size()) + "\n",
                           OutcomeLabel::none);
        } else {
            r = make_reply(404, "not found\n", OutcomeLabel::none);
        }
        r.head_only = req.msg.method() == beast_http::verb::head;
        --running;
        co_return r;
    }

    void release() {
        asio::post(io_, [this] {
            released_ = true;
            latch_.cancel();
        });
    }

    std::atomic<int> slow_waiting{0};
    std::atomic<int> sources_alive{0};
    std::atomic<int> running{0};
    std::atomic<int> max_running{0};

  private:
    asio::io_context& io_;
    asio::steady_timer latch_;
    bool released_ = false;
};

class RecordingObserver final : public ExchangeObserver {
  public:
    struct Entry {
        std::string target;
        unsigned status;
        std::uint64_t bytes;
        std::string detail;
    };
    void on_exchange(const Request& req, const Reply& reply, std::uint64_t bytes_sent,
                     std::chrono::steady_clock::duration) override {
        std::lock_guard lock(mutex_);
        entries_.push_back(
            {std::string(req.msg.target()), reply.status(), bytes_sent, reply.detail});
    }
    void on_connection(int delta) override { connections += delta; }
    void on_http2(Http2Event event, std::uint32_t) override {
        ++events[static_cast<std::size_t>(event)];
    }
    int count(Http2Event event) const { return events[static_cast<std::size_t>(event)]; }
    std::vector<Entry> with_prefix(std::string_view prefix) const {
        std::lock_guard lock(mutex_);
        std::vector<Entry> out;
        for (const Entry& e : entries_)
            if (e.target.starts_with(prefix)) out.push_back(e);
        return out;
    }

    std::vector<Entry> entries() const {
        std::lock_guard lock(mutex_);
        return entries_;
    }
    std::size_t count_prefix(std::string_view prefix) const {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(
            std::count_if(entries_.begin(), entries_.end(),
                          [&](const Entry& e) { return e.target.starts_with(prefix); }));
    }
    std::atomic<int> connections{0};
    std::array<std::atomic<int>, 16> events{};

  private:
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
};

// Accepts on 127.0.0.1:0 and serves every connection with serve_http2 on one worker thread.
// With peek_preface the server reads the 24-byte h2c preface itself first and hands it over as
// already_read, as a cleartext listener detecting prior knowledge will.
class TestServer {
  public:
    explicit TestServer(Http2Limits limits = {}, bool peek_preface = false)
        : limits_(limits), peek_(peek_preface), acceptor_(io_), handler(io_) {
        acceptor_.open(tcp::v4());
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        port = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept_loop(this), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TestServer() {
        handler.release();
        shutdown->trigger();
        asio::post(io_, [this] {
            boost::system::error_code ec;
            acceptor_.close(ec);
        });
        eventually([this] { return open_ == 0; }, 20s);
        io_.stop();
        thread_.join();
    }
    std::string url(std::string_view path) const {
        return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
    }

    std::uint16_t port = 0;
    std::shared_ptr<GracefulShutdown> shutdown = std::make_shared<GracefulShutdown>();
    std::atomic<int> served{0};  // connections whose serve_http2 returned

  private:
    static asio::awaitable<void> accept_loop(TestServer* s) {
        for (int i = 0; i < 100000; ++i) {
            auto [ec, sock] = co_await s->acceptor_.async_accept(nothrow);
            if (ec) break;
            ++s->open_;
            asio::co_spawn(s->io_, serve(s, std::move(sock)), asio::detached);
        }
    }
    static asio::awaitable<void> serve(TestServer* s, tcp::socket sock) {
        beast::tcp_stream stream(std::move(sock));
        std::array<std::uint8_t, 24> preface{};
        std::span<const std::uint8_t> already;
        bool ok = true;
        if (s->peek_) {
            stream.expires_after(5s);
            auto [ec, n] = co_await asio::async_read(stream, asio::buffer(preface), nothrow);
            ok = !ec && std::string_view(reinterpret_cast<const char*>(preface.data()), n) ==
                            http2_client_preface;
            already = std::span<const std::uint8_t>(preface.data(), n);
        }
        if (ok)
            co_await serve_http2(stream, s->handler, s->limits_, &s->observer, already,
                                 s->shutdown);
        ++s->served;
        --s->open_;
    }

    Http2Limits limits_;
    bool peek_;
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<int> open_{0};

  public:
    FakeHandler handler;
    RecordingObserver observer;
};

// The server still answers on a new connection.
void check_still_serving(TestServer& server) {
    const auto r = run_command(
        {"curl", "-sS", "--http2-prior-knowledge", "--max-time", "10", server.url("/size/100")});
    CHECK(r.status == 0);
    CHECK(r.out == pattern_body(100));
}

}  // namespace

// ---- real clients ------------------------------------------------------------------------

TEST_CASE("nghttp GET of a small object over h2c prior knowledge", "[http2]") {
    TestServer server;
    const auto r = run_command({"nghttp", server.url("/size/1000")});
    CHECK(r.status == 0);
    CHECK(r.out == pattern_body(1000));
    REQUIRE(eventually([&] { return server.observer.count_prefix("/size/1000") == 1; }));
    const auto e = server.observer.entries().at(0);
    CHECK(e.status == 200);
    CHECK(e.bytes == 1000);
}

TEST_CASE("curl: GET, HEAD and POST, with the preface peeked by the listener", "[http2]") {
    Http2Limits limits;
    limits.max_body_bytes = 64 * 1024;
    TestServer server(limits, /*peek_preface=*/true);
    SECTION("GET") {
        const auto r = run_command(
            {"curl", "-sS", "--http2-prior-knowledge", "-D", "-", server.url("/size/5000")});
        CHECK(r.status == 0);
        CHECK_THAT(r.out, Contains("HTTP/2 200"));
        CHECK_THAT(r.out, Contains("content-length: 5000"));
        CHECK_THAT(r.out, Contains(pattern_body(5000)));
    }
    SECTION("HEAD has the length and no body") {
        const auto r =
            run_command({"curl", "-sS", "--http2-prior-knowledge", "-I", server.url("/size/5000")});
        CHECK(r.status == 0);
        CHECK_THAT(r.out, Contains("HTTP/2 200"));
        CHECK_THAT(r.out, Contains("content-length: 5000"));
        REQUIRE(eventually([&] { return server.observer.count_prefix("/size/5000") == 1; }));
        CHECK(server.observer.entries().at(0).bytes == 0);
    }
    SECTION("POST body reaches the handler, with Host from :authority") {
        const auto r =
            run_command({"curl", "-sS", "--http2-prior-knowledge", "-H", "Host: www.example.com",
                         "--data-binary", std::string(20000, 'x'), server.url("/echo")});
        CHECK(r.status == 0);
        CHECK(r.out == "method=POST host=www.example.com len=20000\n");
    }
    SECTION("a body over the limit gets 413") {
        // nghttp, not curl: curl 7.88 sometimes reports the RST_STREAM(NO_ERROR) that follows
        // an early response (RFC 9113 section 8.1) as a stream error.
        TempDir dir;
        const std::string file = dir.write("big", std::string(200 * 1024, 'y'));
        const auto r = run_command({"nghttp", "-d", file, server.url("/echo")});
        CHECK(r.status == 0);
        CHECK(r.out == "Request body too large\n");
    }
    SECTION("a streamed body drops hop-by-hop fields and those Connection names") {
        const auto r = run_command(
            {"curl", "-sS", "--http2-prior-knowledge", "-D", "-", server.url("/stream/300000")});
        CHECK(r.status == 0);
        CHECK_THAT(r.out, Contains("HTTP/2 200"));
        CHECK_THAT(r.out, !Contains("x-private") && !Contains("transfer-encoding") &&
                              !Contains("connection"));
        CHECK_THAT(r.out, Contains(pattern_body(300000)));
    }
}

TEST_CASE("4 MiB under a 16 KiB window: flow control paces the body", "[http2]") {
    TestServer server;
    const std::string expected = pattern_body(4 << 20);
    for (const char* path : {"/size/4194304", "/stream/4194304"}) {
        INFO(path);
        // -w/-W 14: stream and connection windows of 2^14-1 bytes.
        const auto r = run_command({"nghttp", "-w", "14", "-W", "14", server.url(path)}, 60s);
        CHECK(r.status == 0);
        CHECK(r.out.size() == expected.size());
        CHECK(r.out == expected);
    }
}

TEST_CASE("h2load: many streams on a few connections all succeed", "[http2]") {
    TestServer server;
    const auto r =
        run_command({"h2load", "-n", "2000", "-c", "4", "-m", "50", server.url("/size/2000")}, 60s);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("2000 total") && Contains("2000 succeeded, 0 failed, 0 errored"));
    CHECK_THAT(r.out, Contains("status codes: 2000 2xx"));
}

TEST_CASE("a slow stream does not hold up the fast ones on the same connection", "[http2]") {
    TestServer server;
    TempDir dir;
    const std::string log = (dir.path() / "nghttp.log").string();
    Process client({"nghttp", "-n", "-v", server.url("/slow"), server.url("/size/10"),
                    server.url("/size/20"), server.url("/size/30"), server.url("/stream/100000")},
                   log);
    // The fast ones are done (logged at stream close) while /slow is still in the handler.
    REQUIRE(eventually([&] {
        return server.observer.count_prefix("/size/") == 3 &&
               server.observer.count_prefix("/stream/") == 1;
    }));
    CHECK(server.handler.slow_waiting == 1);
    CHECK(server.observer.count_prefix("/slow") == 0);
    CHECK(server.observer.connections == 1);
    server.handler.release();
    CHECK(client.wait_exit(20s) == 0);
    REQUIRE(eventually([&] { return server.observer.count_prefix("/slow") == 1; }));
}

TEST_CASE("graceful shutdown: GOAWAY, in-flight streams finish, then the connection closes",
          "[http2]") {
    TestServer server;
    TempDir dir;
    const std::string log = (dir.path() / "nghttp.log").string();
    Process client({"nghttp", "-v", server.url("/slow")}, log);
    REQUIRE(eventually([&] { return server.handler.slow_waiting == 1; }));
    server.shutdown->trigger();
    REQUIRE(eventually([&] { return client.log().find("recv GOAWAY") != std::string::npos; }));
    CHECK(server.served == 0);  // still serving the slow stream
    server.handler.release();
    CHECK(client.wait_exit(20s) == 0);
    CHECK_THAT(client.log(), Contains("slow done"));
    CHECK_THAT(client.log(), Contains("error_code=NO_ERROR"));
    REQUIRE(eventually([&] { return server.served == 1; }));
    CHECK(server.observer.connections == 0);

    // A connection that arrives after the trigger gets GOAWAY at once.
    RawClient raw(server.port);
    raw.send(RawClient::preface());
    auto goaway = raw.read_until(is_goaway);
    REQUIRE(goaway);
    CHECK(raw.closed_by_server());
}

// ---- misbehaving clients -------------------------------------------------------------------

TEST_CASE("more streams than SETTINGS_MAX_CONCURRENT_STREAMS: the extra ones are refused",
          "[http2]") {
    Http2Limits limits;
    limits.max_concurrent_streams = 5;
    TestServer server(limits);
    RawClient c(server.port);
    std::string out = RawClient::preface();  // the server's SETTINGS are not acknowledged yet
    for (std::uint32_t i = 0; i < 8; ++i)
        out += c.headers(1 + 2 * i, "GET", "/slow");
    c.send(out);
    std::vector<Frame> seen;
    int refused = 0;
    REQUIRE(c.read_until(
        [&](const Frame& f) {
            if (f.type == NGHTTP2_RST_STREAM) {
                CHECK(f.error_code() == NGHTTP2_REFUSED_STREAM);
                CHECK(f.stream >= 11);
                ++refused;
            }
            return refused == 3;
        },
        &seen));
    REQUIRE(eventually([&] { return server.handler.slow_waiting == 5; }));
    server.handler.release();
    int answered = 0;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_DATA && (f.flags & NGHTTP2_FLAG_END_STREAM)) {
            CHECK(f.stream <= 9);
            ++answered;
        }
        return answered == 5;
    }));
}

TEST_CASE("a bad stream is reset, its neighbours are served", "[http2]") {
    TestServer server;
    RawClient c(server.port);
    // (One after the other: HPACK state depends on the order the blocks are encoded in.)
    std::string out = RawClient::preface();
    out += c.headers(1, "GET", "/size/10", true, /*with_path=*/false);
    out += c.headers(3, "GET", "/size/10");
    c.send(out);
    bool reset = false;
    bool answered = false;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_RST_STREAM && f.stream == 1) {
            CHECK(f.error_code() == NGHTTP2_PROTOCOL_ERROR);
            reset = true;
        }
        if (f.type == NGHTTP2_DATA && f.stream == 3 && (f.flags & NGHTTP2_FLAG_END_STREAM)) {
            CHECK(f.payload == pattern_body(10));
            answered = true;
        }
        CHECK(f.type != NGHTTP2_GOAWAY);
        return reset && answered;
    }));
}

TEST_CASE("a request body over the limit: 413 and RST_STREAM(NO_ERROR), the connection goes on",
          "[http2]") {
    Http2Limits limits;
    limits.max_body_bytes = 64 * 1024;
    TestServer server(limits);
    RawClient c(server.port);
    std::string out = RawClient::preface(/*ack=*/true);
    out += c.headers(1, "POST", "/echo", /*end_stream=*/false);
    for (int i = 0; i < 6; ++i)
        out += frame(NGHTTP2_DATA, 0, 1, std::string(16384, 'z'));
    out += frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "end");
    out += c.headers(3, "GET", "/size/10");
    c.send(out);
    bool too_large = false, reset = false, answered = false;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_DATA && f.stream == 1)
            too_large = f.payload == "Request body too large\n";
        if (f.type == NGHTTP2_RST_STREAM && f.stream == 1)
            reset = f.error_code() == NGHTTP2_NO_ERROR;
        if (f.type == NGHTTP2_DATA && f.stream == 3 && (f.flags & NGHTTP2_FLAG_END_STREAM))
            answered = f.payload == pattern_body(10);
        CHECK(f.type != NGHTTP2_GOAWAY);
        return too_large && reset && answered;
    }));
    REQUIRE(eventually([&] { return server.observer.count_prefix("/echo") == 1; }));
    CHECK(server.observer.entries().at(0).status == 413);
}

TEST_CASE("a stream whose request stalls gets 408 and RST_STREAM, its neighbours go on",
          "[http2]") {
    Http2Limits limits;
    limits.request_timeout = 300ms;
    TestServer server(limits);
    RawClient c(server.port);
    // Stream 1 opens an upload and never finishes it; the connection itself stays busy.
    c.send(RawClient::preface(/*ack=*/true) + c.headers(1, "POST", "/echo", /*end_stream=*/false) +
           frame(NGHTTP2_DATA, 0, 1, "partial"));
    bool timed_out = false, reset = false;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_DATA && f.stream == 1) timed_out = f.payload == "Request timeout\n";
        if (f.type == NGHTTP2_RST_STREAM && f.stream == 1)
            reset = f.error_code() == NGHTTP2_NO_ERROR;
        CHECK(f.type != NGHTTP2_GOAWAY);
        return timed_out && reset;
    }));
    c.send(c.headers(3, "GET", "/size/10"));
    REQUIRE(c.read_until([&](const Frame& f) {
        return f.type == NGHTTP2_DATA && f.stream == 3 && f.payload == pattern_body(10);
    }));
    REQUIRE(eventually([&] { return server.observer.count_prefix("/echo") == 1; }));
    CHECK(server.observer.entries().at(0).status == 408);
}

TEST_CASE(
    "uploads held by one connection are bounded: the stream that passes the budget is "
    "refused",
    "[http2]") {
    Http2Limits limits;
    limits.max_body_bytes = 64 * 1024;
    limits.max_connection_body_bytes = 100 * 1024;
    TestServer server(limits);
    RawClient c(server.port);
    const std::string chunk(16384, 'u');
    std::string out = RawClient::preface(/*ack=*/true);
    out += c.headers(1, "POST", "/echo", /*end_stream=*/false);
    out += c.headers(3, "POST", "/echo", /*end_stream=*/false);
    for (int i = 0; i < 3; ++i)  // 48 KiB each: 96 KiB held, under the budget
        out += frame(NGHTTP2_DATA, 0, 1, chunk) + frame(NGHTTP2_DATA, 0, 3, chunk);
    out += frame(NGHTTP2_DATA, 0, 3, chunk);  // 112 KiB: stream 3 is refused
    out += frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "end");
    c.send(out);
    bool refused = false, answered = false;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_RST_STREAM && f.stream == 3)
            refused = f.error_code() == NGHTTP2_REFUSED_STREAM;
        if (f.type == NGHTTP2_DATA && f.stream == 1)
            answered = f.payload == "method=POST host=h2.test len=49155\n";
        CHECK(f.type != NGHTTP2_GOAWAY);
        return refused && answered;
    }));
    // The budget is free again once the streams are gone: a new upload of 64 KiB is served.
    std::string again = c.headers(5, "POST", "/echo", /*end_stream=*/false);
    for (int i = 0; i < 3; ++i)
        again += frame(NGHTTP2_DATA, 0, 5, chunk);
    again += frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 5, chunk);
    c.send(again);
    REQUIRE(c.read_until([&](const Frame& f) {
        return f.type == NGHTTP2_DATA && f.stream == 5 &&
               f.payload == "method=POST host=h2.test len=65536\n";
    }));
}

TEST_CASE("a bad preface or a connection-level protocol error ends with GOAWAY", "[http2]") {
    TestServer server;
    SECTION("HTTP/1.1 instead of the preface") {
        RawClient c(server.port);
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_PROTOCOL_ERROR);
        CHECK(c.closed_by_server());
    }
    SECTION("DATA on stream 0") {
        RawClient c(server.port);
        c.send(RawClient::preface() + frame(NGHTTP2_DATA, 0, 0, "garbage"));
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_PROTOCOL_ERROR);
        CHECK(c.closed_by_server());
    }
    SECTION("random bytes after the preface") {
        RawClient c(server.port);
        std::string junk(4096, '\0');
        for (std::size_t i = 0; i < junk.size(); ++i)
            junk[i] = static_cast<char>(i * 131 + 7);
        c.send(RawClient::preface() + junk);
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() != NGHTTP2_NO_ERROR);
        CHECK(c.closed_by_server());
    }
    check_still_serving(server);
    REQUIRE(eventually([&] { return server.observer.connections == 0; }));
}

TEST_CASE("rapid reset: HEADERS + RST_STREAM x 1000 ends in GOAWAY(ENHANCE_YOUR_CALM)", "[http2]") {
    TestServer server;
    RawClient c(server.port);
    std::string out = RawClient::preface();
    for (std::uint32_t i = 0; i < 1000; ++i) {
        const std::uint32_t id = 1 + 2 * i;
        out += c.headers(id, "GET", "/size/10");
        out += frame(NGHTTP2_RST_STREAM, 0, id, u32(NGHTTP2_CANCEL));
    }
    c.send(out);
    auto g = c.read_until(is_goaway);
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(c.closed_by_server());
    check_still_serving(server);
}

TEST_CASE("rapid reset of slow streams: work in flight stays bounded", "[http2]") {
    Http2Limits limits;
    limits.max_concurrent_streams = 10;
    TestServer server(limits);
    RawClient c(server.port);
    std::string out = RawClient::preface();
    for (std::uint32_t i = 0; i < 1000; ++i) {
        const std::uint32_t id = 1 + 2 * i;
        out += c.headers(id, "GET", "/slow");
        out += frame(NGHTTP2_RST_STREAM, 0, id, u32(NGHTTP2_CANCEL));
    }
    std::thread writer([&] { c.send(out); });  // the server stops reading: do not block here
    REQUIRE(eventually([&] { return server.handler.slow_waiting >= 10; }));
    // Reading paused at max_orphaned_handlers (+ one read's worth of frames).
    CHECK(server.handler.max_running <= 300);
    server.handler.release();
    auto g = c.read_until(is_goaway);
    writer.join();
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(server.handler.max_running <= 300);
    check_still_serving(server);
}

TEST_CASE("an idle connection gets GOAWAY(NO_ERROR) and is closed", "[http2]") {
    Http2Limits limits;
    limits.idle_timeout = 200ms;
    TestServer server(limits);
    RawClient c(server.port);
    c.send(RawClient::preface());
    auto g = c.read_until(is_goaway);
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_NO_ERROR);
    CHECK(c.closed_by_server());
}

TEST_CASE("a request head over max_header_list_size gets 431", "[http2]") {
    Http2Limits limits;
    limits.max_header_list_size = 4096;
    TestServer server(limits);
    const auto r = run_command({"curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                "%{http_code}\\n", "-H", "X-Big: " + std::string(8000, 'b'),
                                server.url("/size/10")});
    CHECK(r.out == "431\n");

    // The next stream on the same connection is served. (Raw frames: curl 7.88 cannot reuse a
    // prior-knowledge connection, curl/curl#10634.)
    RawClient c(server.port);
    std::string out = RawClient::preface(/*ack=*/true);
    out += c.headers(1, "GET", "/size/10", true, true, {{"x-big", std::string(8000, 'b')}});
    out += c.headers(3, "GET", "/size/10");
    c.send(out);
    bool too_large = false, answered = false;
    REQUIRE(c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_DATA && f.stream == 1)
            too_large = f.payload == "Request header fields too large\n";
        if (f.type == NGHTTP2_DATA && f.stream == 3 && (f.flags & NGHTTP2_FLAG_END_STREAM))
            answered = f.payload == pattern_body(10);
        CHECK(f.type != NGHTTP2_GOAWAY);
        return too_large && answered;
    }));
}

TEST_CASE("serve_http2 instantiates for the stream types the listeners will use", "[http2]") {
    // Compile-time check: plain socket, beast::tcp_stream, and TLS over tcp_stream (ALPN h2).
    [[maybe_unused]] auto* plain = &serve_http2<tcp::socket>;
    [[maybe_unused]] auto* stream = &serve_http2<beast::tcp_stream>;
    [[maybe_unused]] auto* tls = &serve_http2<beast::ssl_stream<beast::tcp_stream>>;
    CHECK(plain != nullptr);
    CHECK(stream != nullptr);
    CHECK(tls != nullptr);
}

// ---- issue 13: hostile clients -------------------------------------------------------------

TEST_CASE(
    "a client that keeps its stream windows shut: the stalled streams are reset after "
    "send_timeout and their bodies released",
    "[http2]") {
    Http2Limits limits;
    limits.send_timeout = 300ms;
    TestServer server(limits);
    RawClient c(server.port);
    // SETTINGS_INITIAL_WINDOW_SIZE 0: no DATA may be sent on any stream.
    // (One statement each: HPACK state depends on the order the blocks are encoded in.)
    std::string out = RawClient::preface(/*ack=*/true, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
    out += c.headers(1, "GET", "/stream/1000000");
    out += c.headers(3, "GET", "/size/1000000");
    c.send(out);
    REQUIRE(eventually([&] { return server.handler.sources_alive == 1; }));
    int resets = 0;
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(c.read_until([&](const Frame& f) {
        CHECK(f.type != NGHTTP2_GOAWAY);
        if (f.type == NGHTTP2_DATA) CHECK(f.payload.empty());
        if (f.type == NGHTTP2_RST_STREAM) {
            CHECK((f.stream == 1 || f.stream == 3));
            CHECK(f.error_code() == NGHTTP2_CANCEL);
            ++resets;
        }
        return resets == 2;
    }));
    CHECK(std::chrono::steady_clock::now() - started >= 250ms);
    // The streamed body's source (an origin connection, for a pass-through) is gone.
    REQUIRE(eventually([&] { return server.handler.sources_alive == 0; }));
    REQUIRE(eventually([&] {
        return server.observer.count_prefix("/stream/") == 1 &&
               server.observer.count_prefix("/size/") == 1;
    }));
    for (const auto& e : server.observer.entries())
        CHECK(e.detail == "send timeout");
    CHECK(server.observer.count(Http2Event::limit_stream_stall) == 2);
    // The connection goes on: once the client opens its windows, a new stream is served.
    c.send(settings({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535}}) +
           c.headers(5, "GET", "/size/10"));
    REQUIRE(c.read_until([&](const Frame& f) {
        return f.type == NGHTTP2_DATA && f.stream == 5 && f.payload == pattern_body(10);
    }));
}

TEST_CASE("a client that keeps the connection window shut: GOAWAY after send_timeout", "[http2]") {
    Http2Limits limits;
    limits.send_timeout = 300ms;
    TestServer server(limits);
    RawClient c(server.port);
    // Stream windows of 1 MiB, but the connection window stays at its initial 65535 bytes.
    c.send(RawClient::preface(/*ack=*/true, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}}) +
           c.headers(1, "GET", "/stream/1000000"));
    std::size_t received = 0;
    auto g = c.read_until([&](const Frame& f) {
        if (f.type == NGHTTP2_DATA) received += f.payload.size();
        return is_goaway(f);
    });
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(received == 65535);
    CHECK(c.closed_by_server());
    REQUIRE(eventually([&] { return server.handler.sources_alive == 0; }));
    CHECK(server.observer.count(Http2Event::limit_connection_stall) == 1);
    REQUIRE(eventually([&] { return server.observer.count_prefix("/stream/") == 1; }));
    CHECK(server.observer.entries().at(0).detail == "send timeout");
}

TEST_CASE("an HPACK bomb ends the connection with COMPRESSION_ERROR, not after decoding it",
          "[http2]") {
    TestServer server;  // max_header_list_size 32 KiB: decoding stops past 64 KiB
    RawClient c(server.port);
    SECTION("in request heads") {
        // 20 blocks of ~13 KiB, each decoding to ~30 MB of fields (600 MB in all).
        std::string out = RawClient::preface(/*ack=*/true);
        for (std::uint32_t i = 0; i < 20; ++i)
            out += hpack_bomb(1 + 2 * i, "/size/10", 3000, 10000, /*first_on_connection=*/i == 0);
        c.send(out);
    }
    SECTION("in trailers") {
        std::string out = RawClient::preface(/*ack=*/true);
        out += c.headers(1, "POST", "/echo", /*end_stream=*/false);
        out += hpack_bomb(1, "", 3000, 10000);
        c.send(out);
    }
    const auto started = std::chrono::steady_clock::now();
    auto g = c.read_until(is_goaway);
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_COMPRESSION_ERROR);
    CHECK(c.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    CHECK(server.observer.count(Http2Event::limit_header_block) == 1);
    check_still_serving(server);
}

TEST_CASE("floods of frames that do no useful work end in GOAWAY(ENHANCE_YOUR_CALM)", "[http2]") {
    Http2Limits limits;
    limits.cheap_frame_burst = 100;
    limits.cheap_frame_rate = 10;
    TestServer server(limits);
    RawClient c(server.port);
    std::string out = RawClient::preface(/*ack=*/true);
    std::string flood;
    SECTION("PING") {
        flood = frame(NGHTTP2_PING, 0, 0, std::string(8, 'p'));
    }
    SECTION("PRIORITY") {
        flood = frame(NGHTTP2_PRIORITY, 0, 3, u32(1) + std::string(1, '\x10'));
    }
    SECTION("WINDOW_UPDATE of 1 byte") {
        flood = window_update(0, 1);
    }
    SECTION("unknown frame type") {
        flood = frame(0x42, 0, 0, "xyz");
    }
    SECTION("SETTINGS") {
        flood = settings({});
    }
    SECTION("empty DATA on an open upload") {
        out += c.headers(1, "POST", "/echo", /*end_stream=*/false);
        flood = frame(NGHTTP2_DATA, 0, 1, {});
    }
    SECTION("DATA with nothing but padding") {
        out += c.headers(1, "POST", "/echo", /*end_stream=*/false);
        flood = frame(NGHTTP2_DATA, NGHTTP2_FLAG_PADDED, 1, std::string("\x03", 1) + "pad");
    }
    SECTION("empty HEADERS and CONTINUATION fragments") {
        // Requests whose head comes after an empty HEADERS and 7 empty CONTINUATIONs (nghttp2
        // itself allows 8 CONTINUATIONs per block): 8 cheap frames per request.
        for (std::uint32_t i = 0; i < 30; ++i) {
            const std::uint32_t id = 1 + 2 * i;
            out += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, id, {});
            for (int j = 0; j < 7; ++j)
                out += frame(NGHTTP2_CONTINUATION, 0, id, {});
            out += frame(NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, id,
                         c.headers(id, "GET", "/size/10").substr(9));
        }
    }
    for (int i = 0; i < 500 && !flood.empty(); ++i)
        out += flood;
    c.send(out);
    auto g = c.read_until(is_goaway);
    REQUIRE(g);
    CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(c.closed_by_server());
    CHECK(server.observer.count(Http2Event::limit_cheap_frames) == 1);
    check_still_serving(server);
}

TEST_CASE("WINDOW_UPDATEs that open a reply's window are not cheap frames", "[http2]") {
    Http2Limits limits;
    limits.cheap_frame_burst = 20;
    limits.cheap_frame_rate = 1;
    TestServer server(limits);
    RawClient c(server.port);
    // A 1 KiB stream window reopened 1 KiB at a time: 600 WINDOW_UPDATEs (stream and
    // connection) for a 300 KiB reply.
    c.send(RawClient::preface(/*ack=*/true, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024}}) +
           c.headers(1, "GET", "/size/307200"));
    std::string body;
    REQUIRE(c.read_until([&](const Frame& f) {
        CHECK(f.type != NGHTTP2_GOAWAY);
        if (f.type != NGHTTP2_DATA || f.stream != 1) return false;
        body += f.payload;
        if (f.flags & NGHTTP2_FLAG_END_STREAM) return true;
        const auto n = static_cast<std::uint32_t>(f.payload.size());
        c.send(window_update(1, n) + window_update(0, n));  // the stream's and the connection's
        return false;
    }));
    CHECK(body == pattern_body(307200));
    CHECK(server.observer.count(Http2Event::limit_cheap_frames) == 0);
}

TEST_CASE("rapid reset across connections: the client address runs out of its budget", "[http2]") {
    cdn::test::ManualClock clock;
    AddressResetBudget budget({.burst = 50, .rate = 1, .slots = 64}, clock);
    Http2Limits limits;  // 200 resets per connection: each connection alone stays under it
    limits.address_resets = &budget;
    TestServer server(limits);
    auto resets = [](RawClient& c, std::uint32_t count) {
        std::string out = RawClient::preface();
        for (std::uint32_t i = 0; i < count; ++i) {
            out += c.headers(1 + 2 * i, "GET", "/size/10");
            out += rst_stream(1 + 2 * i);
        }
        return out;
    };
    {
        RawClient c(server.port);  // 30 resets, then a request that is served
        std::string out = resets(c, 30);
        out += c.headers(61, "GET", "/size/10");
        c.send(out);
        REQUIRE(c.read_until([&](const Frame& f) {
            CHECK(f.type != NGHTTP2_GOAWAY);
            return f.type == NGHTTP2_DATA && f.stream == 61;
        }));
    }
    {
        RawClient c(server.port);  // 30 more: the address's 50 run out on this one
        c.send(resets(c, 30));
        auto g = c.read_until(is_goaway);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
        CHECK(c.closed_by_server());
    }
    {
        RawClient c(server.port);  // a new connection from it is turned away at once
        c.send(RawClient::preface() + c.headers(1, "GET", "/size/10"));
        std::vector<Frame> seen;
        auto g = c.read_until(is_goaway, &seen);
        REQUIRE(g);
        CHECK(g->error_code() == NGHTTP2_ENHANCE_YOUR_CALM);
        for (const Frame& f : seen)
            CHECK(f.type != NGHTTP2_HEADERS);
        CHECK(c.closed_by_server());
    }
    {
        RawClient c(server.port, "127.0.0.2");  // another address is served
        c.send(RawClient::preface() + c.headers(1, "GET", "/size/10"));
        REQUIRE(c.read_until([&](const Frame& f) {
            CHECK(f.type != NGHTTP2_GOAWAY);
            return f.type == NGHTTP2_DATA && f.stream == 1 && f.payload == pattern_body(10);
        }));
    }
    clock.advance(10s);  // 10 tokens back
    {
        RawClient c(server.port);
        c.send(RawClient::preface() + c.headers(1, "GET", "/size/10"));
        REQUIRE(c.read_until([&](const Frame& f) {
            CHECK(f.type != NGHTTP2_GOAWAY);
            return f.type == NGHTTP2_DATA && f.stream == 1;
        }));
    }
    CHECK(server.observer.count(Http2Event::limit_address_resets) == 2);
}

TEST_CASE("103 Early Hints reach an HTTP/2 client before the final response", "[http2]") {
    TestServer server;
    const auto r = run_command({"nghttp", "-v", server.url("/early")});
    CHECK(r.status == 0);
    const auto s103 = r.out.find(":status: 103");
    const auto link_a = r.out.find("link: </a.css>; rel=preload");
    const auto link_b = r.out.find("link: </b.js>; rel=preload; as=script");
    const auto s200 = r.out.find(":status: 200");
    REQUIRE(s103 != std::string::npos);
    REQUIRE(s200 != std::string::npos);
    CHECK(s103 < link_a);
    CHECK(link_a < link_b);
    CHECK(link_b < s200);
    // Connection-specific fields and the one Connection names are not sent.
    CHECK_THAT(r.out, !Contains("x-hop") && !Contains("keep-alive") && !Contains("connection:"));
    CHECK_THAT(r.out, Contains("early done"));
}

TEST_CASE("103 Early Hints for a stream already reset: nothing is sent", "[http2]") {
    TestServer server;
    RawClient c(server.port);
    c.send(RawClient::preface(/*ack=*/true) + c.headers(1, "GET", "/slow-early") + rst_stream(1));
    REQUIRE(eventually([&] { return server.handler.slow_waiting == 1; }));
    server.handler.release();
    REQUIRE(eventually([&] { return server.observer.count_prefix("/slow-early") == 1; }));
    c.send(c.headers(3, "GET", "/size/10"));
    std::vector<Frame> seen;
    REQUIRE(c.read_until(
        [&](const Frame& f) {
            return f.type == NGHTTP2_DATA && f.stream == 3 && f.payload == pattern_body(10);
        },
        &seen));
    for (const Frame& f : seen)
        CHECK(f.stream != 1);
}
