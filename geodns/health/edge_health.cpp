#include "geodns/health/edge_health.hpp"

#include "common/config.hpp"
#include "common/log.hpp"

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

namespace cdn::geodns {

struct EdgeHealth::Edge {
    std::string health_url;
    HttpCheckTarget target;
    std::string labels;  // edge="...",region="..."
    std::shared_ptr<HealthCell> cell;
    Counter* to_up = nullptr;
    Counter* to_down = nullptr;
    std::unique_ptr<HttpHealthChecker> checker;  // null: not checked (yet)
};

namespace {

HttpCheckTarget target_of(const EdgeInfo& e) {
    auto url = parse_url(e.health_url);
    boost::system::error_code ec;
    auto addr = url ? boost::asio::ip::make_address(url->host, ec) : boost::asio::ip::address();
    if (!url || ec)
        throw ConfigError(
            fmt::format("edge {}: health URL \"{}\" needs a numeric address", e.id, e.health_url));
    HttpCheckTarget t;
    t.endpoint = tcp::endpoint(addr, url->port);
    t.host = url->authority();
    t.name = fmt::format("{} ({})", e.id, e.health_url);
    t.path = url->path;
    return t;
}

}  // namespace

bool same_check_settings(const HttpCheckSettings& a, const HttpCheckSettings& b) {
    return a.path == b.path && a.interval == b.interval && a.timeout == b.timeout &&
           a.thresholds.rise == b.thresholds.rise && a.thresholds.fall == b.thresholds.fall &&
           a.user_agent == b.user_agent && a.subject == b.subject;
}

EdgeHealth::EdgeHealth(MetricsRegistry& registry) : registry_(registry) {}

EdgeHealth::~EdgeHealth() {
    stop();
}

void EdgeHealth::register_metrics(Edge& edge, const std::string& labels) {
    edge.labels = labels;
    edge.to_up =
        &registry_.counter("cdn_geodns_health_transitions_total",
                           "Edge health flips seen by geodns' checks.", labels + R"(,to="up")");
    edge.to_down =
        &registry_.counter("cdn_geodns_health_transitions_total",
                           "Edge health flips seen by geodns' checks.", labels + R"(,to="down")");
    registry_.gauge_fn(
        "cdn_geodns_edge_up", "1 while geodns considers the edge healthy.",
        [cell = edge.cell] { return cell->up.load(std::memory_order_relaxed) ? 1.0 : 0.0; },
        labels);
}

void EdgeHealth::unregister_metrics(const Edge& edge) {
    registry_.remove("cdn_geodns_health_transitions_total", edge.labels + R"(,to="up")");
    registry_.remove("cdn_geodns_health_transitions_total", edge.labels + R"(,to="down")");
    registry_.remove("cdn_geodns_edge_up", edge.labels);
}

void EdgeHealth::start_checker(const std::string& id, Edge& edge) {
    edge.checker.reset();  // stops the old one first: it never writes the cell again
    if (!enabled_ || stopped_ || !executor_) return;
    HttpCheckTarget t = edge.target;
    t.initially_up = edge.cell->up.load(std::memory_order_relaxed);
    std::vector<HttpCheckTarget> targets;
    targets.push_back(std::move(t));
    edge.checker = std::make_unique<HttpHealthChecker>(
        *executor_, std::move(targets), settings_,
        [cell = edge.cell, to_up = edge.to_up, to_down = edge.to_down](std::size_t, bool up) {
            cell->up.store(up, std::memory_order_relaxed);
            (up ? to_up : to_down)->inc();
        });
    edge.checker->start();
    log(LogLevel::debug, "geodns: checking edge {} at {}", id, edge.health_url);
}

std::shared_ptr<const HealthTable> EdgeHealth::update(
    const Fleet& fleet, const HttpCheckSettings& settings, bool enabled,
    const std::set<std::string, std::less<>>& start_up) {
    // Everything that can fail first, so a bad fleet changes nothing.
    std::vector<HttpCheckTarget> targets;
    targets.reserve(fleet.edges.size());
    for (const EdgeInfo& e : fleet.edges)
        targets.push_back(target_of(e));

    const bool restart_all =
        !first_ && (enabled != enabled_ || !same_check_settings(settings, settings_));
    settings_ = settings;
    enabled_ = enabled;

    std::map<std::string, std::unique_ptr<Edge>, std::less<>> next;
    std::vector<std::shared_ptr<HealthCell>> cells;
    std::vector<std::string> added, added_up;
    std::vector<std::pair<std::string, Edge*>> to_start;
    for (std::size_t i = 0; i < fleet.edges.size(); ++i) {
        const EdgeInfo& e = fleet.edges[i];
        const std::string labels =
            fmt::format(R"(edge="{}",region="{}")", e.id, fleet.regions[e.region].id);
        auto it = edges_.find(e.id);
        std::unique_ptr<Edge> edge;
        if (it != edges_.end()) {
            edge = std::move(it->second);
            edges_.erase(it);
            if (edge->labels != labels) {  // moved to another region
                unregister_metrics(*edge);
                register_metrics(*edge, labels);
            }
            if (restart_all || edge->health_url != e.health_url || !edge->checker)
                to_start.emplace_back(e.id, edge.get());
        } else {
            edge = std::make_unique<Edge>();
            // A fresh fleet is assumed healthy until checked; an edge added to a running one is
            // not answered before its checks pass.
            const bool up = first_ || !enabled || start_up.contains(e.id);
            edge->cell = std::make_shared<HealthCell>(up);
            register_metrics(*edge, labels);
            if (!first_) (up ? added_up : added).push_back(e.id);
            to_start.emplace_back(e.id, edge.get());
        }
        edge->health_url = e.health_url;
        edge->target = std::move(targets[i]);
        cells.push_back(edge->cell);
        next.emplace(e.id, std::move(edge));
    }
    // What is left went away: no more checks, no more metrics.
    std::vector<std::string> removed;
    for (auto& [id, edge] : edges_) {
        edge->checker.reset();
        unregister_metrics(*edge);
        removed.push_back(id);
    }
    edges_ = std::move(next);
    if (!enabled) {
        for (auto& [id, edge] : edges_) {
            edge->checker.reset();
            edge->cell->up.store(true, std::memory_order_relaxed);
        }
    } else {
        for (auto& [id, edge] : to_start)
            start_checker(id, *edge);
    }
    if (!added.empty() || !added_up.empty() || !removed.empty())
        log_info("geodns: fleet changed: added [{}]{}{}, removed [{}] (no longer checked)",
                 fmt::join(added, ", "), enabled ? " (down until their checks pass)" : "",
                 added_up.empty() ? std::string()
                                  : fmt::format(", added [{}] (registered: up until their "
                                                "checks fail)",
                                                fmt::join(added_up, ", ")),
                 fmt::join(removed, ", "));
    if (restart_all)
        log_info("geodns: health checks {}", enabled ? "restarted with the new [health] settings"
                                                     : "are off; every edge counts as up");
    first_ = false;
    return std::make_shared<const HealthTable>(std::move(cells));
}

void EdgeHealth::start(boost::asio::any_io_executor executor) {
    if (executor_ || stopped_) return;
    executor_ = std::move(executor);
    for (auto& [id, edge] : edges_)
        start_checker(id, *edge);
}

void EdgeHealth::stop() {
    stopped_ = true;
    for (auto& [id, edge] : edges_)
        edge->checker.reset();
}

}  // namespace cdn::geodns
