#include "edge/http/http1_session.hpp"

#include "common/http_io.hpp"
#include "common/log.hpp"
#include "edge/http/http2_session.hpp"
#include "edge/http/tls_context.hpp"
#include "edge/http/tls_record_batch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <cstdio>
#include <type_traits>

namespace cdn::edge::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Maps a read failure to the reply a client should get, or nullopt when the connection should
// just close (peer went away, nothing was sent).
std::optional<Reply> reply_for_read_error(const boost::system::error_code& ec, bool got_some) {
    if (ec == beast_http::error::header_limit)
        return make_reply(431, "Request header fields too large\n", OutcomeLabel::session_error);
    if (ec == beast_http::error::body_limit)
        return make_reply(413, "Request body too large\n", OutcomeLabel::session_error);
    if (ec == beast::error::timeout)
        return got_some ? std::optional(
                              make_reply(408, "Request timeout\n", OutcomeLabel::session_error))
                        : std::nullopt;
    if (ec == beast_http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
        return got_some ? std::optional(
                              make_reply(400, "Incomplete request\n", OutcomeLabel::session_error))
                        : std::nullopt;
    if (ec.category() == beast_http::make_error_code(beast_http::error::bad_target).category())
        return make_reply(400, "Bad request\n", OutcomeLabel::session_error);
    return std::nullopt;
}

// Closes without losing the last reply: over TLS, close_notify first (waiting up to a second
// for the client's), then the TCP half-close and drain.
template <class Stream>
asio::awaitable<void> close_gracefully(Stream& stream) {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        co_await http_io::lingering_close(stream);
    } else {
        stream.next_layer().expires_after(std::chrono::seconds(1));
        co_await stream.async_shutdown(nothrow);
        co_await http_io::lingering_close(stream.next_layer());
    }
}

// HTTP/2 with the session's own limits (header and body bytes, idle and send timeouts).
Http2Limits http2_limits(const SessionLimits& limits) {
    Http2Limits h2 = limits.http2;
    h2.max_header_list_size = limits.max_header_bytes;
    h2.max_body_bytes = limits.max_body_bytes;
    h2.idle_timeout = limits.idle_timeout;
    h2.request_timeout = limits.request_timeout;
    h2.send_timeout = limits.send_timeout;
    h2.scheme = limits.scheme;
    h2.shutdown_timeout = limits.drain_timeout;
    return h2;
}

// With h2c on, reads until the buffer holds the whole client preface or stops matching it;
// true when a connection opens with the preface (it stays in the buffer for serve_http2).
asio::awaitable<bool> opens_with_preface(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
    for (;;) {
        const std::string_view have(static_cast<const char*>(buffer.data().data()), buffer.size());
        const std::size_t n = std::min(have.size(), http2_client_preface.size());
        if (have.substr(0, n) != http2_client_preface.substr(0, n)) co_return false;
        if (n == http2_client_preface.size()) co_return true;
        auto [ec, got] = co_await stream.async_read_some(buffer.prepare(4096), nothrow);
        if (ec) co_return false;  // the HTTP/1.1 path sees the same bytes and handles the end
        buffer.commit(got);
    }
}

// A session's view of the graceful shutdown. The wake-up is posted to the session's executor
// and finds the state through a shared_ptr, so it may run after the session has ended.
class DrainWatch {
  public:
    DrainWatch(GracefulShutdown* shutdown, tcp::socket& socket)
        : shutdown_(shutdown), state_(std::make_shared<State>()) {
        state_->socket = &socket;
        if (!shutdown_) return;
        id_ = shutdown_->subscribe([state = state_, ex = socket.get_executor()] {
            asio::post(ex, [state] {
                state->draining = true;
                boost::system::error_code ignored;
                if (state->idle && state->socket) state->socket->cancel(ignored);
            });
        });
    }
    ~DrainWatch() {
        if (shutdown_) shutdown_->unsubscribe(id_);
        state_->socket = nullptr;
    }
    DrainWatch(const DrainWatch&) = delete;
    DrainWatch& operator=(const DrainWatch&) = delete;

    bool draining() const { return state_->draining; }
    // While idle (waiting for the first byte of a request) a shutdown cancels the read.
    void set_idle(bool idle) { state_->idle = idle; }

  private:
    struct State {
        bool draining = false;
        bool idle = false;
        tcp::socket* socket = nullptr;
    };
    GracefulShutdown* shutdown_;
    std::uint64_t id_ = 0;
    std::shared_ptr<State> state_;
};

