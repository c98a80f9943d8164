#include "edge/proxy/registrar.hpp"

#include "common/http_call.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto kCallTimeout = 3s;
constexpr auto kDeregisterTimeout = 2s;
constexpr std::chrono::milliseconds kDefaultLease{10'000};

// The holder's lease length from a 409 (purge_api adds lease_ttl_ms), else the default.
std::chrono::milliseconds lease_of(const std::string& body, std::chrono::milliseconds known) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object())
        if (const auto* t = v.get_object().if_contains("lease_ttl_ms"); t && t->is_int64())
            return std::chrono::milliseconds(std::max<std::int64_t>(t->get_int64(), 100));
    return known;
}

}  // namespace

Registrar::Registrar(asio::any_io_executor executor, RegistrarSettings settings,
                     std::function<void()> on_first_attempt)
    : executor_(std::move(executor)),
      settings_(std::move(settings)),
      rotation_(std::move(settings_.apis)),
      on_first_attempt_(std::move(on_first_attempt)),
      timer_(executor_),
      states_(rotation_.size()) {}

void Registrar::start() {
    asio::co_spawn(executor_, run(shared_from_this()), asio::detached);
}

void Registrar::stop() {
    asio::post(executor_, [self = shared_from_this()] {
        self->stopping_ = true;
        self->timer_.cancel();
    });
}

void Registrar::note(const std::string& state, LogLevel level, const std::string& line) {
    std::string& last = states_[rotation_.index()];
    if (state == last) return;
    last = state;
    log(level, "{}", line);
}

void Registrar::first_attempt_done() {
    if (auto f = std::exchange(on_first_attempt_, nullptr)) f();
}

asio::awaitable<void> Registrar::pause(std::chrono::milliseconds d) {
    if (stopping_) co_return;
    timer_.expires_after(d);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Registrar::run(std::shared_ptr<Registrar>) {
    const registration::Registration& reg = settings_.reg;
    const std::string id = reg.id;
    const std::string body = boost::json::serialize(registration::to_json(reg));
    std::chrono::milliseconds lease = kDefaultLease, renew_every = kDefaultLease / 3;
    std::chrono::milliseconds backoff = 500ms;
    auto grow = [&](std::chrono::milliseconds cap) {
        const auto now = backoff;
        backoff = std::min(backoff * 2, cap);
        return now;
    };
    const bool several = rotation_.size() > 1;
    // What comes after a failure at the current instance, for the log line.
    auto then = [&] {
        return several ? "trying " + rotation_.following().name() + " next"
                       : std::string("retrying");
    };
    // The current instance failed: on to the next one, at once during the first pass through
    // the list, after the backoff (up to cap) once every instance has failed in a row.
    auto move_on = [&](std::chrono::milliseconds cap) {
        return rotation_.failed() ? grow(cap) : 0ms;
    };
    bool registered = false;
    while (!stopping_) {
        const std::string where = rotation_.current().name();
        std::chrono::milliseconds wait{0};
        if (!registered) {
            HttpCall call{bhttp::verb::put, "/v1/registry/" + id, settings_.token, body,
                          kCallTimeout};
            const HttpCallResult r = co_await http_call(executor_, rotation_.current().url,
                                                        rotation_.current().tls, std::move(call));
            if (r.ok() && r.status == 200) {
                if (const auto g = registration::parse_lease_grant(r.body)) {
                    lease = std::chrono::milliseconds(g->lease_ttl_ms);
                    renew_every = std::chrono::milliseconds(g->renew_every_ms);
                }
                registered = true;
                registered_ = true;
                backoff = 500ms;
                rotation_.succeeded();
                note("registered", LogLevel::info,
                     fmt::format("registry: registered as {} with {} (instance {}, http {}, lease "
                                 "{} ms, renewed every {} ms)",
                                 id, where, reg.instance, reg.http, lease.count(),
                                 renew_every.count()));
                wait = renew_every;
            } else if (r.ok() && r.status == 409) {
                // The holder is alive: no reason to try another instance.
                registered_ = false;
                lease = lease_of(r.body, lease);
                // The holder's description (not its lease times) decides whether this is news.
                note("refused:" + registration::error_message(r.body), LogLevel::error,
                     fmt::format("registry: {} refused the id {}: {} -- this edge keeps serving "
                                 "but is not registered and takes no purges under that id; "
                                 "trying again every {} ms",
                                 where, id, registration::error_message(r.body), lease.count()));
                wait = lease;
            } else if (r.ok()) {
                registered_ = false;
                note(fmt::format("status:{}", r.status), LogLevel::error,
                     fmt::format("registry: {} answered {} to the registration of {}: {}; {}",
                                 where, r.status, id, registration::error_message(r.body), then()));
                wait = move_on(30s);
            } else {
                registered_ = false;
                note("unreachable:" + r.error, LogLevel::warn,
                     fmt::format("registry: {} (registering {}); {}", r.error, id, then()));
                wait = move_on(5s);
            }
            first_attempt_done();
        } else {
            HttpCall call{bhttp::verb::post, "/v1/registry/" + id + "/heartbeat", settings_.token,
                          boost::json::serialize(boost::json::object{{"instance", reg.instance}}),
                          kCallTimeout};
            const HttpCallResult r = co_await http_call(executor_, rotation_.current().url,
                                                        rotation_.current().tls, std::move(call));
            if (r.ok() && r.status == 200) {
                backoff = 500ms;
                rotation_.succeeded();
                note("registered", LogLevel::info,
                     fmt::format("registry: renewing {} with {} again", id, where));
                wait = renew_every;
            } else if (r.ok() && (r.status == 404 || r.status == 409)) {
                registered = false;
                registered_ = false;
                note("lapsed", LogLevel::warn,
                     fmt::format("registry: {} no longer holds a lease for {} ({}); registering "
                                 "again",
                                 where, id, registration::error_message(r.body)));
                wait = 0ms;
            } else if (several) {
                // Register with the next instance (this one's lease lapses by itself).
                registered = false;
                registered_ = false;
                note(r.ok() ? fmt::format("status:{}", r.status) : "unreachable:" + r.error,
                     LogLevel::warn,
                     fmt::format("registry: renewing {} failed: {}; registering with {}", id,
                                 r.ok() ? fmt::format("{} answered {}", where, r.status) : r.error,
                                 rotation_.following().name()));
                wait = move_on(5s);
            } else {
                // Keep trying within the lease; a lapse shows up as a 404 later.
                note(
                    r.ok() ? fmt::format("status:{}", r.status) : "unreachable:" + r.error,
                    LogLevel::warn,
                    fmt::format("registry: renewing {} failed: {}; retrying", id,
                                r.ok() ? fmt::format("{} answered {}", where, r.status) : r.error));
                wait = std::min(grow(5s), std::max(renew_every / 2, 100ms));
            }
        }
        co_await pause(wait);
    }
    registered_ = false;
    if (registered) {
        const std::string where = rotation_.current().name();
        HttpCall call{bhttp::verb::delete_, "/v1/registry/" + id + "?instance=" + reg.instance,
                      settings_.token, "", kDeregisterTimeout};
        const HttpCallResult r = co_await http_call(executor_, rotation_.current().url,
                                                    rotation_.current().tls, std::move(call));
        if (r.ok() && (r.status == 204 || r.status == 404))
            log_info("registry: deregistered {} from {}", id, where);
        else
            log_warn("registry: deregistering {} failed ({}); its lease lapses by itself", id,
                     r.ok() ? fmt::format("{} answered {}", where, r.status) : r.error);
    }
    first_attempt_done();
    finished_ = true;
}

}  // namespace cdn::edge::proxy
