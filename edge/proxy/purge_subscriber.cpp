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

// How one attempt at the stream ended.
struct PurgeSubscriber::Attempt {
    enum class End {
        stopped,  // stop()
        refused,  // 409: the id is held by another live instance (no reason to switch)
        failed,   // no stream, or it ended: the next instance
    };
    End end = End::failed;
    std::string why;        // for failed: what happened, for the logs
    bool streamed = false;  // a 200 came: the stream was open
};

namespace {

constexpr std::chrono::seconds kConnectTimeout{3};
constexpr std::chrono::seconds kFailureLogInterval{30};
// A stream open this long ends the run of failures: the backoff and the pass through the list
// start afresh.
constexpr std::chrono::seconds kLastingStream{10};
constexpr std::size_t kMaxReported = 64;  // reasons remembered for the rate limit

std::string base_path(const Url& api) {
    return api.path.ends_with('/') ? api.path : api.path + "/";
}

}  // namespace

PurgeSubscriber::PurgeSubscriber(asio::any_io_executor executor, PurgeSubscription sub,
                                 Purger& purger, storage::DiskStore* disk,
                                 std::function<void()> on_synced)
    : executor_(std::move(executor)),
      sub_(std::move(sub)),
      rotation_(std::move(sub_.apis)),
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
        const Attempt attempt = co_await stream_once();
        connected_ = false;
        if (stopping_ || attempt.end == Attempt::End::stopped) break;
        ++reconnects_;
        // A stream that lived a while resets the backoff and starts a new pass through the list.
        if (attempt.streamed && std::chrono::steady_clock::now() - started > kLastingStream) {
            backoff = std::chrono::milliseconds(100);
            rotation_.succeeded();
        }
        // A refused id (409) stays where it is: every instance would refuse it.
        bool wait = true;
        if (attempt.end == Attempt::End::failed) {
            const std::string from = rotation_.current().name();
            wait = rotation_.failed();
            api_ = rotation_.index();
            if (rotation_.size() > 1) switched(from, attempt.why);
        }
        if (wait) {
            co_await stop_signal_->wait(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
    }
}

void PurgeSubscriber::report(const std::string& reason, const std::string& head,
                             const std::string& tail) {
    if (stopping_) return;  // stop() closing the socket is no failure
    const auto now = std::chrono::steady_clock::now();
    auto it = reported_.find(reason);
    if (it != reported_.end() && now - it->second.at < kFailureLogInterval) {
        ++it->second.unlogged;
        return;
    }
    if (it != reported_.end() && it->second.unlogged > 0)
        log_warn("{} (and {} more time(s) since the last report){}", head, it->second.unlogged,
                 tail);
    else
        log_warn("{}{}", head, tail);
    if (it == reported_.end()) {
        if (reported_.size() >= kMaxReported) reported_.clear();
        it = reported_.emplace(reason, Reported{}).first;
    }
    it->second = Reported{now, 0};
    reported_since_stream_ = true;
}

void PurgeSubscriber::failed(const std::string& why) {
    report(why, "purge stream: " + why, "; retrying");
}

void PurgeSubscriber::switched(const std::string& from, const std::string& why) {
    if (stopping_) return;
    ++switches_;
    const std::string line = fmt::format("purge stream: switching from {} to {} ({})", from,
                                         rotation_.current().name(), why);
    if (!rotation_.exhausted()) {
        // The first pass through the list: every switch is news.
        log_warn("{}", line);
        reported_since_stream_ = true;
    } else {
        // Every instance is failing: the same switch at most every 30 s.
        report("switch " + from + " " + why, line, "");
    }
}

void PurgeSubscriber::recovered(const PurgeApiTarget& api) {
    if (reported_since_stream_) {
        if (failed_since_stream_ > 0)
            log_info("purge stream: connected to {} after {} failed attempt(s)", api.name(),
                     failed_since_stream_);
        else
            log_info("purge stream: connected to {}", api.name());
    }
    reported_.clear();
    reported_since_stream_ = false;
    failed_since_stream_ = 0;
}

