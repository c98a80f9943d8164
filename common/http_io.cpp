#include "common/http_io.hpp"

#include "common/http_util.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <string_view>

namespace cdn::http_io {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

bool transfer_encoding_acceptable(const bhttp::request_header<>& head) {
    // A scan of the few fields by their enum is cheaper than the by-name lookup, and this runs
    // on every request.
    bool any = false;
    int chunked = 0;
    bool other = false;
    for (const auto& f : head) {
        if (f.name() != bhttp::field::transfer_encoding) continue;
        if (!any && head.version() < 11) return false;
        any = true;
        const std::string_view value = http_util::trim(f.value());
        if (value.empty()) return false;
        http_util::for_each_element(value, [&](std::string_view coding) {
            if (http_util::iequals(coding, "chunked"))
                ++chunked;
            else
                other = true;
            return true;
        });
    }
    return !any || (chunked == 1 && !other);
}

namespace {

template <class Stream>
asio::awaitable<boost::system::error_code> read_head_on(Stream& stream, beast::flat_buffer& buffer,
                                                        RequestParser& parser) {
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, nothrow);
    if (ec) co_return ec;
    if (!transfer_encoding_acceptable(parser.get())) co_return bhttp::error::bad_transfer_encoding;
    co_return ec;
}

template <class Stream>
asio::awaitable<boost::system::error_code> read_body_on(Stream& stream, beast::flat_buffer& buffer,
                                                        RequestParser& parser,
                                                        std::chrono::milliseconds body_timeout,
                                                        bool send_continue = true) {
    if (parser.is_done()) co_return boost::system::error_code{};
    beast::get_lowest_layer(stream).expires_after(body_timeout);
    if (send_continue && expects_continue(parser.get())) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), nothrow);
        if (wec) co_return wec;
    }
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, nothrow);
    co_return ec;
}

template <class Stream>
asio::awaitable<boost::system::error_code> read_request_on(Stream& stream,
                                                           beast::flat_buffer& buffer,
                                                           RequestParser& parser,
                                                           std::chrono::milliseconds body_timeout) {
    if (auto ec = co_await read_head_on(stream, buffer, parser)) co_return ec;
    co_return co_await read_body_on(stream, buffer, parser, body_timeout);
}

}  // namespace

asio::awaitable<boost::system::error_code> read_request(beast::tcp_stream& stream,
                                                        beast::flat_buffer& buffer,
                                                        RequestParser& parser,
                                                        std::chrono::milliseconds body_timeout) {
    co_return co_await read_request_on(stream, buffer, parser, body_timeout);
}

asio::awaitable<boost::system::error_code> read_request(
    beast::ssl_stream<beast::tcp_stream>& stream, beast::flat_buffer& buffer, RequestParser& parser,
    std::chrono::milliseconds body_timeout) {
    co_return co_await read_request_on(stream, buffer, parser, body_timeout);
}

bool expects_continue(const bhttp::request_header<>& head) {
    const auto expect = head.find(bhttp::field::expect);
    return expect != head.end() && http_util::iequals(expect->value(), "100-continue");
}

asio::awaitable<boost::system::error_code> read_request_head(beast::tcp_stream& stream,
                                                             beast::flat_buffer& buffer,
                                                             RequestParser& parser) {
    co_return co_await read_head_on(stream, buffer, parser);
}

asio::awaitable<boost::system::error_code> read_request_head(
    beast::ssl_stream<beast::tcp_stream>& stream, beast::flat_buffer& buffer,
    RequestParser& parser) {
    co_return co_await read_head_on(stream, buffer, parser);
}

asio::awaitable<boost::system::error_code> read_request_body(beast::tcp_stream& stream,
                                                             beast::flat_buffer& buffer,
                                                             RequestParser& parser,
                                                             std::chrono::milliseconds body_timeout,
                                                             bool send_continue) {
    co_return co_await read_body_on(stream, buffer, parser, body_timeout, send_continue);
}

asio::awaitable<boost::system::error_code> read_request_body(
    beast::ssl_stream<beast::tcp_stream>& stream, beast::flat_buffer& buffer, RequestParser& parser,
    std::chrono::milliseconds body_timeout, bool send_continue) {
    co_return co_await read_body_on(stream, buffer, parser, body_timeout, send_continue);
}

asio::awaitable<void> lingering_close(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (!ec) {
        stream.expires_after(std::chrono::seconds(1));
        std::array<char, 4096> sink;
        for (int i = 0; i < 256; ++i) {
            auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), nothrow);
            if (rec) break;
        }
    }
    stream.socket().close(ec);
}

}  // namespace cdn::http_io
