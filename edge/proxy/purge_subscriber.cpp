#include "edge/proxy/purge_subscriber.hpp"

#include "common/log.hpp"
#include "common/purge_event.hpp"
#include "common/registration.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <variant>

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using error_code = boost::system::error_code;

// A one-shot wake-up for a coroutine on the same executor: wait() until notify().
struct PurgeSubscriber::Signal {
    explicit Signal(const asio::any_io_executor& ex) : timer(ex) {
        timer.expires_at(asio::steady_timer::time_point::max());
    }
    asio::awaitable<void> wait(std::chrono::milliseconds at_most) {
        timer.expires_after(at_most);
        error_code ec;
        co_await timer.async_wait(redirect_error(use_awaitable, ec));
    }
    void notify() { timer.cancel(); }
    asio::steady_timer timer;
};

// One connection to purge_api, plain or TLS (per the api's scheme).
struct PurgeSubscriber::Connection {
    using Plain = beast::tcp_stream;
    using Tls = beast::ssl_stream<beast::tcp_stream>;

    explicit Connection(const asio::any_io_executor& ex) : stream(std::in_place_type<Plain>, ex) {}
    Connection(const asio::any_io_executor& ex, asio::ssl::context& ctx)
        : stream(std::in_place_type<Tls>, ex, ctx) {}

    beast::tcp_stream& tcp() {
        return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
                          stream);
    }

    std::variant<Plain, Tls> stream;
};

namespace {

constexpr std::chrono::seconds kConnectTimeout{3};
constexpr std::chrono::seconds kFailureLogInterval{30};

std::string base_path(const Url& api) {
    return api.path.ends_with('/') ? api.path : api.path + "/";
}

}  // namespace

PurgeSubscriber::PurgeSubscriber(asio::any_io_executor executor, PurgeSubscription sub,
                                 Purger& purger, storage::DiskStore* disk,
                                 std::function<void()> on_synced)
    : executor_(std::move(executor)),
      sub_(std::move(sub)),
      purger_(purger),
      disk_(disk),
      on_synced_(std::move(on_synced)),
      ack_signal_(std::make_shared<Signal>(executor_)),
      stop_signal_(std::make_shared<Signal>(executor_)) {}

void PurgeSubscriber::start() {
    asio::co_spawn(executor_, run(shared_from_this()), asio::detached);
    asio::co_spawn(executor_, ack_loop(shared_from_this()), asio::detached);
}

void PurgeSubscriber::stop() {
    asio::post(executor_, [this] {
        stopping_ = true;
        stop_signal_->notify();
        if (current_) {
            error_code ignored;
            current_->socket().close(ignored);
        }
        ack_signal_->notify();
    });
}

void PurgeSubscriber::synced() {
    if (synced_) return;
    synced_ = true;
    log_info("purge stream: caught up at sequence {}", purger_.last_seq());
    if (on_synced_) on_synced_();
}

