#include "edge/origin/origin_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace cdn::edge::origin {
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
           ec == asio::error::connection_aborted;
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

OriginPool::OriginPool(asio::any_io_executor executor, PoolSettings settings)
    : executor_(std::move(executor)), settings_(settings) {}

std::size_t OriginPool::idle_connections() const {
    std::size_t n = 0;
    for (const auto& [k, v] : idle_)
        n += v.size();
    return n;
}

asio::awaitable<Result<std::unique_ptr<OriginPool::Stream>>> OriginPool::connect(
    const OriginServer& server) {
    auto stream = std::make_unique<Stream>(executor_);
    stream->expires_after(settings_.connect_timeout);
    auto [ec] = co_await stream->async_connect(server.endpoint, nothrow);
    if (ec) co_return ec == beast::error::timeout ? Errc::origin_timeout : Errc::origin_unreachable;
    boost::system::error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    co_return stream;
}

asio::awaitable<Result<OriginResponse>> OriginPool::fetch(const OriginServer& server,
                                                          const OriginRequest& req) {
    const std::string pool_key = to_string(server.endpoint);
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<Stream> stream;
        bool reused = false;
        if (auto& idle = idle_[pool_key]; !idle.empty() && attempt == 0) {
            stream = std::move(idle.back());
            idle.pop_back();
            reused = true;
        } else {
            auto c = co_await connect(server);
            if (!c) co_return c.error();
            stream = std::move(*c);
        }
        stream->expires_after(settings_.response_timeout);
        auto [wec, wn] = co_await beast_http::async_write(*stream, req, nothrow);
        beast_http::response_parser<beast_http::string_body> parser;
        parser.header_limit(settings_.max_header_bytes);
        parser.body_limit(settings_.max_body_bytes);
        if (req.method() == beast_http::verb::head) parser.skip(true);
        beast::flat_buffer buffer;
        boost::system::error_code ec = wec;
        if (!ec)
            std::tie(ec, std::ignore) =
                co_await beast_http::async_read(*stream, buffer, parser, nothrow);
        if (ec) {
            if (reused && !parser.got_some() && connection_lost(ec) && idempotent(req.method()))
                continue;  // the origin closed an idle connection; try a fresh one
            co_return classify(ec);
        }
        OriginResponse res = parser.release();
        // Reuse only a connection whose framing left nothing unread.
        if (res.keep_alive() && buffer.size() == 0) {
            auto& idle = idle_[pool_key];
            if (idle.size() < settings_.max_idle_per_server) {
                stream->expires_never();
                idle.push_back(std::move(stream));
            }
        }
        co_return res;
    }
    co_return Errc::origin_closed;
}

}  // namespace cdn::edge::origin
