#include "geodns/health/edge_health.hpp"

#include "common/config.hpp"

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

namespace cdn::geodns {

EdgeHealth::EdgeHealth(boost::asio::any_io_executor executor, const Fleet& fleet,
                       HealthTable& table, HttpCheckSettings settings, MetricsRegistry& registry) {
    std::vector<HttpCheckTarget> targets;
    for (std::size_t i = 0; i < fleet.edges.size(); ++i) {
        const EdgeInfo& e = fleet.edges[i];
        auto url = parse_url(e.health_url);
        boost::system::error_code ec;
        auto addr = url ? boost::asio::ip::make_address(url->host, ec) : boost::asio::ip::address();
        if (!url || ec)
            throw ConfigError(fmt::format("edge {}: health URL \"{}\" needs a numeric address",
                                          e.id, e.health_url));
        HttpCheckTarget t;
        t.endpoint = tcp::endpoint(addr, url->port);
        t.host = url->authority();
        t.name = fmt::format("{} ({})", e.id, e.health_url);
        t.path = url->path;
        t.initially_up = table.up(i);
        targets.push_back(std::move(t));
        const std::string labels =
            fmt::format(R"(edge="{}",region="{}")", e.id, fleet.regions[e.region].id);
        to_up_.push_back(&registry.counter("cdn_geodns_health_transitions_total",
                                           "Edge health flips seen by geodns' checks.",
                                           labels + R"(,to="up")"));
        to_down_.push_back(&registry.counter("cdn_geodns_health_transitions_total",
                                             "Edge health flips seen by geodns' checks.",
                                             labels + R"(,to="down")"));
        registry.gauge_fn(
            "cdn_geodns_edge_up", "1 while geodns considers the edge healthy.",
            [&table, i] { return table.up(i) ? 1.0 : 0.0; }, labels);
    }
    checker_ = std::make_unique<HttpHealthChecker>(std::move(executor), std::move(targets),
                                                   std::move(settings),
                                                   [this, &table](std::size_t index, bool up) {
                                                       table.set(index, up);
                                                       (up ? to_up_ : to_down_)[index]->inc();
                                                   });
}

}  // namespace cdn::geodns
