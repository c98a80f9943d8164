#include "common/health_checker.hpp"

#include "common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

namespace cdn {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 16 * 1024;

struct CheckResult {
    bool success = false;
    std::string reason;  // why it failed, or the status line that passed
};

std::string describe(const char* step, const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return fmt::format("{}: timed out", step);
    return fmt::format("{}: {}", step, ec.message());
}

}  // namespace

namespace detail {

struct HttpHealthShared {
    // One server's target and the I/O objects stop() must be able to cancel. Touched only on
    // the strand.
    struct Target {
        Target(asio::any_io_executor ex, HttpCheckTarget t)
            : timer(std::move(ex)),
              endpoint(t.endpoint),
              host(std::move(t.host)),
              name(std::move(t.name)),
              path(std::move(t.path)),
              initially_up(t.initially_up),
              tls(std::move(t.tls)) {}
        asio::steady_timer timer;
        beast::tcp_stream* stream = nullptr;  // the check in progress (its TCP layer), if any
        const tcp::endpoint endpoint;
        const std::string host;  // Host header value
        const std::string name;  // for logs
        const std::string path;  // request target
        const bool initially_up;
        const std::shared_ptr<const TlsClientConfig> tls;  // null: plain HTTP
    };

    asio::any_io_executor strand;
    HttpCheckSettings settings;
    std::vector<std::unique_ptr<Target>> targets;  // fixed after construction

    std::atomic<bool> stopped{false};  // set under mu
    std::mutex mu;                     // orders on_change and transitions with stop()
    std::function<void(std::size_t, bool)> on_change;
    std::function<void(std::size_t, bool, bool)> on_check;
    Counter* transitions = nullptr;

    // Applies one check result; false once stopped (the loop must end without touching anything).
    bool apply(std::size_t index, HealthState& state, const CheckResult& result) {
        std::lock_guard lock(mu);
        if (stopped.load(std::memory_order_relaxed)) return false;
        const bool flipped = state.record(result.success);
        if (flipped && on_change) on_change(index, state.up());
        if (on_check) on_check(index, result.success, state.up());
        if (!flipped) return true;
        if (transitions != nullptr) transitions->inc();
        const Target& t = *targets[index];
        if (state.up())
            log_info("{} {} is up ({} consecutive good checks of {}; last: {})", settings.subject,
                     t.name, settings.thresholds.rise, t.path.empty() ? settings.path : t.path,
                     result.reason);
        else
            log_warn("{} {} is down ({} consecutive failed checks of {}; last: {})",
                     settings.subject, t.name, settings.thresholds.fall,
                     t.path.empty() ? settings.path : t.path, result.reason);
        return true;
    }
};

}  // namespace detail

namespace {

using Shared = detail::HttpHealthShared;
using Target = Shared::Target;

// Clears Target::stream however the check ends.
struct StreamRegistration {
    Target& target;
    StreamRegistration(Target& t, beast::tcp_stream& s) : target(t) { target.stream = &s; }
    ~StreamRegistration() { target.stream = nullptr; }
    StreamRegistration(const StreamRegistration&) = delete;
    StreamRegistration& operator=(const StreamRegistration&) = delete;
};

// One check over a connected-to-be stream: plain beast::tcp_stream or ssl_stream over one.
template <class Stream>
asio::awaitable<CheckResult> check_on(std::shared_ptr<Shared> shared, Target& target,
                                      Stream& stream) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    StreamRegistration registration(target, lowest);
    lowest.expires_after(shared->settings.timeout);  // bounds the whole check

    // stop() cancels the step under way; a step that had already completed when stop() came
    // would go on to the next one, so each step also looks at the flag.
    auto stopped = [&] { return shared->stopped.load(std::memory_order_acquire); };
    const CheckResult kStopped{false, "stopped"};

