#include "edge/upstream/origin_pool.hpp"

#include "common/log.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <utility>
#include <variant>

namespace cdn::edge::upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

bool idempotent(beast_http::verb v) {
    using beast_http::verb;
    return v == verb::get || v == verb::head || v == verb::options || v == verb::put ||
           v == verb::delete_ || v == verb::trace;
}

bool connection_lost(const boost::system::error_code& ec) {
    return ec == beast_http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::connection_aborted || ec == asio::ssl::error::stream_truncated;
}

Errc classify(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return Errc::origin_timeout;
    if (connection_lost(ec)) return Errc::origin_closed;
    if (ec == beast_http::error::body_limit || ec == beast_http::error::header_limit)
        return Errc::origin_bad_response;
    if (ec.category() == beast_http::make_error_code(beast_http::error::bad_target).category())
        return Errc::origin_bad_response;
    return Errc::origin_closed;
}

}  // namespace

// One origin connection: plain TCP or TLS over TCP. The helpers below take either through
// std::visit, so the request, response and body code is written once.
struct OriginConnection {
    using Plain = beast::tcp_stream;
    using Tls = beast::ssl_stream<beast::tcp_stream>;

    explicit OriginConnection(const asio::any_io_executor& ex)
        : stream(std::in_place_type<Plain>, ex) {}
    OriginConnection(const asio::any_io_executor& ex, asio::ssl::context& ctx)
        : stream(std::in_place_type<Tls>, ex, ctx) {}
    OriginConnection(const OriginConnection&) = delete;
    OriginConnection& operator=(const OriginConnection&) = delete;
    ~OriginConnection() {
        // No close_notify is sent (HTTP framing, not TLS, ends a response), but the session stays
        // resumable: OpenSSL would otherwise mark it unusable on SSL_free.
        if (SSL* s = ssl()) SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }

    beast::tcp_stream& tcp() {
        return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
                          stream);
    }
    SSL* ssl() {
        Tls* t = std::get_if<Tls>(&stream);
        return t ? t->native_handle() : nullptr;
    }

    std::variant<Plain, Tls> stream;
};

namespace {

using Connection = OriginConnection;

// The key of a server's idle connections and TLS session: the scheme, the address and, for TLS,
// everything the handshake checked (context, name, verification), so a connection made for one
// group's TLS settings never serves another's.
std::string pool_key_of(const OriginServer& server) {
    if (!server.tls) return "http " + to_string(server.endpoint);
    return fmt::format("https {} {} {} {}", to_string(server.endpoint), server.tls->server_name,
                       static_cast<const void*>(server.tls->context.get()),
                       server.tls->verify ? "verify" : "no-verify");
}

// "https://origin.example (192.0.2.1:443)", or just "https://127.0.0.1:8443".
std::string describe(const OriginServer& server) {
    std::string out = fmt::format("{}://{}", server.url.scheme, server.url.authority());
    if (const std::string ep = to_string(server.endpoint); ep != server.url.authority())
        out += fmt::format(" ({})", ep);
    return out;
}

// The I/O steps, on either kind of stream.
// The request as it goes on the wire. The fields are written as they are: the caller never sets
// Transfer-Encoding (a body goes with Content-Length, see EdgeHandler::origin_request).
std::string serialize(const OriginRequest& req) {
    const std::string_view method = req.method_string();
    const std::string_view target = req.target();
    std::size_t size = method.size() + target.size() + 16 + req.body().size();
    for (const auto& f : req)
        size += f.name_string().size() + f.value().size() + 4;
    std::string out;
    out.reserve(size);
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    for (const auto& f : req)
        out.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
    out.append("\r\n").append(req.body());
    return out;
}

// One write of one buffer (Beast's serializer costs a sixth of a miss's instructions and may
// split the head from the body).
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_request(
    Connection& c, const OriginRequest& req) {
    if (req.chunked())  // never, see serialize(); Beast frames it then
        co_return co_await std::visit(
            [&](auto& s) { return beast_http::async_write(s, req, nothrow); }, c.stream);
    const std::string wire = serialize(req);
    co_return co_await std::visit(
        [&](auto& s) { return asio::async_write(s, asio::buffer(wire), nothrow); }, c.stream);
}

template <class Parser>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_header(
    Connection& c, beast::flat_buffer& buffer, Parser& parser) {
    return std::visit(
        [&](auto& s) { return beast_http::async_read_header(s, buffer, parser, nothrow); },
        c.stream);
}

template <class Parser>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> receive_some(
    Connection& c, beast::flat_buffer& buffer, Parser& parser) {
    return std::visit(
        [&](auto& s) { return beast_http::async_read_some(s, buffer, parser, nothrow); }, c.stream);
}

}  // namespace

