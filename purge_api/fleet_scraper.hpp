#pragma once
// Reads every registered edge's admin /metrics in the background, so GET /v1/fleet (and the
// dashboard in a browser) needs no access to the edges and never waits on one: every `interval`
// a coroutine lists the registry and reads each edge's `<admin>/metrics` concurrently, each read
// bounded by `timeout`; an edge still being read from the previous round is skipped. Outcomes go
// through record_scrape_ok/failed (fleet_view.hpp); entries of edges that left the registry are
// dropped. Times come from the injected clock.
//
// Thread-safety: run() on one executor; scrapes() from any thread (one mutex). Everything it
// refers to must outlive the coroutine (main declares the WorkerPool after it).
#include "common/clock.hpp"
#include "purge_api/fleet_registry.hpp"
#include "purge_api/fleet_view.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace cdn::purge_api {

struct FleetScraperOptions {
    std::chrono::milliseconds interval{2000};
    std::chrono::milliseconds timeout{1000};  // per edge, connect to last byte
};

class FleetScraper {
  public:
    FleetScraper(FleetRegistry& fleet, const Clock& clock, FleetScraperOptions options = {});
    FleetScraper(const FleetScraper&) = delete;
    FleetScraper& operator=(const FleetScraper&) = delete;

    // Starts the loop on `executor` (detached). stop() ends it at its next wake-up (stopping the
    // io_context ends it at once). The loop's timer lives in its coroutine frame, so nothing of
    // the io_context outlives it.
    void start(boost::asio::any_io_executor executor);
    void stop() { stopped_ = true; }

    std::map<std::string, EdgeScrape, std::less<>> scrapes() const;
    std::chrono::milliseconds interval() const { return options_.interval; }
    // cdn_purge_api_fleet_scrapes_total{result="ok"|"failed"}
    std::uint64_t scrapes_ok() const { return ok_.load(); }
    std::uint64_t scrapes_failed() const { return failed_.load(); }

  private:
    boost::asio::awaitable<void> loop();
    boost::asio::awaitable<void> scrape_one(std::string id, std::string instance,
                                            std::string admin);
    void record(const std::string& id, const std::string& instance, std::optional<EdgeMetrics> m,
                std::string error);
    std::int64_t now_ms() const;

    FleetRegistry& fleet_;
    const Clock& clock_;
    FleetScraperOptions options_;
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> ok_{0}, failed_{0};
    mutable std::mutex mu_;
    std::map<std::string, EdgeScrape, std::less<>> scrapes_;
    std::set<std::string, std::less<>> inflight_;  // edges being read now
};

}  // namespace cdn::purge_api