    auto [cec] = co_await lowest.async_connect(target.endpoint, nothrow);
    if (cec) co_return CheckResult{false, describe("connect", cec)};
    if (stopped()) co_return kStopped;

    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
        if (!prepare_tls_client(stream.native_handle(), *target.tls))
            co_return CheckResult{false, "tls: invalid server name " + target.tls->server_name};
        auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, nothrow);
        if (hec)
            co_return CheckResult{
                false,
                hec == beast::error::timeout
                    ? describe("tls handshake", hec)
                    : "tls handshake: " + tls_handshake_failure(hec, stream.native_handle())};
        if (stopped()) co_return kStopped;
    }

    const std::string& path = target.path.empty() ? shared->settings.path : target.path;
    beast_http::request<beast_http::empty_body> req{beast_http::verb::get, path, 11};
    req.set(beast_http::field::host, target.host);
    req.set(beast_http::field::user_agent, shared->settings.user_agent);
    req.set(beast_http::field::connection, "close");
    auto [wec, wn] = co_await beast_http::async_write(stream, req, nothrow);
    if (wec) co_return CheckResult{false, describe("write", wec)};
    if (stopped()) co_return kStopped;

    // The head decides; the body is not read (the connection is closed right after, without a
    // TLS close_notify).
    beast_http::response_parser<beast_http::empty_body> parser;
    parser.header_limit(max_header_bytes);
    beast::flat_buffer buffer;
    auto [rec, rn] = co_await beast_http::async_read_header(stream, buffer, parser, nothrow);
    if (rec) co_return CheckResult{false, describe("read", rec)};

    const unsigned status = parser.get().result_int();
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.socket().close(ignored);
    co_return CheckResult{status >= 200 && status < 400, fmt::format("status {}", status)};
}

asio::awaitable<CheckResult> check_once(std::shared_ptr<Shared> shared, std::size_t index) {
    Target& target = *shared->targets[index];
    if (target.tls) {
        beast::ssl_stream<beast::tcp_stream> stream(shared->strand, *target.tls->context);
        co_return co_await check_on(shared, target, stream);
    }
    beast::tcp_stream stream(shared->strand);
    co_return co_await check_on(shared, target, stream);
}

asio::awaitable<void> check_loop(std::shared_ptr<Shared> shared, std::size_t index,
                                 bool initially_up) {
    Target& target = *shared->targets[index];
    HealthState state(shared->settings.thresholds, initially_up);
    while (!shared->stopped.load(std::memory_order_acquire)) {
        const CheckResult result = co_await check_once(shared, index);
        if (!shared->apply(index, state, result)) break;
        target.timer.expires_after(shared->settings.interval);
        auto [ec] = co_await target.timer.async_wait(nothrow);
        (void)ec;  // cancelled by stop(), or the interval passed; the loop condition decides
    }
}

// co_spawn completion: a loop only ends by an exception when something is badly wrong (bad_alloc).
struct OnLoopExit {
    void operator()(std::exception_ptr e) const {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log_error("health check loop failed: {}", ex.what());
        } catch (...) {
            log_error("health check loop failed");
        }
    }
};

}  // namespace

HttpHealthChecker::HttpHealthChecker(asio::any_io_executor executor,
                                     std::vector<HttpCheckTarget> targets,
                                     HttpCheckSettings settings,
                                     std::function<void(std::size_t, bool)> on_change,
                                     Counter* transitions)
    : strand_(asio::make_strand(std::move(executor))),
      shared_(std::make_shared<detail::HttpHealthShared>()) {
    shared_->strand = strand_;
    shared_->settings = std::move(settings);
    shared_->on_change = std::move(on_change);
    shared_->transitions = transitions;
    shared_->targets.reserve(targets.size());
    for (HttpCheckTarget& t : targets)
        shared_->targets.push_back(std::make_unique<Target>(strand_, std::move(t)));
}

HttpHealthChecker::~HttpHealthChecker() {
    stop();
}

void HttpHealthChecker::set_on_check(OnCheck on_check) {
    std::lock_guard lock(shared_->mu);
    shared_->on_check = std::move(on_check);
}

void HttpHealthChecker::start() {
    if (started_) return;
    started_ = true;
    if (shared_->stopped.load(std::memory_order_acquire)) return;
    for (std::size_t i = 0; i < shared_->targets.size(); ++i)
        asio::co_spawn(strand_, check_loop(shared_, i, shared_->targets[i]->initially_up),
                       OnLoopExit{});
}

void HttpHealthChecker::stop() {
    {
        std::lock_guard lock(shared_->mu);
        if (shared_->stopped.exchange(true, std::memory_order_acq_rel)) return;
    }
    // The timers and sockets belong to the strand: cancel them there.
    asio::dispatch(strand_, [shared = shared_] {
        for (auto& t : shared->targets) {
            t->timer.cancel();
            if (t->stream != nullptr) t->stream->cancel();
        }
    });
}

}  // namespace cdn