// Interim responses (103 Early Hints relayed from the origin) on an HTTP/1.1 connection: written
// at once, before the final response, under the send timeout. HTTP/1.0 clients get none (RFC
// 9110 section 15.2). A failed write is remembered; the final response's write then fails too.
template <class Stream>
class Http1Interim final : public InterimWriter {
  public:
    Http1Interim(Stream& stream, std::chrono::milliseconds send_timeout)
        : stream_(stream), send_timeout_(send_timeout) {}
    void start(unsigned version) {
        version_ = version;
        sent_ = 0;
    }
    std::uint64_t bytes_sent() const { return sent_; }

    asio::awaitable<void> send_interim(unsigned status, std::string_view fields) override {
        if (version_ < 11 || failed_ || status < 102 || status > 199) co_return;
        std::string head = "HTTP/1.1 " + std::to_string(status) +
                           (status == 103   ? " Early Hints\r\n"
                            : status == 102 ? " Processing\r\n"
                                            : " Informational\r\n");
        head.append(fields).append("\r\n");
        beast::get_lowest_layer(stream_).expires_after(send_timeout_);
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(head), nothrow);
        sent_ += n;
        if (ec) failed_ = true;
    }

  private:
    Stream& stream_;
    std::chrono::milliseconds send_timeout_;
    unsigned version_ = 11;
    std::uint64_t sent_ = 0;
    bool failed_ = false;
};

// The body of a request that expects 100-continue, read when the pipeline asks for it: 100
// Continue first, then the body through the request's own parser, under the request timeout.
template <class Stream>
class Http1DeferredBody final : public DeferredBody {
  public:
    using Parser = beast_http::request_parser<beast_http::string_body>;
    Http1DeferredBody(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                      std::chrono::milliseconds timeout)
        : stream_(stream), buffer_(buffer), parser_(parser), timeout_(timeout) {}
    // Whether the body was read to its end (else the connection cannot carry another request).
    bool complete() const { return read_ && !failed_; }

    asio::awaitable<std::optional<std::string>> read() override {
        if (!read_) {
            read_ = true;
            auto ec = co_await http_io::read_request_body(stream_, buffer_, parser_, timeout_);
            failed_ = static_cast<bool>(ec);
        }
        if (failed_) co_return std::nullopt;
        co_return parser_.get().body();
    }

  private:
    Stream& stream_;
    beast::flat_buffer& buffer_;
    Parser& parser_;
    std::chrono::milliseconds timeout_;
    bool read_ = false;
    bool failed_ = false;
};

// Sends the buffers in order. Over TLS, through a TlsRecordBatch instead of asio's stream (which
// makes a record and a syscall of each buffer, and copies every byte twice through its BIO
// pair): the head and a small body join in one record; a large body is encrypted from where it
// lies, in batches of at most kTlsBatch bytes of records, each sent with one write.
template <class Stream>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> send_buffers(
    Stream& stream, detail::TlsRecordBatch& tls, const std::array<asio::const_buffer, 3>& bufs) {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        co_return co_await asio::async_write(stream, bufs, nothrow);
    } else {
        constexpr std::size_t kJoin = 16 * 1024;  // one TLS record
        constexpr std::size_t kTlsBatch = 256 * 1024;
        std::string joined;
        std::size_t total = 0;
        for (const auto& b : bufs)
            total += b.size();
        joined.reserve(std::min(total, kJoin));
        std::size_t i = 0;
        std::size_t at = 0;  // offset in bufs[i]
        for (; i < bufs.size(); ++i, at = 0) {
            const std::size_t take = std::min(bufs[i].size(), kJoin - joined.size());
            joined.append(static_cast<const char*>(bufs[i].data()), take);
            at = take;
            if (at < bufs[i].size()) break;
        }
        if (!tls.encrypt(stream.native_handle(), asio::buffer(joined)))
            co_return std::tuple{boost::system::error_code(asio::error::connection_aborted),
                                 std::size_t{0}};
        std::size_t sent = 0;
        std::size_t batch = joined.size();  // plaintext bytes in the records not yet sent
        for (;;) {
            // Fill the batch from the rest (the large body), then send it.
            for (; i < bufs.size() && tls.records().size() < kTlsBatch; ++i, at = 0) {
                const char* p = static_cast<const char*>(bufs[i].data());
                const std::size_t take = std::min(bufs[i].size() - at, kTlsBatch);
                if (take > 0 && !tls.encrypt(stream.native_handle(), asio::buffer(p + at, take)))
                    co_return std::tuple{boost::system::error_code(asio::error::connection_aborted),
                                         sent};
                at += take;
                batch += take;
                if (at < bufs[i].size()) break;
            }
            if (tls.records().empty()) break;
            auto [ec, n] = co_await asio::async_write(stream.next_layer(),
                                                      asio::buffer(tls.records()), nothrow);
            tls.sent();
            if (ec) co_return std::tuple{ec, sent};
            sent += batch;
            batch = 0;
            if (i >= bufs.size()) break;
        }
        co_return std::tuple{boost::system::error_code(), total};
    }
}

