#include "edge/origin/origin_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
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

constexpr std::size_t kBodyReadSize = 64 * 1024;

struct OriginBody::State {
    OriginPool* pool = nullptr;
    std::string pool_key;
    std::unique_ptr<OriginPool::Stream> stream;
    beast::flat_buffer buffer;
    beast_http::response_parser<beast_http::buffer_body> parser;
    std::chrono::milliseconds timeout{0};
    bool failed = false;
};

OriginBody::OriginBody(std::unique_ptr<State> state) : state_(std::move(state)) {}
OriginBody::~OriginBody() = default;  // an unfinished body closes its connection

bool OriginBody::done() const {
    return !state_->stream || state_->parser.is_done();
}

std::optional<std::uint64_t> OriginBody::content_length() const {
    if (auto n = state_->parser.content_length()) return *n;
    return std::nullopt;
}

asio::awaitable<Result<std::size_t>> OriginBody::read_some(char* out, std::size_t n) {
    State& s = *state_;
    for (;;) {
        if (s.failed) co_return Errc::origin_closed;
        if (done()) co_return std::size_t{0};
        s.parser.get().body().data = out;
        s.parser.get().body().size = n;
        s.stream->expires_after(s.timeout);
        auto [ec, ignored] =
            co_await beast_http::async_read_some(*s.stream, s.buffer, s.parser, nothrow);
        if (ec == beast_http::error::need_buffer) ec = {};
        if (ec) {
            s.stream.reset();
            s.failed = true;
            co_return classify(ec);
        }
        const std::size_t got = n - s.parser.get().body().size;
        if (s.parser.is_done()) {
            // Reuse only a connection whose framing left nothing unread.
            if (s.parser.get().keep_alive() && s.buffer.size() == 0)
                s.pool->give_back(s.pool_key, std::move(s.stream));
            s.stream.reset();
        }
        if (got > 0 || done()) co_return got;
    }
}

void OriginPool::give_back(const std::string& pool_key, std::unique_ptr<Stream> stream) {
    auto& idle = idle_[pool_key];
    if (idle.size() >= settings_.max_idle_per_server) return;
    stream->expires_never();
    idle.push_back(std::move(stream));
}

asio::awaitable<Result<StreamedResponse>> OriginPool::fetch_head(const OriginServer& server,
                                                                 const OriginRequest& req) {
    const std::string pool_key = to_string(server.endpoint);
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto state = std::make_unique<OriginBody::State>();
        state->pool = this;
        state->pool_key = pool_key;
        state->timeout = settings_.response_timeout;
        bool reused = false;
        if (auto& idle = idle_[pool_key]; !idle.empty() && attempt == 0) {
            state->stream = std::move(idle.back());
            idle.pop_back();
            reused = true;
        } else {
            auto c = co_await connect(server);
            if (!c) co_return c.error();
            state->stream = std::move(*c);
        }
        state->stream->expires_after(settings_.response_timeout);
        auto [wec, wn] = co_await beast_http::async_write(*state->stream, req, nothrow);
        auto& parser = state->parser;
        parser.header_limit(settings_.max_header_bytes);
        parser.body_limit(boost::none);  // storing limits are the caller's; streaming has none
        if (req.method() == beast_http::verb::head) parser.skip(true);
        boost::system::error_code ec = wec;
        if (!ec)
            std::tie(ec, std::ignore) = co_await beast_http::async_read_header(
                *state->stream, state->buffer, parser, nothrow);
        if (ec) {
            if (reused && !parser.got_some() && connection_lost(ec) && idempotent(req.method()))
                continue;  // the origin closed an idle connection; try a fresh one
            co_return classify(ec);
        }
        StreamedResponse res;
        res.head = parser.get().base();
        if (parser.is_done() && parser.get().keep_alive() && state->buffer.size() == 0) {
            give_back(pool_key, std::move(state->stream));  // no body (HEAD, 204, 304)
            state->stream.reset();
        }
        // Beast sizes each socket read by the buffer's free capacity (512 bytes at least): give
        // the body room, or a large object arrives 512 bytes per read.
        if (!parser.is_done()) state->buffer.reserve(kBodyReadSize);
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

}  // namespace cdn::edge::origin
