#include "purge_api/api_server.hpp"

#include "common/http_io.hpp"
#include "common/log.hpp"
#include "common/purge_event.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>

namespace cdn::purge_api {
namespace beast = boost::beast;
namespace bh = beast::http;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::chrono::seconds kBodyTimeout{30};
constexpr std::size_t kStreamBatch = 256;           // records read from the log at once
constexpr std::size_t kStreamBytes = 256 * 1024;    // bytes of events per chunk (soft)
constexpr std::size_t kWriteSlice = 64 * 1024;      // each slice has its own write timeout
constexpr std::size_t kMaxClientBytes = 64 * 1024;  // what a stream client may send us
constexpr std::chrono::seconds kHandshakeTimeout{10};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// Wakes one stream's coroutine from any thread; a wake-up while one is pending is merged.
class ChannelWaker final : public StreamWaker {
  public:
    explicit ChannelWaker(const asio::any_io_executor& ex) : channel(ex, 1) {}
    void wake() noexcept override {
        try {
            channel.try_send(boost::system::error_code{});
        } catch (...) {
        }
    }
    Channel channel;
};

// Ends the registry's record of a stream however the coroutine ends (even destroyed unrun).
struct StreamGuard {
    EdgeRegistry& edges;
    std::string edge;
    std::uint64_t generation;
    ~StreamGuard() { edges.disconnect(edge, generation); }
};

bool is_parse_error(const ErrorCode& ec) {
    return ec.category() == make_error_code(bh::error::bad_method).category();
}

std::int64_t to_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Adapts a PurgeStore call that reports through a callback on the store's thread (submit,
// sync) to the caller's executor: start(done) makes the call, done(result) resumes the caller.
template <class Result, class CompletionToken, class Start>
auto on_store_thread(Start start, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(Result)>(
        [start = std::move(start)](auto handler) mutable {
            auto ex = asio::get_associated_executor(handler);
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            start([h, ex](Result r) {
                asio::post(ex, [h, r = std::move(r)]() mutable {
                    auto done = std::move(*h);
                    done(std::move(r));
                });
            });
        },
        token);
}

// Writes bytes in slices, each within `timeout`.
template <class Stream>
asio::awaitable<ErrorCode> write_timed(Stream& stream, std::string_view data,
                                       std::chrono::milliseconds timeout) {
    auto& lowest = beast::get_lowest_layer(stream);
    while (!data.empty()) {
        const std::size_t n = std::min(data.size(), kWriteSlice);
        lowest.expires_after(timeout);
        auto [ec, written] =
            co_await asio::async_write(stream, asio::buffer(data.data(), n), nothrow);
        if (ec) co_return ec;
        data.remove_prefix(n);
    }
    lowest.expires_never();
    co_return ErrorCode{};
}

template <class Stream>
asio::awaitable<ErrorCode> write_events(Stream& stream, std::string_view events, bool chunked,
                                        std::chrono::milliseconds timeout) {
    if (!chunked) co_return co_await write_timed(stream, events, timeout);
    std::string framed = fmt::format("{:x}\r\n", events.size());
    framed.append(events);
    framed.append("\r\n");
    co_return co_await write_timed(stream, framed, timeout);
}

// Closes without losing the last reply: over TLS, close_notify first (waiting up to a second for
// the client's), then the TCP half-close and drain.
template <class Stream>
asio::awaitable<void> close_gracefully(Stream& stream) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
        stream.next_layer().expires_after(std::chrono::seconds(1));
        co_await stream.async_shutdown(nothrow);
        co_await http_io::lingering_close(stream.next_layer());
    } else {
        co_await http_io::lingering_close(stream);
    }
}

