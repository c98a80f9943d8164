#pragma once
// The HTTP/2 server session (RFC 9113, nghttp2): frames in and out of one connection, each
// stream turned into a Request for the same RequestHandler the HTTP/1.1 session uses, run as a
// coroutine of its own so a slow stream (a miss) never holds up a fast one (a hit). Replies are
// streamed under HTTP/2 flow control: a body is pulled from the Reply only as fast as the
// client's windows allow, never buffered whole.
//
// Threading: everything for one connection runs on the stream's executor, which must be
// single-threaded (one io_context per worker, as the edge runs) or a strand. The GracefulShutdown
// is the only object meant to be touched from other threads.
//
// Ownership: serve_http2 borrows the stream, the handler, the limits and the observer; all must
// outlive the call. It returns only after every handler coroutine it started has finished, so
// nothing it spawned outlives it.
#include "edge/http/exchange.hpp"
#include "edge/http/graceful_shutdown.hpp"
#include "edge/http/http2_limits.hpp"
#include "edge/http/tls_record_batch.hpp"

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
#include <string>

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
                                       std::shared_ptr<GracefulShutdown> shutdown);

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
        if constexpr (requires {
                          s_.native_handle();
                          s_.next_layer();
                      }) {
            // TLS: encrypt the batch here, then one write of its records on the TCP stream.
            if (!tls_out_.encrypt(s_.native_handle(), buf))
                co_return std::pair{
                    boost::system::error_code(boost::asio::error::connection_aborted),
                    std::size_t{0}};
            auto [ec, n] = co_await boost::asio::async_write(
                s_.next_layer(), boost::asio::buffer(tls_out_.records()),
                boost::asio::as_tuple(boost::asio::use_awaitable));
            tls_out_.sent();
            co_return std::pair{ec, ec ? std::size_t{0} : buf.size()};
        } else {
            auto [ec, n] = co_await boost::asio::async_write(
                s_, buf, boost::asio::as_tuple(boost::asio::use_awaitable));
            co_return std::pair{ec, n};
        }
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
    TlsRecordBatch tls_out_;  // used by TLS streams only
};

}  // namespace detail

// Serves one HTTP/2 connection until the client leaves, an error, the idle timeout or a
// graceful shutdown. Stream is a beast::tcp_stream, an ssl_stream over one (after the TLS
// handshake, ALPN "h2"), or a tcp::socket. `already_read` holds bytes the caller read before
// deciding this is HTTP/2 (e.g. the h2c preface it peeked); they are processed first. The
// caller closes the stream afterwards (for TLS, after async_shutdown); a beast timeout set on it
// is cleared (the session keeps its own).
// `shutdown` (may be null): once triggered, the session sends a shutdown notice (GOAWAY with the
// maximum stream id) and a PING, then, when the PING is acknowledged (or after 1 s), a GOAWAY
// with the last stream it accepted; streams in flight finish (within limits.shutdown_timeout),
// then the connection closes. A connection that starts after the trigger closes at once with
// GOAWAY.
template <class Stream>
boost::asio::awaitable<void> serve_http2(Stream& stream, RequestHandler& handler,
                                         const Http2Limits& limits, ExchangeObserver* observer,
                                         std::span<const std::uint8_t> already_read = {},
                                         std::shared_ptr<GracefulShutdown> shutdown = nullptr) {
    auto& lowest = boost::beast::get_lowest_layer(stream);
    if constexpr (requires { lowest.expires_never(); }) lowest.expires_never();
    detail::ByteStreamOf<Stream> io(stream);
    co_await detail::run_http2(io, handler, limits, observer, already_read, std::move(shutdown));
}

}  // namespace cdn::edge::http