asio::awaitable<PurgeSubscriber::Connected> PurgeSubscriber::connect(const PurgeApiTarget& api,
                                                                     bool for_stream) {
    const char* purpose = for_stream ? "stream" : "ack";
    Connected out;
    auto fail = [&](PurgeFailure kind, std::string why) {
        ++failures_[static_cast<std::size_t>(kind)];
        out.conn.reset();
        out.kind = kind;
        out.why = std::move(why);
    };
    out.conn = api.tls ? std::make_unique<Connection>(executor_, *api.tls->context)
                       : std::make_unique<Connection>(executor_);
    beast::tcp_stream& tcp = out.conn->tcp();
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
    auto endpoints = co_await resolver.async_resolve(api.url.host, std::to_string(api.url.port),
                                                     redirect_error(use_awaitable, ec));
    if (ec) {
        fail(PurgeFailure::connect,
             fmt::format("cannot resolve {} ({}): {}", api.url.host, purpose, ec.message()));
        co_return out;
    }
    // One deadline for the TCP connect and the TLS handshake together.
    tcp.expires_after(kConnectTimeout);
    co_await tcp.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec) {
        fail(PurgeFailure::connect,
             fmt::format("cannot connect to {} ({}): {}", api.name(), purpose, ec.message()));
        co_return out;
    }
    if (auto* tls = std::get_if<Connection::Tls>(&out.conn->stream)) {
        SSL* ssl = tls->native_handle();
        if (!prepare_tls_client(ssl, *api.tls)) {
            fail(PurgeFailure::tls,
                 fmt::format("invalid TLS server name \"{}\"", api.tls->server_name));
            co_return out;
        }
        co_await tls->async_handshake(asio::ssl::stream_base::client,
                                      redirect_error(use_awaitable, ec));
        if (ec) {
            fail(PurgeFailure::tls,
                 fmt::format("TLS handshake with {} (server name \"{}\", {}) failed: {}",
                             api.url.authority(), api.tls->server_name, purpose,
                             tls_handshake_failure(ec, ssl)));
            co_return out;
        }
    }
    co_return out;
}

asio::awaitable<PurgeSubscriber::Attempt> PurgeSubscriber::stream_once() {
    const PurgeApiTarget& api = rotation_.current();
    Connected c = co_await connect(api, true);
    if (stopping_) co_return Attempt{Attempt::End::stopped, {}, false};
    if (!c.conn) {
        ++failed_since_stream_;
        // With one instance, each failure is logged as such; with several, the switch says it.
        if (rotation_.size() == 1) failed(c.why);
        co_return Attempt{Attempt::End::failed, std::move(c.why), false};
    }
    current_ = &c.conn->tcp();  // stop() closes it under the read
    struct Clear {
        beast::tcp_stream*& p;
        ~Clear() { p = nullptr; }
    } clear{current_};
    Attempt attempt;
    if (auto* tls = std::get_if<Connection::Tls>(&c.conn->stream))
        attempt = co_await read_stream(*tls, api);
    else
        attempt = co_await read_stream(std::get<Connection::Plain>(c.conn->stream), api);
    if (stopping_) attempt.end = Attempt::End::stopped;
    co_return attempt;
}

