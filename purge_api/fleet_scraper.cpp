#include "purge_api/fleet_scraper.hpp"

#include "common/http_call.hpp"
#include "common/log.hpp"
#include "common/net.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace cdn::purge_api {
namespace asio = boost::asio;

FleetScraper::FleetScraper(FleetRegistry& fleet, const Clock& clock, FleetScraperOptions options)
    : fleet_(fleet), clock_(clock), options_(options) {}

std::int64_t FleetScraper::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

void FleetScraper::start(asio::any_io_executor executor) {
    asio::co_spawn(executor, loop(), asio::detached);
}

std::map<std::string, EdgeScrape, std::less<>> FleetScraper::scrapes() const {
    std::lock_guard lk(mu_);
    return scrapes_;
}

asio::awaitable<void> FleetScraper::loop() {
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    while (!stopped_) {
        const RegistryListing listing = fleet_.list();
        {
            // Edges that left the registry are forgotten.
            std::lock_guard lk(mu_);
            for (auto it = scrapes_.begin(); it != scrapes_.end();) {
                const bool live =
                    std::any_of(listing.edges.begin(), listing.edges.end(),
                                [&](const RegisteredEdge& e) { return e.reg.id == it->first; });
                it = live ? std::next(it) : scrapes_.erase(it);
            }
        }
        for (const RegisteredEdge& e : listing.edges) {
            if (e.reg.admin.empty()) continue;
            {
                std::lock_guard lk(mu_);
                if (!inflight_.insert(e.reg.id).second) continue;  // still reading the last round
            }
            asio::co_spawn(ex, scrape_one(e.reg.id, e.reg.instance, e.reg.admin), asio::detached);
        }
        timer.expires_after(options_.interval);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> FleetScraper::scrape_one(std::string id, std::string instance,
                                               std::string admin) {
    std::optional<EdgeMetrics> metrics;
    std::string error;
    const auto url = parse_url(admin);
    if (!url) {
        error = fmt::format("admin URL \"{}\" does not parse", admin);
    } else if (url->scheme != "http") {
        error = "only http:// admin URLs are scraped";
    } else {
        HttpCall call;
        call.target = "/metrics";
        call.timeout = options_.timeout;
        const HttpCallResult r =
            co_await http_call(co_await asio::this_coro::executor, *url, nullptr, call);
        if (!r.ok())
            error = r.error;
        else if (r.status != 200)
            error = fmt::format("{}/metrics answered {}", admin, r.status);
        else
            metrics = edge_metrics(r.body);
    }
    record(id, instance, std::move(metrics), std::move(error));
}

void FleetScraper::record(const std::string& id, const std::string& instance,
                          std::optional<EdgeMetrics> m, std::string error) {
    std::lock_guard lk(mu_);
    inflight_.erase(id);
    EdgeScrape& s = scrapes_[id];
    const bool was_failing = s.error.has_value() && s.instance == instance;
    ++(m ? ok_ : failed_);
    if (m) {
        record_scrape_ok(s, instance, now_ms(), std::move(*m));
        if (was_failing) log_info("fleet: edge {} answers its /metrics again", id);
    } else {
        // Logged once per change of state, not every round.
        if (!was_failing) log_warn("fleet: cannot read edge {}'s metrics: {}", id, error);
        record_scrape_failed(s, instance, now_ms(), std::move(error));
    }
}

}  // namespace cdn::purge_api