asio::awaitable<void> PurgeSubscriber::run(std::shared_ptr<PurgeSubscriber>) {
    std::chrono::milliseconds backoff{100};
    while (!stopping_) {
        const auto started = std::chrono::steady_clock::now();
        co_await stream_once();
        connected_ = false;
        if (stopping_) break;
        ++reconnects_;
        // A stream that lived a while resets the backoff.
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10))
            backoff = std::chrono::milliseconds(100);
        co_await stop_signal_->wait(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

void PurgeSubscriber::failed(PurgeFailure kind, const std::string& why) {
    if (stopping_) return;  // stop() closing the socket is no failure
    ++failures_[static_cast<std::size_t>(kind)];
    ++failures_since_success_;
    const auto now = std::chrono::steady_clock::now();
    if (why == last_failure_ && now - last_failure_log_ < kFailureLogInterval) {
        ++failures_unlogged_;
        return;
    }
    if (why == last_failure_ && failures_unlogged_ > 0)
        log_warn("purge stream: {} (and {} more time(s) since the last report); retrying", why,
                 failures_unlogged_);
    else
        log_warn("purge stream: {}; retrying", why);
    last_failure_ = why;
    last_failure_log_ = now;
    failures_unlogged_ = 0;
}

void PurgeSubscriber::recovered() {
    if (!last_failure_.empty())
        log_info("purge stream: connected to {}://{} after {} failed attempt(s)", sub_.api.scheme,
                 sub_.api.authority(), failures_since_success_);
    last_failure_.clear();
    failures_unlogged_ = 0;
    failures_since_success_ = 0;
}

asio::awaitable<std::unique_ptr<PurgeSubscriber::Connection>> PurgeSubscriber::connect(
    bool for_stream) {
    const char* purpose = for_stream ? "stream" : "ack";
    auto conn = sub_.tls ? std::make_unique<Connection>(executor_, *sub_.tls->context)
                         : std::make_unique<Connection>(executor_);
    beast::tcp_stream& tcp = conn->tcp();
    struct Clear {
        beast::tcp_stream*& p;
        bool active;
        ~Clear() {
            if (active) p = nullptr;
        }
    } clear{current_, for_stream};
    if (for_stream) current_ = &tcp;  // stop() closes it, even during the connect or handshake

    error_code ec;
    asio::ip::tcp::resolver resolver(executor_);
    auto endpoints = co_await resolver.async_resolve(sub_.api.host, std::to_string(sub_.api.port),
                                                     redirect_error(use_awaitable, ec));
    if (ec) {
        failed(PurgeFailure::connect,
               fmt::format("cannot resolve {} ({}): {}", sub_.api.host, purpose, ec.message()));
        co_return nullptr;
    }
    // One deadline for the TCP connect and the TLS handshake together.
    tcp.expires_after(kConnectTimeout);
    co_await tcp.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec) {
        failed(PurgeFailure::connect,
               fmt::format("cannot connect to {}://{} ({}): {}", sub_.api.scheme,
                           sub_.api.authority(), purpose, ec.message()));
        co_return nullptr;
    }
    if (auto* tls = std::get_if<Connection::Tls>(&conn->stream)) {
        SSL* ssl = tls->native_handle();
        if (!prepare_tls_client(ssl, *sub_.tls)) {
            failed(PurgeFailure::tls,
                   fmt::format("invalid TLS server name \"{}\"", sub_.tls->server_name));
            co_return nullptr;
        }
        co_await tls->async_handshake(asio::ssl::stream_base::client,
                                      redirect_error(use_awaitable, ec));
        if (ec) {
            failed(PurgeFailure::tls,
                   fmt::format("TLS handshake with {} (server name \"{}\", {}) failed: {}",
                               sub_.api.authority(), sub_.tls->server_name, purpose,
                               tls_handshake_failure(ec, ssl)));
            co_return nullptr;
        }
    }
    co_return conn;
}

asio::awaitable<void> PurgeSubscriber::stream_once() {
    auto conn = co_await connect(true);
    if (!conn || stopping_) co_return;
    current_ = &conn->tcp();  // stop() closes it under the read
    struct Clear {
        beast::tcp_stream*& p;
        ~Clear() { p = nullptr; }
    } clear{current_};
    if (auto* tls = std::get_if<Connection::Tls>(&conn->stream))
        co_await read_stream(*tls);
    else
        co_await read_stream(std::get<Connection::Plain>(conn->stream));
}