template <class Stream>
asio::awaitable<PurgeSubscriber::Attempt> PurgeSubscriber::read_stream(Stream& stream,
                                                                       const PurgeApiTarget& api) {
    Attempt out;
    auto fail = [&](std::string why) {
        out.end = Attempt::End::failed;
        out.why = std::move(why);
        return out;
    };
    error_code ec;
    auto& tcp = beast::get_lowest_layer(stream);
    bhttp::request<bhttp::empty_body> req{
        bhttp::verb::get,
        fmt::format("{}v1/stream?edge={}&after={}{}", base_path(api.url), sub_.edge_id,
                    purger_.last_seq(),
                    sub_.instance.empty() ? std::string() : "&instance=" + sub_.instance),
        11};
    req.set(bhttp::field::host, api.url.authority());
    req.set(bhttp::field::authorization, "Bearer " + sub_.token);
    req.set(bhttp::field::accept, "text/event-stream");
    co_await bhttp::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (ec) co_return fail(fmt::format("sending the stream request failed: {}", ec.message()));

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    tcp.expires_after(sub_.idle_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec == beast::error::timeout)
        co_return fail(
            fmt::format("no answer to the stream request within {} ms", sub_.idle_timeout.count()));
    if (ec) co_return fail(fmt::format("no answer to the stream request: {}", ec.message()));
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
        ++failed_since_stream_;
        const std::string why = registration::error_message(body);
        if (why != last_refusal_ && !stopping_) {
            log_error(
                "purge stream: {} refused the stream of edge id {} (409): {} -- no purges "
                "reach this edge until it holds the id; retrying",
                api.name(), sub_.edge_id, why);
            last_refusal_ = why;
            reported_since_stream_ = true;
        }
        out.end = Attempt::End::refused;
        co_return out;
    }
    if (parser.get().result_int() != 200) {
        ++failures_[static_cast<std::size_t>(PurgeFailure::status)];
        ++failed_since_stream_;
        const std::string why = fmt::format("{} answered {} to the stream request", api.name(),
                                            parser.get().result_int());
        if (rotation_.size() == 1) failed(why);
        co_return fail(why);
    }
    out.streamed = true;
    connected_ = true;
    if (!last_refusal_.empty())
        log_info("purge stream: edge id {} is no longer refused; streaming", sub_.edge_id);
    last_refusal_.clear();
    recovered(api);
    // Each instance keeps its own view of the edges' progress: tell a new one where this edge
    // is (the acknowledgement goes to the instance of the open stream).
    if (acked_api_ != rotation_.index()) {
        acked_ = 0;
        to_ack_ = std::max(to_ack_, purger_.last_seq());
    }
    ack_signal_->notify();
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
                    ++resets_;
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
    if (ec == beast::error::timeout)
        co_return fail(fmt::format("no purge or heartbeat for {} ms", sub_.idle_timeout.count()));
    if (ec) co_return fail(fmt::format("the stream ended: {}", ec.message()));
    co_return fail("the stream ended");
}

namespace {

// One acknowledgement on an open connection: the answer's status (0 on an I/O error, in ec) and
// whether the connection may be reused.
template <class Stream>
asio::awaitable<std::pair<unsigned, bool>> post_ack(Stream& stream, beast::flat_buffer& buffer,
                                                    const PurgeSubscription& sub,
                                                    const PurgeApiTarget& api, std::uint64_t seq,
                                                    error_code& ec) {
    bhttp::request<bhttp::string_body> req{
        bhttp::verb::post, fmt::format("{}v1/edges/{}/ack", base_path(api.url), sub.edge_id), 11};
    req.set(bhttp::field::host, api.url.authority());
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

// Acknowledges to the instance of the open stream, and only while one is open: an ack that
// fails is retried (every 200 ms) to whichever instance the stream is on then.
asio::awaitable<void> PurgeSubscriber::ack_loop(std::shared_ptr<PurgeSubscriber>) {
    std::unique_ptr<Connection> conn;
    std::size_t conn_api = 0;  // the instance conn is to
    beast::flat_buffer buffer;
    while (!stopping_) {
        if (to_ack_ <= acked_ || !connected_) {
            co_await ack_signal_->wait(std::chrono::seconds(1));
            continue;
        }
        const std::size_t api_index = api_;
        const PurgeApiTarget& api = rotation_.all()[api_index];
        if (conn && conn_api != api_index) {
            conn.reset();  // the stream moved to another instance: so do the acks
            buffer.clear();
        }
        const std::uint64_t seq = to_ack_;
        bool done = false;
        if (!conn) {
            Connected c = co_await connect(api, false);
            if (c.conn) {
                conn = std::move(c.conn);
                conn_api = api_index;
            } else {
                failed(c.why);
            }
        }
        if (conn) {
            error_code ec;
            const auto [status, keep_alive] = co_await std::visit(
                [&](auto& s) { return post_ack(s, buffer, sub_, api, seq, ec); }, conn->stream);
            if (!ec && status / 100 == 2) {
                // Unless the stream moved to another instance meanwhile (which is told next),
                // or a reset lowered the position (the new one is acknowledged next).
                if (api_ == api_index && to_ack_ >= seq) {
                    acked_ = std::max(acked_, seq);
                    acked_api_ = api_index;
                }
                done = true;
            } else if (!ec) {
                // E.g. 400 from an instance that has not seen that sequence yet: again shortly.
                ++failures_[static_cast<std::size_t>(PurgeFailure::status)];
                failed(fmt::format("{} answered {} to the acknowledgement of {}", api.name(),
                                   status, seq));
            }
            if (ec || !keep_alive) {
                conn.reset();
                buffer.clear();
            }
        }
        if (!done) co_await ack_signal_->wait(std::chrono::milliseconds(200));
    }
}

}  // namespace cdn::edge::proxy
