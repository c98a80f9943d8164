#pragma once
// purge_api's metrics (cdn_purge_api_*), registered once at start-up; updates are lock-free.
#include "common/metrics.hpp"
#include "purge_api/purge_request.hpp"

#include <array>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::purge_api {

struct ApiMetrics {
    explicit ApiMetrics(MetricsRegistry& registry);

    Counter& accepted(PurgeKind kind) { return *accepted_[static_cast<std::size_t>(kind)]; }
    // reason: ApiError::reason() ("malformed_json", "forbidden", ...).
    Counter& rejected(std::string_view reason);

    Histogram& fsync_seconds;
    Histogram& batch_size;
    Gauge& last_seq;
    Counter& acks;
    Counter& replayed;  // Idempotency-Key retries answered with the first purge
    Counter& synced;    // requests planned again after PurgeStore::sync
    Counter& streams_opened;
    Counter& streams_replaced;        // a newer stream for the same edge took over
    Counter& streams_cut;             // a write stayed blocked past write_timeout (slow client)
    Counter& streams_closed;          // the client went away, or a write failed
    Counter& tls_handshakes;          // completed on the [tls] listener
    Counter& tls_handshake_failures;  // plain HTTP on the TLS port, no shared protocol, timeout
    Counter& reloads_ok;              // SIGHUP: the config file was read and applied
    Counter& reloads_failed;          // SIGHUP: it did not load; the running config stays

  private:
    std::array<Counter*, 5> accepted_{};
    std::vector<std::pair<std::string_view, Counter*>> rejected_;
};

}  // namespace cdn::purge_api