template <class Stream>
asio::awaitable<void> PurgeSubscriber::read_stream(Stream& stream) {
    error_code ec;
    auto& tcp = beast::get_lowest_layer(stream);
    bhttp::request<bhttp::empty_body> req{
        bhttp::verb::get,
        fmt::format("{}v1/stream?edge={}&after={}{}", base_path(sub_.api), sub_.edge_id,
                    purger_.last_seq(),
                    sub_.instance.empty() ? std::string() : "&instance=" + sub_.instance),
        11};
    req.set(bhttp::field::host, sub_.api.authority());
    req.set(bhttp::field::authorization, "Bearer " + sub_.token);
    req.set(bhttp::field::accept, "text/event-stream");
    co_await bhttp::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (ec) co_return;

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    tcp.expires_after(sub_.idle_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) co_return;
    if (parser.get().result_int() == 409) {
        // Another live edge registered this id: say so once, loudly, naming it.
        std::string body;
        char part[4096];
        while (!parser.is_done() && body.size() < 16384) {
            parser.get().body().data = part;
            parser.get().body().size = sizeof part;
            co_await bhttp::async_read_some(stream, buffer, parser,
                                            redirect_error(use_awaitable, ec));
            if (ec == bhttp::error::need_buffer) ec = {};
            if (ec) break;
            body.append(part, sizeof part - parser.get().body().size);
        }
        ++failures_[static_cast<std::size_t>(PurgeFailure::status)];
        ++failures_since_success_;
        const std::string why = registration::error_message(body);
        if (why != last_refusal_ && !stopping_) {
            log_error(
                "purge stream: {}://{} refused the stream of edge id {} (409): {} -- no purges "
                "reach this edge until it holds the id; retrying",
                sub_.api.scheme, sub_.api.authority(), sub_.edge_id, why);
            last_refusal_ = why;
        }
        last_failure_ = "409";
        co_return;
    }
    if (parser.get().result_int() != 200) {
        failed(PurgeFailure::status,
               fmt::format("{}://{} answered {} to the stream request", sub_.api.scheme,
                           sub_.api.authority(), parser.get().result_int()));
        co_return;
    }
    connected_ = true;
    if (!last_refusal_.empty())
        log_info("purge stream: edge id {} is no longer refused; streaming", sub_.edge_id);
    last_refusal_.clear();
    recovered();
    std::string text;
    char chunk[16384];
    while (!parser.is_done() && !stopping_) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        tcp.expires_after(sub_.idle_timeout);  // heartbeats keep a live stream inside it
        co_await bhttp::async_read_some(stream, buffer, parser, redirect_error(use_awaitable, ec));
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) break;
        text.append(chunk, sizeof chunk - parser.get().body().size);
        for (auto end = text.find("\n\n"); end != std::string::npos; end = text.find("\n\n")) {
            const purge::SseMessage msg =
                purge::parse_sse_block(std::string_view(text.data(), end));
            const std::string& event = msg.event;
            const std::string& data = msg.data;
            if (msg.comment_only) {
                synced();  // a heartbeat: the backlog is behind us
            } else if (event == "purge") {
                if (auto r = Purger::parse_event(data)) {
                    const std::uint64_t seq = r->seq;
                    const Purger::Result res = purger_.apply(std::move(*r));
                    if (!res.error.empty())
                        log_warn("purge stream: purge {} not applicable here: {}", seq, res.error);
                    to_ack_ = std::max(to_ack_, seq);
                    ack_signal_->notify();
                } else {
                    log_warn("purge stream: unreadable purge event: {}", data);
                }
            } else if (event == "reset") {
                if (const auto reset = purge::decode_reset(data)) {
                    const std::uint64_t seq = reset->compacted_through;
                    const std::int64_t ms = reset->time_ms;
                    log_warn(
                        "purge stream: the log was compacted past sequence {}; "
                        "everything cached before {} ms counts as purged",
                        purger_.last_seq(), ms);
                    purger_.reset(seq, ms);
                    if (disk_) disk_->drop_inserted_before(ms);
                    // Possibly lower than before (the log was lost and restarted): the
                    // acknowledged position follows.
                    to_ack_ = seq;
                    acked_ = std::min(acked_, seq == 0 ? 0 : seq - 1);
                    ack_signal_->notify();
                }
            } else if (event == "synced") {
                synced();
            }
            text.erase(0, end + 2);
        }
    }
}

namespace {

// One acknowledgement on an open connection: the answer's status (0 on an I/O error, in ec) and
// whether the connection may be reused.
template <class Stream>
asio::awaitable<std::pair<unsigned, bool>> post_ack(Stream& stream, beast::flat_buffer& buffer,
                                                    const PurgeSubscription& sub, std::uint64_t seq,
                                                    error_code& ec) {
    bhttp::request<bhttp::string_body> req{
        bhttp::verb::post, fmt::format("{}v1/edges/{}/ack", base_path(sub.api), sub.edge_id), 11};
    req.set(bhttp::field::host, sub.api.authority());
    req.set(bhttp::field::authorization, "Bearer " + sub.token);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = fmt::format("{{\"seq\":{}}}", seq);
    req.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(3));
    co_await bhttp::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (ec) co_return std::pair{0u, false};
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(stream, buffer, res, redirect_error(use_awaitable, ec));
    if (ec) co_return std::pair{0u, false};
    co_return std::pair{res.result_int(), res.keep_alive()};
}

}  // namespace

asio::awaitable<void> PurgeSubscriber::ack_loop(std::shared_ptr<PurgeSubscriber>) {
    std::unique_ptr<Connection> conn;
    beast::flat_buffer buffer;
    while (!stopping_) {
        if (to_ack_ <= acked_) {
            co_await ack_signal_->wait(std::chrono::seconds(1));
            continue;
        }
        const std::uint64_t seq = to_ack_;
        error_code ec;
        if (!conn) conn = co_await connect(false);
        if (!conn) ec = asio::error::not_connected;
        if (!ec) {
            const auto [status, keep_alive] = co_await std::visit(
                [&](auto& s) { return post_ack(s, buffer, sub_, seq, ec); }, conn->stream);
            if (!ec && status / 100 == 2) acked_ = std::max(acked_, seq);
            if (!ec && !keep_alive) conn.reset();
        }
        if (ec) {
            conn.reset();
            buffer.clear();
            co_await ack_signal_->wait(std::chrono::milliseconds(200));
        }
    }
}

}  // namespace cdn::edge::proxy