// The client sent bytes on a stream (it should not) or closed its side: reads what is there,
// adding to `received`; an error ends the stream. Over TLS a record may be incomplete, so the
// read is bounded by `timeout` (a client that starts a record and stalls is cut off).
template <class Stream>
asio::awaitable<ErrorCode> drain_client(Stream& stream, std::array<char, 4096>& scratch,
                                        std::size_t& received, std::chrono::milliseconds timeout) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(timeout);
        auto r = co_await (stream.async_read_some(asio::buffer(scratch), nothrow) ||
                           timer.async_wait(nothrow));
        if (r.index() == 1) co_return make_error_code(beast::error::timeout);
        auto [ec, n] = std::get<0>(r);
        received += n;
        co_return ec;
    } else {
        auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(scratch), nothrow);
        received += n;
        co_return ec;
    }
}

}  // namespace

ApiServer::ApiServer(const LiveSettings& settings, PurgeStore& store, EdgeRegistry& edges,
                     ApiHandler& handler, ApiMetrics& metrics, const Clock& clock)
    : settings_(settings),
      store_(store),
      edges_(edges),
      handler_(handler),
      metrics_(metrics),
      clock_(clock) {}

ConnectionHandler ApiServer::connection_handler() {
    // Not a coroutine lambda: it only calls the member coroutine, whose frame owns the socket.
    return [this](tcp::socket socket) { return session(std::move(socket)); };
}

ConnectionHandler ApiServer::tls_connection_handler(
    const std::atomic<std::shared_ptr<asio::ssl::context>>& current) {
    return [this, &current](tcp::socket socket) {
        return tls_session(std::move(socket), current.load());
    };
}

asio::awaitable<void> ApiServer::session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream);
}

