#include "common/http_call.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <fmt/format.h>

namespace cdn {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using boost::asio::redirect_error;
using boost::asio::use_awaitable;
using error_code = boost::system::error_code;

constexpr std::uint64_t kMaxBody = 4u << 20;

std::string joined_target(const Url& base, const std::string& target) {
    std::string path = base.path.empty() ? "/" : base.path;
    if (path.ends_with('/') && target.starts_with('/')) path.pop_back();
    return path + target;
}

template <class Stream>
boost::asio::awaitable<HttpCallResult> exchange(Stream& stream, const Url& base,
                                                const HttpCall& call, std::string where) {
    HttpCallResult out;
    error_code ec;
    bhttp::request<bhttp::string_body> req{call.method, joined_target(base, call.target), 11};
    req.set(bhttp::field::host, base.authority());
    req.set(bhttp::field::user_agent, "cdn");
    if (!call.bearer.empty()) req.set(bhttp::field::authorization, "Bearer " + call.bearer);
    if (!call.body.empty()) {
        req.set(bhttp::field::content_type, "application/json");
        req.body() = call.body;
    }
    req.keep_alive(false);
    req.prepare_payload();
    co_await bhttp::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (!ec) {
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(kMaxBody);
        co_await bhttp::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
        if (!ec) {
            out.status = parser.get().result_int();
            out.body = std::move(parser.get().body());
            co_return out;
        }
    }
    out.failure = HttpCallResult::Failure::io;
    out.error = fmt::format("{}: {}", where, ec.message());
    co_return out;
}

}  // namespace

boost::asio::awaitable<HttpCallResult> http_call(boost::asio::any_io_executor executor,
                                                 const Url& base,
                                                 std::shared_ptr<const TlsClientConfig> tls,
                                                 HttpCall call) {
    HttpCallResult out;
    const std::string where = fmt::format("{}://{}", base.scheme, base.authority());
    error_code ec;
    boost::asio::ip::tcp::resolver resolver(executor);
    auto endpoints = co_await resolver.async_resolve(base.host, std::to_string(base.port),
                                                     redirect_error(use_awaitable, ec));
    if (ec) {
        out.failure = HttpCallResult::Failure::connect;
        out.error = fmt::format("cannot resolve {}: {}", base.host, ec.message());
        co_return out;
    }
    beast::tcp_stream conn(executor);
    conn.expires_after(call.timeout);  // one deadline for the whole exchange
    co_await conn.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec) {
        out.failure = HttpCallResult::Failure::connect;
        out.error = fmt::format("cannot connect to {}: {}", where, ec.message());
        co_return out;
    }
    if (base.scheme != "https") co_return co_await exchange(conn, base, call, where);
    if (!tls) {
        out.failure = HttpCallResult::Failure::tls;
        out.error = fmt::format("{}: https without TLS settings", where);
        co_return out;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(conn), *tls->context);
    SSL* ssl = stream.native_handle();
    if (!prepare_tls_client(ssl, *tls)) {
        out.failure = HttpCallResult::Failure::tls;
        out.error = fmt::format("invalid TLS server name \"{}\"", tls->server_name);
        co_return out;
    }
    co_await stream.async_handshake(boost::asio::ssl::stream_base::client,
                                    redirect_error(use_awaitable, ec));
    if (ec) {
        out.failure = HttpCallResult::Failure::tls;
        out.error = fmt::format("TLS handshake with {} (server name \"{}\") failed: {}", where,
                                tls->server_name, tls_handshake_failure(ec, ssl));
        co_return out;
    }
    co_return co_await exchange(stream, base, call, where);
}

}  // namespace cdn
