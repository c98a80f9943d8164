#pragma once
// The admin port: GET /healthz (liveness) and GET /metrics (Prometheus text). Kept off the
// public listeners so neither is reachable by site visitors.
#include "common/metrics.hpp"
#include "edge/http/exchange.hpp"

#include <atomic>

namespace cdn::edge::proxy {

class AdminHandler final : public http::RequestHandler {
  public:
    explicit AdminHandler(const MetricsRegistry& registry) : registry_(registry) {}
    boost::asio::awaitable<http::Reply> handle(http::Request& req) override;
    // While draining (SIGTERM received), /healthz answers 503 so balancers stop sending.
    void set_draining() { draining_.store(true); }

  private:
    const MetricsRegistry& registry_;
    std::atomic<bool> draining_{false};
};

}  // namespace cdn::edge::proxy