void OriginPool::SessionFree::operator()(SSL_SESSION* s) const noexcept {
    SSL_SESSION_free(s);
}

OriginPool::OriginPool(asio::any_io_executor executor, PoolSettings settings)
    : executor_(std::move(executor)), settings_(settings) {}

OriginPool::~OriginPool() = default;

std::size_t OriginPool::idle_connections() const {
    std::size_t n = 0;
    for (const auto& [k, v] : idle_)
        n += v.size();
    return n;
}

asio::awaitable<Result<std::unique_ptr<Connection>>> OriginPool::connect(
    const OriginServer& server, const std::string& pool_key) {
    auto conn = server.tls ? std::make_unique<Connection>(executor_, *server.tls->context)
                           : std::make_unique<Connection>(executor_);
    beast::tcp_stream& lowest = conn->tcp();
    // One deadline for the TCP connect and the TLS handshake together.
    lowest.expires_after(server.connect_timeout.value_or(settings_.connect_timeout));
    auto [ec] = co_await lowest.async_connect(server.endpoint, nothrow);
    if (ec) co_return ec == beast::error::timeout ? Errc::origin_timeout : Errc::origin_unreachable;
    boost::system::error_code ignored;
    lowest.socket().set_option(tcp::no_delay(true), ignored);
    if (!server.tls) co_return conn;

    auto& tls = std::get<Connection::Tls>(conn->stream);
    SSL* ssl = tls.native_handle();
    if (!prepare_tls_client(ssl, *server.tls)) {
        tls_failed(server, pool_key, "invalid server name \"" + server.tls->server_name + "\"");
        co_return Errc::origin_tls;
    }
    if (auto it = sessions_.find(pool_key); it != sessions_.end())
        SSL_set_session(ssl, it->second.get());  // resumption; a full handshake if refused
    auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, nothrow);
    if (hec == beast::error::timeout) co_return Errc::origin_timeout;
    if (hec) {
        sessions_.erase(pool_key);
        tls_failed(server, pool_key, tls_handshake_failure(hec, ssl));
        co_return Errc::origin_tls;
    }
    remember_session(pool_key, *conn);
    co_return conn;
}

void OriginPool::remember_session(const std::string& pool_key, Connection& conn) {
    SSL* ssl = conn.ssl();
    if (!ssl) return;
    // TLS 1.3 tickets arrive after the handshake (read with the first response), so this is
    // called again then; a session without a ticket yet is not resumable and is not kept.
    SSL_SESSION* session = SSL_get1_session(ssl);
    if (!session) return;
    if (SSL_SESSION_is_resumable(session) != 1) {
        SSL_SESSION_free(session);
        return;
    }
    sessions_[pool_key].reset(session);
}

void OriginPool::tls_failed(const OriginServer& server, const std::string& pool_key,
                            std::string why) {
    const auto now = std::chrono::steady_clock::now();
    auto [it, first] = tls_warned_.try_emplace(pool_key, now);
    if (first || now - it->second >= std::chrono::seconds(10)) {
        it->second = now;
        log_warn("origin {}: TLS handshake failed (server name \"{}\"): {}", describe(server),
                 server.tls->server_name, why);
    }
    last_tls_failure_ = std::move(why);
}

constexpr std::size_t kBodyReadSize = 64 * 1024;

struct OriginBody::State {
    OriginPool* pool = nullptr;
    std::string pool_key;
    std::unique_ptr<OriginConnection> stream;
    beast::flat_buffer buffer;
    // Re-made for each message read: interim (1xx) responses come before the final one.
    std::optional<beast_http::response_parser<beast_http::buffer_body>> parser{std::in_place};
    std::chrono::milliseconds timeout{0};
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    bool failed = false;
    bool reusable = true;  // false: the origin answered before an announced body was sent
};

OriginBody::OriginBody(std::unique_ptr<State> state) : state_(std::move(state)) {}
OriginBody::~OriginBody() = default;  // an unfinished body closes its connection