// The request/reply loop, for a plain or a TLS stream (timeouts live on the TCP layer).
template <class Stream>
asio::awaitable<void> run_exchanges(Stream& stream, const tcp::endpoint& client,
                                    RequestHandler& handler, const SessionLimits& limits,
                                    ExchangeObserver* observer,
                                    const std::shared_ptr<GracefulShutdown>& shutdown,
                                    std::string_view tls = {}) {
    auto& tcp_layer = beast::get_lowest_layer(stream);
    DrainWatch drain(shutdown.get(), tcp_layer.socket());
    Http1Interim<Stream> interim(stream, limits.send_timeout);
    detail::TlsRecordBatch tls_out;  // TLS replies (send_buffers)
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        // Wait for the first byte of the next request under the idle timeout (a shutdown ends
        // the wait)...
        if (buffer.size() == 0) {
            if (drain.draining()) break;
            tcp_layer.expires_after(limits.idle_timeout);
            drain.set_idle(true);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), nothrow);
            drain.set_idle(false);
            if (ec) break;
            buffer.commit(n);
        }
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            if (first && limits.h2c && co_await opens_with_preface(stream, buffer)) {
                const auto* bytes = static_cast<const std::uint8_t*>(buffer.data().data());
                co_await serve_http2(stream, handler, http2_limits(limits), observer,
                                     std::span<const std::uint8_t>(bytes, buffer.size()), shutdown);
                co_return;
            }
        }
        first = false;
        // ...then the whole request under the (shorter) request timeout.
        const auto started = std::chrono::steady_clock::now();
        beast_http::request_parser<beast_http::string_body> parser;
        parser.header_limit(limits.max_header_bytes);
        parser.body_limit(limits.max_body_bytes);
        tcp_layer.expires_after(limits.request_timeout);
        Request req;
        req.scheme = limits.scheme;
        req.client = client;
        req.tls = tls;
        Reply reply;
        boost::system::error_code ec = co_await http_io::read_request_head(stream, buffer, parser);
        std::optional<Reply> refused;
        const bool expecting = !ec && !parser.is_done() && http_io::expects_continue(parser.get());
        if (expecting) {
            // RFC 9110 section 10.1.1: a final answer instead of 100 Continue, body unread.
            req.msg.base() = parser.get().base();
            refused = handler.precheck(req);
        }
        // An upload that expects 100-continue with a known length: the pipeline reads the body
        // when the origin asks for it (its 100), or never.
        const bool defer = expecting && !refused && parser.content_length().has_value();
        Http1DeferredBody<Stream> deferred(stream, buffer, parser, limits.request_timeout);
        if (!ec && !refused && !defer)
            ec =
                co_await http_io::read_request_body(stream, buffer, parser, limits.request_timeout);
        if (refused) {
            reply = std::move(*refused);
            reply.close = true;
        } else if (defer) {
            interim.start(req.msg.version());
            req.interim = &interim;
            req.deferred_body = &deferred;
            reply = co_await handler.handle(req);
            req.interim = nullptr;
            req.deferred_body = nullptr;
            if (!deferred.complete()) reply.close = true;  // the body is still on the wire
        } else if (ec) {
            auto r = reply_for_read_error(ec, true);
            if (!r) break;
            reply = std::move(*r);
            reply.close = true;
            reply.detail = ec.message();
            if (parser.is_header_done()) req.msg = parser.release();
        } else {
            req.msg = parser.release();
            interim.start(req.msg.version());
            req.interim = &interim;
            reply = co_await handler.handle(req);
            req.interim = nullptr;
        }
        if (ec == beast::error::timeout) {
            // The stream closed the socket when the timer fired: record the 408 (as nginx
            // does) without sending it.
            if (observer)
                observer->on_exchange(req, reply, 0, std::chrono::steady_clock::now() - started);
            break;
        }
        const bool keep_alive = !reply.close && req.msg.keep_alive() && !drain.draining();
        std::string tail = std::move(reply.extra);
        if (!keep_alive)
            tail.append("Connection: close\r\n");
        else if (req.msg.version() == 10)
            tail.append("Connection: keep-alive\r\n");
        tail.append("\r\n");
        const std::string_view head = reply.object->head();
        std::uint64_t written = 0;
        boost::system::error_code wec;
        tcp_layer.expires_after(limits.send_timeout);
        if (reply.stream && !reply.head_only) {
            // Head first, then the body as it arrives from the origin.
            std::tie(wec, written) = co_await asio::async_write(
                stream, std::array<asio::const_buffer, 2>{asio::buffer(head), asio::buffer(tail)},
                nothrow);
            bool complete = false;
            while (!wec) {
                auto piece = co_await reply.stream->next();
                if (!piece) break;  // cut short upstream: close, the client sees a short body
                char size_line[32];
                const int len =
                    std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece->size());
                std::size_t n = 0;
                tcp_layer.expires_after(limits.send_timeout);
                if (piece->empty()) {
                    complete = true;
                    if (reply.chunked)
                        std::tie(wec, n) = co_await asio::async_write(
                            stream, asio::buffer(std::string_view("0\r\n\r\n")), nothrow);
                    written += n;
                    break;
                }
                if (reply.chunked)
                    std::tie(wec, n) = co_await asio::async_write(
                        stream,
                        std::array<asio::const_buffer, 3>{
                            asio::buffer(size_line, static_cast<std::size_t>(len)),
                            asio::buffer(*piece), asio::buffer(std::string_view("\r\n"))},
                        nothrow);
                else
                    std::tie(wec, n) =
                        co_await asio::async_write(stream, asio::buffer(*piece), nothrow);
                written += n;
            }
            if (!complete && !wec) wec = asio::error::connection_aborted;
        } else {
            const bool send_body = !reply.head_only && reply.object->body;
            const std::array<asio::const_buffer, 3> buffers = {
                asio::buffer(head), asio::buffer(tail),
                send_body ? asio::buffer(std::string_view(*reply.object->body)
                                             .substr(reply.body_offset, reply.body_length))
                          : asio::const_buffer()};
            std::tie(wec, written) = co_await send_buffers(stream, tls_out, buffers);
        }
        if (observer)
            observer->on_exchange(req, reply, written + interim.bytes_sent(),
                                  std::chrono::steady_clock::now() - started);
        if (wec || !keep_alive) break;
    }
    co_await close_gracefully(stream);
}

