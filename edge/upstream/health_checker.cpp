#include "edge/upstream/health_checker.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

namespace cdn::edge::upstream {
namespace {

std::vector<HttpCheckTarget> targets_of(const OriginSet& origins,
                                        const HealthCheckSettings& settings) {
    std::vector<HttpCheckTarget> targets;
    targets.reserve(origins.size());
    for (std::size_t i = 0; i < origins.size(); ++i) {
        const OriginServer& s = origins.server(i);
        HttpCheckTarget t;
        t.endpoint = s.endpoint;
        t.host = settings.host_header.empty() ? s.url.authority() : settings.host_header;
        // "http://origin.example (192.0.2.1:80)", or just "http://127.0.0.1:8080".
        t.name = fmt::format("{}://{}", s.url.scheme, s.url.authority());
        if (const std::string ep = cdn::to_string(s.endpoint); ep != s.url.authority())
            t.name += fmt::format(" ({})", ep);
        t.initially_up = origins.healthy(i);
        t.tls = s.tls;  // https origins are checked over TLS, with the group's settings
        targets.push_back(std::move(t));
    }
    return targets;
}

HttpCheckSettings http_settings(const HealthCheckSettings& s) {
    HttpCheckSettings h;
    h.path = s.path;
    h.interval = s.interval;
    h.timeout = s.timeout;
    h.thresholds = s.thresholds;
    h.user_agent = "cdn-edge-health";
    h.subject = "edge: origin";
    return h;
}

}  // namespace

HealthChecker::HealthChecker(boost::asio::any_io_executor executor, OriginSet& origins,
                             HealthCheckSettings settings, Counter* transitions)
    : checker_(
          std::move(executor), targets_of(origins, settings), http_settings(settings),
          [&origins](std::size_t index, bool up) {
              origins.set_healthy(index, up, SystemClock::instance().now());
          },
          transitions) {}

}  // namespace cdn::edge::upstream