asio::awaitable<void> ApiServer::tls_session(tcp::socket socket,
                                             std::shared_ptr<asio::ssl::context> ctx) {
    ErrorCode ep_ec;
    const tcp::endpoint peer = socket.remote_endpoint(ep_ec);
    TlsStream stream(std::move(socket), *ctx);
    stream.next_layer().expires_after(kHandshakeTimeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    if (ec) {
        // OpenSSL has queued its alert (if the protocol has one) and asio has sent it by now.
        metrics_.tls_handshake_failures.inc();
        if (log_enabled(LogLevel::debug))
            log(LogLevel::debug, "tls handshake from {} failed: {}", cdn::to_string(peer),
                ec.message());
        co_await http_io::lingering_close(stream.next_layer());
        co_return;
    }
    metrics_.tls_handshakes.inc();
    co_await serve(stream);
}

template <class Stream>
asio::awaitable<void> ApiServer::serve(Stream& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    for (;;) {
        SettingsPtr settings = settings_.current();
        http_io::RequestParser parser;
        parser.header_limit(kHeaderLimit);
        parser.body_limit(settings->config.max_body);
        lowest.expires_after(settings->config.idle_timeout);
        const ErrorCode ec = co_await http_io::read_request(stream, buffer, parser, kBodyTimeout);
        if (ec) {
            if (!is_parse_error(ec) || ec == bh::error::end_of_stream ||
                ec == bh::error::partial_message) {
                ErrorCode ignored;
                lowest.socket().close(ignored);
                co_return;
            }
            ApiError err = make_error(ApiErrc::bad_request, "bad request: " + ec.message());
            if (ec == bh::error::body_limit)
                err = make_error(
                    ApiErrc::body_too_large,
                    fmt::format("the body is larger than {} bytes", settings->config.max_body));
            else if (ec == bh::error::header_limit)
                err = ApiError{431, ApiErrc::bad_request, "request header fields too large"};
            const Reply r = handler_.error_for(parser.get().target(), err);
            bh::response<bh::string_body> res{static_cast<bh::status>(r.status), 11};
            res.set(bh::field::content_type, r.content_type);
            res.set(bh::field::connection, "close");
            res.set("X-Content-Type-Options", "nosniff");
            res.body() = r.body;
            res.prepare_payload();
            lowest.expires_after(settings->config.write_timeout);
            auto [wec, n] = co_await bh::async_write(stream, res, nothrow);
            if (!wec) co_await close_gracefully(stream);
            co_return;
        }

        // The request is here: it is planned and answered with the settings of this moment
        // (a reload meanwhile must not let an old token through, or refuse a new one).
        settings = settings_.current();
        const Request& req = parser.get();
        Plan plan = handler_.plan(req, *settings);
        if (auto* sp = std::get_if<SyncPlan>(&plan)) {
            // This instance may be behind the shared log: catch up, then plan it once more.
            metrics_.synced.inc();
            const SeqCheck check = co_await on_store_thread<SeqCheck>(
                [&](auto done) { store_.sync(sp->seq, sp->wait, std::move(done)); },
                asio::use_awaitable);
            plan = handler_.plan(req, *settings, check);
            if (std::holds_alternative<SyncPlan>(plan))
                plan = handler_.error(make_error(ApiErrc::unavailable, "try again"));
        }
        Reply reply;
        if (auto* r = std::get_if<Reply>(&plan)) {
            reply = std::move(*r);
        } else if (auto* a = std::get_if<AppendPlan>(&plan)) {
            AppendRequest request{
                a->draft, a->idempotency_key, a->fingerprint,
                std::chrono::steady_clock::now() + settings->config.store_timeout};
            const AppendResult result = co_await on_store_thread<AppendResult>(
                [&](auto done) { store_.submit(std::move(request), std::move(done)); },
                asio::use_awaitable);
            reply = handler_.appended(*a, result);
        } else if (auto* w = std::get_if<RegistryWaitPlan>(&plan)) {
            reply = co_await wait_registry(*w);
        } else {
            lowest.expires_never();
            co_await serve_stream(stream, std::get<StreamPlan>(std::move(plan)),
                                  req.version() >= 11);
            co_return;
        }
        if (log_enabled(LogLevel::debug))
            log(LogLevel::debug, "{} {} -> {}", std::string_view(req.method_string()),
                std::string_view(req.target()), reply.status);

        bh::response<bh::string_body> res{static_cast<bh::status>(reply.status), req.version()};
        if (!reply.content_type.empty()) res.set(bh::field::content_type, reply.content_type);
        res.set(bh::field::cache_control, "no-store");
        res.set("X-Content-Type-Options", "nosniff");
        for (const auto& [name, value] : reply.headers)
            res.set(name, value);
        res.body() = std::move(reply.body);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        lowest.expires_after(settings->config.write_timeout);
        auto [wec, n] = co_await bh::async_write(stream, res, nothrow);
        if (wec) {
            ErrorCode ignored;
            lowest.socket().close(ignored);
            co_return;
        }
        if (!res.keep_alive()) {
            co_await close_gracefully(stream);
            co_return;
        }
    }
}

asio::awaitable<Reply> ApiServer::wait_registry(RegistryWaitPlan plan) {
    FleetRegistry* fleet = handler_.fleet();
    const auto ex = co_await asio::this_coro::executor;
    // Registered before the version is read, so a change in between still wakes us.
    auto waker = std::make_shared<ChannelWaker>(ex);
    fleet->add_waiter(waker);
    asio::steady_timer timer(ex);
    timer.expires_after(plan.wait);
    while (fleet->version() <= plan.after) {
        auto woke = co_await (waker->channel.async_receive(nothrow) || timer.async_wait(nothrow));
        if (woke.index() == 1) break;
    }
    co_return handler_.registry_listing();
}

template <class Stream>
asio::awaitable<void> ApiServer::serve_stream(Stream& stream, StreamPlan plan, bool chunked) {
    auto& lowest = beast::get_lowest_layer(stream);
    const auto ex = co_await asio::this_coro::executor;
    auto waker = std::make_shared<ChannelWaker>(ex);
    const std::uint64_t gen = edges_.connect(plan.edge, waker);
    const StreamGuard guard{edges_, plan.edge, gen};
    metrics_.streams_opened.inc();
    ErrorCode ep_ec;
    const tcp::endpoint peer = lowest.socket().remote_endpoint(ep_ec);
    log_info("stream: edge {} connected from {}{}, after {}", plan.edge, cdn::to_string(peer),
             std::is_same_v<Stream, TlsStream> ? " (tls)" : "", plan.after);

    std::string out = fmt::format(
        "HTTP/1.{} 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "X-Accel-Buffering: no\r\nConnection: close\r\n{}\r\n",
        chunked ? 1 : 0, chunked ? "Transfer-Encoding: chunked\r\n" : "");
    SettingsPtr settings = settings_.current();
    ErrorCode ec = co_await write_timed(stream, out, settings->config.write_timeout);

    std::uint64_t sent = plan.after;
    if (const std::uint64_t last = store_.last_seq(); !ec && sent > last) {
        // The edge claims purges this log never had (its data was lost): the only safe answer
        // is to have it purge everything it cached until now.
        log_warn("stream: edge {} asked for purges after {}, but the log ends at {}; sending reset",
                 plan.edge, sent, last);
        ec = co_await write_events(stream, purge::sse_reset({last, to_ms(clock_.now())}), chunked,
                                   settings->config.write_timeout);
        sent = last;
    }

    asio::steady_timer timer(ex);
    auto last_write = std::chrono::steady_clock::now();
    std::array<char, 4096> scratch;
    std::size_t received = 0;
    bool synced = false;
    enum class End { closed, slow, replaced } end = End::closed;
    while (!ec) {
        // Each turn reads the current settings: a reload reaches long-lived streams.
        settings = settings_.current();
        const std::chrono::milliseconds write_timeout = settings->config.write_timeout;
        const std::chrono::milliseconds heartbeat = settings->config.heartbeat;
        if (!edges_.is_current(plan.edge, gen)) {
            end = End::replaced;
            break;
        }
        const LogSlice slice = store_.read_after(sent, kStreamBatch);
        out.clear();
        if (sent < slice.compacted_through) {
            out += purge::sse_reset({slice.compacted_through, slice.compacted_time_ms});
            sent = slice.compacted_through;
        }
        for (const PurgeRecordPtr& r : slice.records) {
            out += purge::sse_purge(r->seq, r->json);
            sent = r->seq;
            if (out.size() >= kStreamBytes) break;
        }
        if (out.empty() && !synced) {
            // Once per stream: the backlog is behind; the edge may serve from its cache.
            out = purge::sse_synced(sent);
            synced = true;
        }
        if (!out.empty()) {
            ec = co_await write_events(stream, out, chunked, write_timeout);
            if (ec) break;
            edges_.seen(plan.edge);
            last_write = std::chrono::steady_clock::now();
            continue;
        }

        // Caught up: wait for a wake-up, the client, or the heartbeat.
        timer.expires_at(last_write + heartbeat);
        auto woke = co_await (waker->channel.async_receive(nothrow) ||
                              lowest.socket().async_wait(tcp::socket::wait_read, nothrow) ||
                              timer.async_wait(nothrow));
        if (woke.index() == 1) {
            // The client sent something (it should not) or closed its side.
            const ErrorCode rec = co_await drain_client(stream, scratch, received, write_timeout);
            if (rec || received > kMaxClientBytes) break;
        } else if (woke.index() == 2 &&
                   std::chrono::steady_clock::now() >= last_write + heartbeat) {
            ec = co_await write_events(stream, purge::kSsePing, chunked, write_timeout);
            if (ec) break;
            edges_.seen(plan.edge);
            last_write = std::chrono::steady_clock::now();
        }
    }
    if (ec == beast::error::timeout) end = End::slow;

    switch (end) {
        case End::replaced:
            metrics_.streams_replaced.inc();
            if (chunked) {
                static constexpr std::string_view kLastChunk = "0\r\n\r\n";
                co_await write_timed(stream, kLastChunk, std::chrono::seconds(1));
            }
            break;
        case End::slow: metrics_.streams_cut.inc(); break;
        case End::closed: metrics_.streams_closed.inc(); break;
    }
    log_info("stream: edge {} ended ({}), sent through seq {}", plan.edge,
             end == End::replaced ? "replaced by a newer stream"
             : end == End::slow   ? "cut off: a write was blocked too long"
                                  : "closed",
             sent);
    ErrorCode ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.socket().close(ignored);
}

}  // namespace cdn::purge_api
