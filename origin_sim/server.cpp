#include "origin_sim/server.hpp"

#include "common/http_io.hpp"

#include "common/http_util.hpp"
#include "common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <fmt/format.h>

#include <openssl/ssl.h>

#include <array>
#include <type_traits>
#include <vector>

namespace cdn::origin_sim {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kPiece = 64 * 1024;
constexpr std::size_t kSlowPiece = 1024;

bool is_parse_error(const ErrorCode& ec) {
    return ec.category() == make_error_code(http::error::bad_method).category();
}

// The helpers below take a beast::tcp_stream or a TlsStream; timeouts and the socket are the TCP
// layer's.
template <class Stream>
asio::awaitable<void> pause(Stream& stream, std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer timer(stream.get_executor(), d);
    co_await timer.async_wait(nothrow);
}

// Writes buffers with the write timeout; false on any error.
template <class Stream, class Buffers>
asio::awaitable<bool> write_all(Stream& stream, const Buffers& buffers,
                                std::chrono::milliseconds timeout) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(stream, buffers, nothrow);
    co_return !ec;
}

// Half-closes and lets the client read what was sent before the socket goes away (an immediate
// close with unread input would send a RST that can destroy the response in flight).
template <class Stream>
void abort_with_reset(Stream& stream) {
    ErrorCode ec;
    auto& socket = beast::get_lowest_layer(stream).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ec);
    socket.close(ec);
}

// Reads and discards until the client closes or the limit passes.
template <class Stream>
asio::awaitable<void> hold(Stream& stream, std::chrono::milliseconds limit) {
    beast::get_lowest_layer(stream).expires_after(limit);
    std::array<char, 4096> sink;
    for (;;) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), nothrow);
        if (ec) break;
    }
    ErrorCode ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
}

// Closes without losing the last reply (TLS: without close_notify, a test tool's shortcut).
template <class Stream>
asio::awaitable<void> lingering_close(Stream& stream) {
    co_await http_io::lingering_close(beast::get_lowest_layer(stream));
}

// Carries out a plan; returns whether the connection may serve another request.
template <class Stream>
asio::awaitable<bool> deliver(Stream& stream, const ResponsePlan& plan,
                              const ServerOptions& options) {
    if (plan.fault == Fault::hang) {
        co_await hold(stream, options.hang_limit);
        co_return false;
    }
    co_await pause(stream, plan.delay);
    if (plan.fault == Fault::reset) {
        abort_with_reset(stream);
        co_return false;
    }
    if (plan.fault == Fault::close) {
        ErrorCode ec;
        auto& socket = beast::get_lowest_layer(stream).socket();
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        co_return false;
    }

    const std::string head = plan.head();
    const bool truncate = plan.fault == Fault::truncate;
    const bool slow = plan.fault == Fault::slow;
    const bool chunked = plan.chunked && !plan.no_length;
    const std::uint64_t total = plan.send_body ? plan.body_length() : 0;
    std::uint64_t remaining = truncate ? total / 2 : total;
    const std::size_t piece = slow ? kSlowPiece : kPiece;
    std::vector<char> data(static_cast<std::size_t>(std::min<std::uint64_t>(piece, remaining)));
    BodyReader reader(plan);
    bool head_sent = false;
    static constexpr std::string_view kLastChunk = "0\r\n\r\n";

    while (remaining > 0) {
        const std::size_t n = reader.read(
            data.data(), static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), remaining)));
        if (n == 0) break;
        remaining -= n;
        std::string chunk_head;
        std::string tail;
        if (chunked) {
            chunk_head = fmt::format("{:x}\r\n", n);
            tail = "\r\n";
            if (remaining == 0 && !truncate) tail += kLastChunk;
        }
        const std::array<asio::const_buffer, 4> buffers = {
            head_sent ? asio::const_buffer() : asio::buffer(head), asio::buffer(chunk_head),
            asio::buffer(data.data(), n), asio::buffer(tail)};
        if (!co_await write_all(stream, buffers, options.write_timeout)) co_return false;
        head_sent = true;
        if (slow && remaining > 0) co_await pause(stream, plan.slow_interval);
    }
    if (!head_sent) {
        const std::string_view end =
            chunked && plan.send_body && !truncate ? kLastChunk : std::string_view{};
        const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head), asio::buffer(end)};
        if (!co_await write_all(stream, buffers, options.write_timeout)) co_return false;
    }
    if (truncate && plan.send_body) {
        co_await lingering_close(stream);
        co_return false;
    }
    co_return !plan.close;
}

}  // namespace

