#pragma once
// The admin port: GET /healthz (liveness), GET /metrics (Prometheus text) and POST /purge (a
// purge applied on this edge only, body in Cloudflare's purge_cache shape; purge_api is the
// way to purge every edge). Kept off the public listeners so none is reachable by visitors.
#include "common/metrics.hpp"
#include "edge/http/exchange.hpp"
#include "edge/proxy/purger.hpp"

#include <atomic>

namespace cdn::edge::proxy {

class AdminHandler final : public http::RequestHandler {
  public:
    explicit AdminHandler(const MetricsRegistry& registry, Purger* purger = nullptr)
        : registry_(registry), purger_(purger) {}
    boost::asio::awaitable<http::Reply> handle(http::Request& req) override;
    // While draining (SIGTERM received), /healthz answers 503 so balancers stop sending.
    void set_draining() { draining_.store(true); }

  private:
    http::Reply purge(const http::Request& req);

    const MetricsRegistry& registry_;
    Purger* purger_;
    std::atomic<bool> draining_{false};
};

}  // namespace cdn::edge::proxy