bool OriginBody::done() const {
    return !state_->stream || state_->parser->is_done();
}

std::size_t OriginBody::buffered() const {
    // With a length (never chunked, see content_length), what follows the head in the buffer is
    // body: the edge never pipelines requests to an upstream.
    if (!state_->stream || !state_->parser->content_length()) return 0;
    return state_->buffer.size();
}

std::optional<std::uint64_t> OriginBody::content_length() const {
    if (auto n = state_->parser->content_length()) return *n;
    return std::nullopt;
}

asio::awaitable<Result<std::size_t>> OriginBody::read_some(char* out, std::size_t n) {
    State& s = *state_;
    for (;;) {
        if (s.failed) co_return Errc::origin_closed;
        if (done()) co_return std::size_t{0};
        auto& parser = *s.parser;
        parser.get().body().data = out;
        parser.get().body().size = n;
        const auto now = std::chrono::steady_clock::now();
        if (now >= s.deadline) {
            s.stream.reset();
            s.failed = true;
            co_return Errc::origin_timeout;
        }
        s.stream->tcp().expires_at(s.deadline - now < s.timeout ? s.deadline : now + s.timeout);
        auto [ec, ignored] = co_await receive_some(*s.stream, s.buffer, parser);
        if (ec == beast_http::error::need_buffer) ec = {};
        if (ec) {
            s.stream.reset();
            s.failed = true;
            co_return classify(ec);
        }
        const std::size_t got = n - parser.get().body().size;
        if (parser.is_done()) {
            // Reuse only a connection whose framing left nothing unread.
            if (parser.keep_alive() && s.buffer.size() == 0 && s.reusable)
                s.pool->give_back(s.pool_key, std::move(s.stream));
            s.stream.reset();
        }
        if (got > 0 || done()) co_return got;
    }
}

void OriginBody::set_deadline(std::chrono::steady_clock::time_point deadline) {
    state_->deadline = deadline;
}

void OriginPool::give_back(const std::string& pool_key, std::unique_ptr<Connection> conn) {
    auto& idle = idle_[pool_key];
    if (idle.size() >= settings_.max_idle_per_server) return;
    conn->tcp().expires_never();
    idle.push_back(std::move(conn));
}

namespace {

// Asks `upload` for the body (once: `body` keeps it for a retry) and writes it. `unreadable`
// when the client's body could not be had.
asio::awaitable<boost::system::error_code> send_upload(OriginConnection& c,
                                                       const UploadProvider& upload,
                                                       std::optional<std::string>& body,
                                                       bool& unreadable) {
    if (!body) body = co_await upload();
    if (!body) {
        unreadable = true;
        co_return make_error_code(asio::error::operation_aborted);
    }
    auto [ec, n] = co_await std::visit(
        [&](auto& s) { return asio::async_write(s, asio::buffer(*body), nothrow); }, c.stream);
    co_return ec;
}

// Waits until the connection has something to read, at most `limit`; false when it did not.
asio::awaitable<bool> readable_within(OriginConnection& c, std::chrono::milliseconds limit) {
    auto& socket = c.tcp().socket();
    asio::steady_timer timer(socket.get_executor(), limit);
    // Not a coroutine: on expiry it cancels the wait below, unless that wait is over already
    // (a handler queued just as the socket became readable must not cancel a later read).
    auto over = std::make_shared<bool>(false);
    timer.async_wait([&socket, over](const boost::system::error_code& e) {
        boost::system::error_code ignored;
        if (!e && !*over) socket.cancel(ignored);
    });
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, nothrow);
    *over = true;
    timer.cancel();
    co_return !ec;
}

}  // namespace