tcp::endpoint remote_of(tcp::socket& socket) {
    boost::system::error_code ec;
    return socket.remote_endpoint(ec);
}

std::string_view tls_version(SSL* ssl) {
    switch (SSL_version(ssl)) {
        case TLS1_3_VERSION: return "1.3";
        case TLS1_2_VERSION: return "1.2";
        default: return "other";
    }
}

// The same as the access log shows it (as nginx's $ssl_protocol does).
std::string_view tls_protocol(std::string_view version) {
    return version == "1.3" ? "TLSv1.3" : version == "1.2" ? "TLSv1.2" : "TLS";
}

}  // namespace

asio::awaitable<void> serve_http1(tcp::socket socket, RequestHandler& handler,
                                  const SessionLimits& limits, ExchangeObserver* observer,
                                  std::shared_ptr<GracefulShutdown> shutdown) {
    const tcp::endpoint client = remote_of(socket);
    beast::tcp_stream stream(std::move(socket));
    if (observer) observer->on_connection(+1);
    co_await run_exchanges(stream, client, handler, limits, observer, shutdown);
    if (observer) observer->on_connection(-1);
}

asio::awaitable<void> serve_http1_tls(tcp::socket socket, std::shared_ptr<const TlsContextSet> tls,
                                      RequestHandler& handler, const SessionLimits& limits,
                                      ExchangeObserver* observer, TlsObserver* tls_observer,
                                      std::shared_ptr<GracefulShutdown> shutdown) {
    const tcp::endpoint client = remote_of(socket);
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls->initial_context());
    if (observer) observer->on_connection(+1);
    stream.next_layer().expires_after(tls->handshake_timeout());
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    if (ec) {
        // OpenSSL has queued its alert (if the protocol has one) and asio has sent it by now.
        const TlsFailure reason = classify_handshake_error(ec);
        if (tls_observer) tls_observer->on_handshake_failure(reason);
        if (log_enabled(LogLevel::debug))
            log(LogLevel::debug, "tls handshake from {} failed ({}): {}", to_string(client),
                label(reason), ec.message());
        co_await http_io::lingering_close(stream.next_layer());
    } else {
        const std::string_view version = tls_version(stream.native_handle());
        if (tls_observer) tls_observer->on_handshake(version);
        // ALPN "h2" (offered only when [tls] alpn lists it) hands the stream to HTTP/2.
        const unsigned char* proto = nullptr;
        unsigned int proto_len = 0;
        SSL_get0_alpn_selected(stream.native_handle(), &proto, &proto_len);
        if (proto_len == 2 && proto[0] == 'h' && proto[1] == '2') {
            Http2Limits h2 = http2_limits(limits);
            h2.tls = tls_protocol(version);
            co_await serve_http2(stream, handler, h2, observer, {}, shutdown);
        } else {
            co_await run_exchanges(stream, client, handler, limits, observer, shutdown,
                                   tls_protocol(version));
        }
    }
    if (observer) observer->on_connection(-1);
}

}  // namespace cdn::edge::http
