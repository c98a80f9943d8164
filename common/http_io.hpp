#pragma once
// Server-side HTTP/1.1 socket steps shared by every server in the project (edge, origin_sim,
// later purge_api): reading one request with "Expect: 100-continue" handled, and closing a
// connection without resetting it before the client has read the last reply.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>

namespace cdn::http_io {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// RFC 9112 sections 6.1 and 6.3: a request with Transfer-Encoding is only framed reliably when the
// codings are exactly one "chunked" (the one coding a server must know, and last) in HTTP/1.1.
// Anything else (gzip, "chunked, identity", xchunked, a quoted "chunked", an empty value, chunked
// twice, any Transfer-Encoding in HTTP/1.0) would leave the body's end unknown: the request must
// be refused (400) and the connection closed, or its body would be read as a second request.
bool transfer_encoding_acceptable(const boost::beast::http::request_header<>& head);

// Reads the head into parser (under whatever expiry the caller set on stream), then, if a body
// follows, answers "100 Continue" when asked and reads the body within body_timeout. A head whose
// framing transfer_encoding_acceptable() refuses ends with http::error::bad_transfer_encoding
// before any body byte is read.
boost::asio::awaitable<boost::system::error_code> read_request(
    boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer, RequestParser& parser,
    std::chrono::milliseconds body_timeout);
// The same over TLS (the timeouts are the TCP layer's).
boost::asio::awaitable<boost::system::error_code> read_request(
    boost::beast::ssl_stream<boost::beast::tcp_stream>& stream, boost::beast::flat_buffer& buffer,
    RequestParser& parser, std::chrono::milliseconds body_timeout);

// The same in two steps, for a server that decides between them whether it wants the body
// (RFC 9110 section 10.1.1: a final status instead of 100 Continue). read_request_head: the
// head only, framing checked as above (the body, if any, not read). read_request_body: then the
// body, after "100 Continue" when the request expects it; nothing when there is no body.
bool expects_continue(const boost::beast::http::request_header<>& head);
boost::asio::awaitable<boost::system::error_code> read_request_head(
    boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer, RequestParser& parser);
boost::asio::awaitable<boost::system::error_code> read_request_head(
    boost::beast::ssl_stream<boost::beast::tcp_stream>& stream, boost::beast::flat_buffer& buffer,
    RequestParser& parser);
// send_continue = false: no 100 Continue even when asked (a server that ignores Expect).
boost::asio::awaitable<boost::system::error_code> read_request_body(
    boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer, RequestParser& parser,
    std::chrono::milliseconds body_timeout, bool send_continue = true);
boost::asio::awaitable<boost::system::error_code> read_request_body(
    boost::beast::ssl_stream<boost::beast::tcp_stream>& stream, boost::beast::flat_buffer& buffer,
    RequestParser& parser, std::chrono::milliseconds body_timeout, bool send_continue = true);

// Half-closes, then drains what the client still sends for up to a second (at most 1 MiB), so
// unread input does not make the kernel reset the connection under our last reply; then closes.
boost::asio::awaitable<void> lingering_close(boost::beast::tcp_stream& stream);

}  // namespace cdn::http_io
