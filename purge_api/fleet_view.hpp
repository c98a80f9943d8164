#pragma once
// GET /v1/fleet's answer, assembled from what purge_api knows: the registry (who is there, where,
// since when), the purge streams (connected, last applied seq, lag behind the log), the edges'
// own /metrics as the scraper last read them (req/s, hit ratio, cache and disk), and the newest
// purges with their per-edge acks. Pure: every input, `now` included, is passed in; the scraper
// (fleet_scraper.hpp) does the I/O and the handler gathers the inputs.
//
//   {"now_ms":..,"log_head_seq":43,"scrape_interval_ms":2000,
//    "observer_health":null,                       geodns does not publish it yet (see README)
//    "totals":{"edges":2,"up":2,"req_per_s":12.5},
//    "regions":[{"region":"eu-central","edges":[{"id","role","status","registration",
//                                               "purge","stats","observer_health"}, ...]}],
//    "purges":[{"id","seq","kind","values","values_total","soft","time_ms","complete",
//               "completed_ms","applied","pending","unreachable","edges":[..]}]}
#include "common/registration.hpp"
#include "purge_api/edge_registry.hpp"
#include "purge_api/prom_text.hpp"
#include "purge_api/purge_store.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::purge_api {

// One successful read of an edge's /metrics.
struct MetricsSnapshot {
    std::int64_t at_ms = 0;
    EdgeMetrics metrics;
};

// What the scraper knows of one registered edge: its last two successful scrapes (a rate needs
// two) and how the latest attempt went.
struct EdgeScrape {
    std::string instance;  // the registration scraped; another instance starts over
    std::optional<MetricsSnapshot> previous, latest;
    std::int64_t attempt_ms = 0;       // the latest attempt (0: none yet)
    std::optional<std::string> error;  // the latest attempt failed: why
};

// Records an attempt's outcome (for `instance`: a different one than before resets the entry,
// since a restarted edge's counters start again from zero).
void record_scrape_ok(EdgeScrape& s, std::string_view instance, std::int64_t now_ms,
                      EdgeMetrics metrics);
void record_scrape_failed(EdgeScrape& s, std::string_view instance, std::int64_t now_ms,
                          std::string error);

// Rates from the last two scrapes. Over that interval when there are two (and the counters did
// not go backwards: a restart); otherwise req/s is unknown and the hit ratio is cumulative
// (since the edge started). The hit ratio is hit / (hit + miss + expired + revalidated + stale);
// unknown when there were no such requests.
struct EdgeRates {
    std::optional<double> req_per_s;
    std::optional<double> hit_ratio;
    bool cumulative = true;        // the hit ratio is since start-up, not over the interval
    std::int64_t interval_ms = 0;  // between the two scrapes (0: one scrape)
};
EdgeRates edge_rates(const EdgeScrape& s);

struct RecentPurge {
    PurgeRecordPtr record;
    PurgeProgress progress;
};

struct FleetInputs {
    std::int64_t now_ms = 0;
    std::uint64_t head_seq = 0;  // the log's last seq
    std::int64_t scrape_interval_ms = 0;
    registration::RegistryListing registry;
    std::vector<EdgeView> streams;                           // EdgeRegistry::edges()
    std::map<std::string, EdgeScrape, std::less<>> scrapes;  // by edge id
    std::vector<RecentPurge> purges;                         // newest first
};

// Values of a purge listed in the fleet view (values_total says how many there are).
inline constexpr std::size_t kFleetValuesShown = 5;

// Regions are sorted by name, edges by id within each; the edges only the purge stream knows
// (configured, or streaming without a registration) come last, under region "".
boost::json::object fleet_json(const FleetInputs& in);

}  // namespace cdn::purge_api
