#pragma once
// The admin port: GET /healthz (liveness), GET /metrics (Prometheus text) and POST /purge (a
// purge applied on this edge only, body in Cloudflare's purge_cache shape; purge_api is the
// way to purge every edge). Kept off the public listeners so none is reachable by visitors.
//
// POST /purge changes what every visitor gets, so it is guarded:
//   - off (403, the body names the setting) until a token is configured ([admin] purge_token,
//     purge_token_file, or --admin-purge-token-file);
//   - the caller presents it as "Authorization: Bearer <token>" (compared in constant time),
//     else 401 with "WWW-Authenticate: Bearer";
//   - the body is declared "application/json" (parameters allowed), else 415. A page on another
//     site can make a browser POST text/plain or a form to 127.0.0.1 without a CORS preflight;
//     it cannot send JSON or an Authorization header without one, which this port never grants.
// /healthz and /metrics are read-only and stay open. Refusals are counted in
// cdn_edge_admin_refused_total{reason}.
#include "common/metrics.hpp"
#include "edge/http/exchange.hpp"
#include "edge/proxy/purger.hpp"

#include <atomic>
#include <string>
#include <string_view>

namespace cdn::edge::proxy {

enum class AdminAuth { ok, disabled, missing_token, wrong_token };

// Whether req may use the admin purge: `token` is the configured one (empty: purging is off);
// the request must carry exactly one Authorization field, "Bearer <token>". Pure.
AdminAuth check_admin_token(std::string_view token, const http::RequestMessage& req);
// True for "application/json" with or without parameters ("application/json; charset=utf-8"),
// type and subtype in any case; false for everything else (text/plain, forms, +json types,
// lists). Pure.
bool is_json_media_type(std::string_view content_type);
// True when req has exactly one Content-Type field and it is JSON. Pure.
bool has_json_body(const http::RequestMessage& req);

class AdminHandler final : public http::RequestHandler {
  public:
    // purge_token empty: POST /purge answers 403. Registers the refusal counters in registry.
    AdminHandler(MetricsRegistry& registry, Purger* purger = nullptr, std::string purge_token = {});
    // A reload's token (SIGHUP). Call on the admin listener's worker, the one handle() runs on.
    void set_purge_token(std::string token) { purge_token_ = std::move(token); }
    boost::asio::awaitable<http::Reply> handle(http::Request& req) override;
    // While draining (SIGTERM received), /healthz answers 503 so balancers stop sending.
    void set_draining() { draining_.store(true); }

  private:
    http::Reply purge(const http::Request& req);

    const MetricsRegistry& registry_;
    Purger* purger_;
    std::string purge_token_;
    Counter& refused_disabled_;
    Counter& refused_missing_;
    Counter& refused_wrong_;
    Counter& refused_type_;
    std::atomic<bool> draining_{false};
};

}  // namespace cdn::edge::proxy
