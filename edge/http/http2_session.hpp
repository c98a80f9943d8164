#pragma once
// The HTTP/2 server session (RFC 9113, nghttp2): frames in and out of one connection, each
// stream turned into a Request for the same RequestHandler the HTTP/1.1 session uses, run as a
// coroutine of its own so a slow stream (a miss) never holds up a fast one (a hit). Replies are
// streamed under HTTP/2 flow control: a body is pulled from the Reply only as fast as the
// client's windows allow, never buffered whole.
//
// Threading: everything for one connection runs on the stream's executor, which must be
// single-threaded (one io_context per worker, as the edge runs) or a strand. Http2Shutdown is the
// only object meant to be touched from other threads.
//
// Ownership: serve_http2 borrows the stream, the handler, the limits and the observer; all must
// outlive the call. It returns only after every handler coroutine it started has finished, so
// nothing it spawned outlives it.
#include "edge/http/exchange.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::edge::http {

// The client connection preface; a cleartext listener that sees it knows the client speaks h2c
// with prior knowledge (RFC 9113 section 3.3).
inline constexpr std::string_view http2_client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Http2Limits {
    // Advertised in SETTINGS.
    std::uint32_t max_concurrent_streams = 100;
    std::uint32_t initial_window_size = 256 * 1024;  // per stream, for request bodies
    std::uint32_t max_header_list_size = 32 * 1024;  // larger request heads get 431
    std::uint32_t header_table_size = 4096;          // HPACK table the client may use with us
    // HPACK table we use towards the client (capped by what it allows) and the largest header
    // block we send.
    std::uint32_t max_deflate_table_size = 4096;
    std::uint32_t max_send_header_block = 64 * 1024;
    std::uint64_t max_body_bytes = 16 * 1024 * 1024;  // larger request bodies get 413
    // Rapid reset (CVE-2023-44487): RST_STREAMs from the client are a token bucket of
    // `reset_burst` tokens refilled at `reset_rate` per second; an empty bucket ends the
    // connection with GOAWAY(ENHANCE_YOUR_CALM). nghttp2's own limiter (Debian's 1.52 has the
    // backport, GOAWAY(INTERNAL_ERROR)) is set to twice these values as a backstop.
    std::uint32_t reset_burst = 200;
    std::uint32_t reset_rate = 20;
    // Handlers still running for streams the client already closed (reset) count against this;
    // beyond it the session stops reading until some finish, so reset streams cannot pile up
    // work. 0: max_concurrent_streams.
    std::uint32_t max_orphaned_handlers = 0;
    // No frame read, nothing written and no handler running: GOAWAY and close.
    std::chrono::milliseconds idle_timeout{60'000};
    // A write that makes no progress for this long aborts the connection.
    std::chrono::milliseconds send_timeout{60'000};
    // After a graceful shutdown starts, streams in flight get this long to finish.
    std::chrono::milliseconds shutdown_timeout{30'000};
    std::string_view scheme = "http";  // Request::scheme when the client sends no :scheme
};

// A graceful-shutdown broadcast for every HTTP/2 connection given it. trigger() sends each one a
// shutdown notice (GOAWAY with the maximum stream id), then, one round trip later, a GOAWAY with
// the last stream it accepted; streams in flight finish (within Http2Limits::shutdown_timeout),
// then the connection closes. Connections that start after trigger() close at once with GOAWAY.
// Thread-safe; share it through shared_ptr between the listener and its connections.
class Http2Shutdown {
  public:
    void trigger();
    bool triggered() const;

    // For serve_http2: `wake` is run (from trigger's thread; it must post to its own executor)
    // once on trigger. Returns an id for unsubscribe. If already triggered, wake runs at once.
    std::uint64_t subscribe(std::function<void()> wake);
    void unsubscribe(std::uint64_t id);

  private:
    mutable std::mutex mutex_;
    bool triggered_ = false;
    std::uint64_t next_id_ = 1;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> subscribers_;
};

namespace detail {

// The byte stream seen through type erasure: one virtual call per read or write of a whole
// buffer, never per byte. serve_http2 wraps the caller's stream in one of these.
class ByteStream {
  public:
    virtual ~ByteStream() = default;
    virtual boost::asio::any_io_executor executor() = 0;
    virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buf) = 0;
    virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> write(
        boost::asio::const_buffer buf) = 0;
    // Closes the underlying socket: pending operations complete with an error.
    virtual void abort() = 0;
    // Stops sending (TCP FIN) after the last frame; reading still works.
    virtual void shutdown_send() = 0;
    virtual tcp::endpoint remote_endpoint() = 0;
};

boost::asio::awaitable<void> run_http2(ByteStream& io, RequestHandler& handler,
                                       const Http2Limits& limits, ExchangeObserver* observer,
                                       std::span<const std::uint8_t> already_read,
                                       std::shared_ptr<Http2Shutdown> shutdown);

template <class Stream>
class ByteStreamOf final : public ByteStream {
  public:
    explicit ByteStreamOf(Stream& s) : s_(s) {}
    boost::asio::any_io_executor executor() override { return s_.get_executor(); }
    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buf) override {
        auto [ec, n] =
            co_await s_.async_read_some(buf, boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return std::pair{ec, n};
    }
    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> write(
        boost::asio::const_buffer buf) override {
        auto [ec, n] = co_await boost::asio::async_write(
            s_, buf, boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return std::pair{ec, n};
    }
    void abort() override {
        boost::system::error_code ec;
        socket().close(ec);
    }
    void shutdown_send() override {
        boost::system::error_code ec;
        socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    tcp::endpoint remote_endpoint() override {
        boost::system::error_code ec;
        return socket().remote_endpoint(ec);
    }

  private:
    tcp::socket& socket() {
        auto& lowest = boost::beast::get_lowest_layer(s_);
        if constexpr (requires { lowest.socket(); })
            return lowest.socket();  // beast::tcp_stream (also under an ssl_stream)
        else
            return lowest;  // a plain tcp::socket
    }
    Stream& s_;
};

}  // namespace detail

// Serves one HTTP/2 connection until the client leaves, an error, the idle timeout or a
// graceful shutdown. Stream is a beast::tcp_stream, an ssl_stream over one (after the TLS
// handshake, ALPN "h2"), or a tcp::socket. `already_read` holds bytes the caller read before
// deciding this is HTTP/2 (e.g. the h2c preface it peeked); they are processed first. The
// caller closes the stream afterwards (for TLS, after async_shutdown); a beast timeout set on it
// is cleared (the session keeps its own).
template <class Stream>
boost::asio::awaitable<void> serve_http2(Stream& stream, RequestHandler& handler,
                                         const Http2Limits& limits, ExchangeObserver* observer,
                                         std::span<const std::uint8_t> already_read = {},
                                         std::shared_ptr<Http2Shutdown> shutdown = nullptr) {
    auto& lowest = boost::beast::get_lowest_layer(stream);
    if constexpr (requires { lowest.expires_never(); }) lowest.expires_never();
    detail::ByteStreamOf<Stream> io(stream);
    co_await detail::run_http2(io, handler, limits, observer, already_read, std::move(shutdown));
}

}  // namespace cdn::edge::http