asio::awaitable<Result<StreamedResponse>> OriginPool::fetch_head(const OriginServer& server,
                                                                 const OriginRequest& req,
                                                                 const InterimHandler* interim,
                                                                 const UploadProvider* upload) {
    const std::string pool_key = pool_key_of(server);
    last_tls_failure_.clear();
    const bool expect = upload && *upload;
    std::optional<std::string> body;  // the upload, once had (a retry sends it again)
    bool unreadable = false;
    // Sends the upload's body, asking for it first; an error code when that failed.
    auto send_body = [&](OriginConnection& c) -> asio::awaitable<boost::system::error_code> {
        return send_upload(c, *upload, body, unreadable);
    };
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto state = std::make_unique<OriginBody::State>();
        state->pool = this;
        state->pool_key = pool_key;
        state->timeout = server.response_timeout.value_or(settings_.response_timeout);
        bool reused = false;
        if (auto& idle = idle_[pool_key]; !idle.empty() && attempt == 0) {
            state->stream = std::move(idle.back());
            idle.pop_back();
            reused = true;
        } else {
            auto c = co_await connect(server, pool_key);
            if (!c) co_return c.error();
            state->stream = std::move(*c);
        }
        // One deadline for the request and every response head, interim ones included.
        state->stream->tcp().expires_after(state->timeout);
        // Beast sizes each socket read by the buffer's free capacity (512 bytes at least): room
        // for the head and a small body, so one read takes both (a miss then stores at once).
        state->buffer.reserve(kBodyReadSize);
        auto [wec, wn] = co_await write_request(*state->stream, req);
        boost::system::error_code ec = wec;
        bool got_some = false;
        bool body_due = expect;  // announced, not sent yet
        if (!ec && body_due && state->buffer.size() == 0 &&
            !co_await readable_within(*state->stream, kExpectWait)) {
            // RFC 9110 section 10.1.1: an origin that says nothing gets the body anyway.
            ec = co_await send_body(*state->stream);
            body_due = false;
            state->stream->tcp().expires_after(state->timeout);
        }
        for (int interims = 0; !ec; ++interims) {
            auto& parser = *state->parser;
            parser.header_limit(settings_.max_header_bytes);
            parser.body_limit(boost::none);  // storing limits are the caller's; streaming has none
            if (req.method() == beast_http::verb::head) parser.skip(true);
            std::tie(ec, std::ignore) = co_await read_header(*state->stream, state->buffer, parser);
            got_some = got_some || parser.got_some();
            if (ec) break;
            const unsigned status = parser.get().result_int();
            if (status < 100 || status >= 200) break;  // the final response
            // RFC 9110 section 15.2: an interim response; the final one follows on the same
            // connection. A 101 switches protocols only when asked to, and the edge never asks.
            if (status == 101 || interims >= kMaxInterimResponses)
                co_return Errc::origin_bad_response;
            if (status == 103 && interim && *interim) co_await (*interim)(parser.get().base());
            state->parser.emplace();
            if (status == 100 && body_due) {
                ec = co_await send_body(*state->stream);
                body_due = false;
                state->stream->tcp().expires_after(state->timeout);
            }
        }
        if (unreadable) co_return Errc::bad_request;  // the client's body, not the origin
        // A final answer before the body: the origin will not read what it was promised, so
        // the connection carries nothing more.
        if (body_due) state->reusable = false;
        if (ec) {
            if (reused && !got_some && connection_lost(ec) && idempotent(req.method()))
                continue;  // the origin closed an idle connection; try a fresh one
            co_return classify(ec);
        }
        auto& parser = *state->parser;
        remember_session(pool_key, *state->stream);  // now with the TLS 1.3 ticket, if any
        StreamedResponse res;
        // The head moves out (no copy of every field); the parser keeps what it needs of it
        // (length, keep-alive) in its own state.
        res.head = std::move(parser.get().base());
        if (parser.is_done() && parser.keep_alive() && state->buffer.size() == 0 &&
            state->reusable) {
            give_back(pool_key, std::move(state->stream));  // no body (HEAD, 204, 304)
            state->stream.reset();
        }
        res.body = std::unique_ptr<OriginBody>(new OriginBody(std::move(state)));
        co_return res;
    }
    co_return Errc::origin_closed;
}

asio::awaitable<Result<OriginResponse>> OriginPool::fetch(const OriginServer& server,
                                                          const OriginRequest& req) {
    auto head = co_await fetch_head(server, req);
    if (!head) co_return head.error();
    OriginResponse res;
    res.base() = std::move(head->head);
    std::string& body = res.body();
    char chunk[16 * 1024];
    for (;;) {
        auto n = co_await head->body->read_some(chunk, sizeof chunk);
        if (!n) co_return n.error();
        if (*n == 0) break;
        if (body.size() + *n > settings_.max_body_bytes) co_return Errc::origin_bad_response;
        body.append(chunk, *n);
    }
    co_return res;
}

}  // namespace cdn::edge::upstream