Server::Server(std::shared_ptr<const SimConfig> config, const Clock& clock, std::string name,
               ServerOptions options)
    : state_(clock.now()),
      handler_(std::move(config), state_, clock, std::move(name)),
      options_(options) {}

template <class Stream>
asio::awaitable<void> Server::serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(options_.header_limit);
        parser.body_limit(options_.body_limit);

        beast::get_lowest_layer(stream).expires_after(options_.idle_timeout);
        ErrorCode ec = co_await http_io::read_request_head(stream, buffer, parser);
        bool send_continue = true;
        if (!ec && !parser.is_done() && http_io::expects_continue(parser.get())) {
            // RFC 9110 section 10.1.1: an upload this origin refuses is answered without 100
            // Continue and without reading its body; expect=ignore sends no 100 at all.
            Request head;
            head.base() = parser.get().base();
            if (auto refused = handler_.refuse_upload(head)) {
                co_await deliver(stream, *refused, options_);
                if (beast::get_lowest_layer(stream).socket().is_open())
                    co_await lingering_close(stream);
                co_return;
            }
            send_continue = handler_.continues(head);
        }
        if (!ec)
            ec = co_await http_io::read_request_body(stream, buffer, parser, options_.idle_timeout,
                                                     send_continue);
        if (ec) {
            // A clean close between requests, a timeout or a network error: just go.
            if (!is_parse_error(ec) || ec == http::error::end_of_stream ||
                ec == http::error::partial_message) {
                ErrorCode ignored;
                beast::get_lowest_layer(stream).socket().close(ignored);
                co_return;
            }
            unsigned status = 400;
            std::string message = "bad request: " + ec.message();
            if (ec == http::error::header_limit) {
                status = 431;
                message = "request header fields too large";
            } else if (ec == http::error::body_limit) {
                status = 413;
                message = "request body too large";
            }
            const ResponsePlan plan = handler_.error(status, message);
            const std::string head = plan.head() + plan.body.front().literal;
            if (co_await write_all(stream, asio::buffer(head), options_.write_timeout))
                co_await lingering_close(stream);
            co_return;
        }

        const Request& req = parser.get();
        const ResponsePlan plan = handler_.handle(req);
        if (log_enabled(LogLevel::debug))
            log(LogLevel::debug, "{} {} -> {}{}{}", std::string_view(req.method_string()),
                std::string_view(req.target()), plan.status,
                plan.fault == Fault::none ? "" : " fault=",
                plan.fault == Fault::none ? std::string_view{} : to_string(plan.fault));
        const bool keep = co_await deliver(stream, plan, options_);
        if (!keep) {
            if (beast::get_lowest_layer(stream).socket().is_open())
                co_await lingering_close(stream);
            co_return;
        }
    }
}

asio::awaitable<void> Server::session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream);
}

asio::awaitable<void> Server::tls_session(tcp::socket socket,
                                          std::shared_ptr<asio::ssl::context> ctx) {
    TlsStream stream(std::move(socket), *ctx);
    beast::get_lowest_layer(stream).expires_after(options_.idle_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    if (ec) {
        log(LogLevel::debug, "tls handshake failed: {}", ec.message());
        co_return;
    }
    state_.count_tls_handshake(SSL_session_reused(stream.native_handle()) == 1);
    co_await serve(stream);
}

ConnectionHandler Server::connection_handler() {
    // Not a coroutine lambda: it only calls the member coroutine, whose frame owns the socket.
    return [this](tcp::socket socket) { return session(std::move(socket)); };
}

ConnectionHandler Server::tls_connection_handler(std::shared_ptr<asio::ssl::context> ctx) {
    return [this, ctx = std::move(ctx)](tcp::socket socket) {
        return tls_session(std::move(socket), ctx);
    };
}

}  // namespace cdn::origin_sim
