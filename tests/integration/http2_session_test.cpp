// The HTTP/2 server session on real loopback sockets: a test server runs serve_http2 over
// beast::tcp_stream with a fake RequestHandler, driven by real clients (nghttp, curl, h2load)
// and by a raw frame client for what real clients will not send (bad frames, too many streams,
// rapid reset).
#include "edge/http/http2_session.hpp"
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

#include <sys/socket.h>
#include <sys/time.h>

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

// A body handed out in 64 KiB pieces, each after a yield, as an origin relay would.
class PieceSource final : public BodySource {
  public:
    explicit PieceSource(std::string body) : body_(std::move(body)) {}
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
};

// /size/N: N bytes; /stream/N: N bytes through a BodySource; /slow: waits until release();
// /echo: method, host, body length and the body.
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
            r = make_reply(200, "slow done\n", cdn::edge::cache::Outcome::miss);
        } else if (target.starts_with("/size/")) {
            r = make_reply(200, pattern_body(number_after(target, "/size/")),
                           cdn::edge::cache::Outcome::hit, "application/octet-stream");
        } else if (target.starts_with("/stream/")) {
            auto obj = std::make_shared<cdn::edge::storage::CachedObject>();
            obj->status = 200;
            obj->head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: "
                "keep-alive, x-private\r\nX-Private: 1\r\nTransfer-Encoding: chunked\r\n";
            r.object = std::move(obj);
            r.outcome = cdn::edge::cache::Outcome::miss;
            r.stream =
                std::make_unique<PieceSource>(pattern_body(number_after(target, "/stream/")));
            r.chunked = true;
        } else if (target == "/echo") {
            r = make_reply(200,
                           "method=" + std::string(req.msg.method_string()) +
                               " host=" + std::string(req.msg[beast_http::field::host]) +
                               " len=" + std::to_string(req.msg.body().size()) + "\n",
                           cdn::edge::cache::Outcome::pass);
        } else {
            r = make_reply(404, "not found\n", cdn::edge::cache::Outcome::synthetic);
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

// ---- a raw frame client ------------------------------------------------------------------

struct Frame {
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream = 0;
    std::string payload;
    std::uint32_t error_code() const {  // RST_STREAM, GOAWAY
        const std::size_t at = type == NGHTTP2_GOAWAY ? 4 : 0;
        if (payload.size() < at + 4) return 0xffffffff;
        return (std::uint32_t(std::uint8_t(payload[at])) << 24) |
               (std::uint32_t(std::uint8_t(payload[at + 1])) << 16) |
               (std::uint32_t(std::uint8_t(payload[at + 2])) << 8) |
               std::uint32_t(std::uint8_t(payload[at + 3]));
    }
};

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    std::string f;
    const std::size_t n = payload.size();
    f.push_back(static_cast<char>(n >> 16));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f.push_back(static_cast<char>((stream >> 24) & 0x7f));
    f.push_back(static_cast<char>(stream >> 16));
    f.push_back(static_cast<char>(stream >> 8));
    f.push_back(static_cast<char>(stream));
    f.append(payload);
    return f;
}

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

class RawClient {
  public:
    explicit RawClient(std::uint16_t port) : sock_(io_) {
        sock_.connect({asio::ip::make_address("127.0.0.1"), port});
        timeval tv{10, 0};
        ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        nghttp2_hd_deflate_new(&deflater_, 4096);
    }
    ~RawClient() { nghttp2_hd_deflate_del(deflater_); }

    void send(std::string_view bytes) {
        boost::system::error_code ec;
        asio::write(sock_, asio::buffer(bytes), ec);
    }
    // The preface and our SETTINGS; with ack, also the acknowledgement of the server's
    // SETTINGS (sent at once: the server submits them before it reads anything).
    static std::string preface(bool ack = false) {
        return std::string(http2_client_preface) + frame(NGHTTP2_SETTINGS, 0, 0, {}) +
               (ack ? frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, {}) : std::string());
    }
    // A HEADERS frame (END_HEADERS, and END_STREAM unless a body follows) for method + path.
    std::string headers(std::uint32_t stream, std::string_view method, std::string_view path,
                        bool end_stream = true, bool with_path = true,
                        std::vector<std::pair<std::string, std::string>> extra = {}) {
        std::vector<std::pair<std::string, std::string>> fields = {
            {":method", std::string(method)}, {":scheme", "http"}, {":authority", "h2.test"}};
        if (with_path) fields.emplace_back(":path", std::string(path));
        fields.insert(fields.end(), extra.begin(), extra.end());
        std::vector<nghttp2_nv> nv;
        for (auto& [k, v] : fields)
            nv.push_back({reinterpret_cast<std::uint8_t*>(k.data()),
                          reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                          NGHTTP2_NV_FLAG_NONE});
        std::string block(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
        const auto n =
            nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(block.data()),
                                  block.size(), nv.data(), nv.size());
        REQUIRE(n >= 0);
        block.resize(static_cast<std::size_t>(n));
        return frame(NGHTTP2_HEADERS,
                     NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), stream,
                     block);
    }
    // The next frame; nullopt at EOF, on error or after the 10 s receive timeout.
    std::optional<Frame> read() {
        std::array<std::uint8_t, 9> h{};
        boost::system::error_code ec;
        asio::read(sock_, asio::buffer(h), ec);
        if (ec) return std::nullopt;
        Frame f;
        const std::size_t len = (std::size_t(h[0]) << 16) | (std::size_t(h[1]) << 8) | h[2];
        f.type = h[3];
        f.flags = h[4];
        f.stream = ((std::uint32_t(h[5]) & 0x7f) << 24) | (std::uint32_t(h[6]) << 16) |
                   (std::uint32_t(h[7]) << 8) | h[8];
        f.payload.resize(len);
        asio::read(sock_, asio::buffer(f.payload), ec);
        if (ec) return std::nullopt;
        return f;
    }
    // Reads frames until pred(frame) is true (returns it) or the connection ends (nullopt).
    template <class Pred>
    std::optional<Frame> read_until(Pred pred, std::vector<Frame>* seen = nullptr) {
        for (int i = 0; i < 100000; ++i) {
            auto f = read();
            if (!f) return std::nullopt;
            if (seen) seen->push_back(*f);
            if (pred(*f)) return f;
        }
        return std::nullopt;
    }
    // True when the server closes the connection (EOF or reset) within the receive timeout.
    bool closed_by_server() {
        for (int i = 0; i < 100000; ++i) {
            std::array<char, 4096> buf{};
            boost::system::error_code ec;
            sock_.read_some(asio::buffer(buf), ec);
            if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
            if (ec) return false;  // timeout
        }
        return false;
    }

  private:
    asio::io_context io_;
    tcp::socket sock_;
    nghttp2_hd_deflater* deflater_ = nullptr;
};

bool is_goaway(const Frame& f) {
    return f.type == NGHTTP2_GOAWAY;
}

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
