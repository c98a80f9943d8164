#include "purge_api/api_metrics.hpp"

#include <fmt/format.h>

namespace cdn::purge_api {

ApiMetrics::ApiMetrics(MetricsRegistry& r)
    : fsync_seconds(r.histogram("cdn_purge_api_log_fsync_seconds",
                                "Time of each fdatasync of the purge log.",
                                latency_buckets_seconds())),
      batch_size(r.histogram("cdn_purge_api_log_batch_purges",
                             "Purges made durable by one fdatasync (group commit).",
                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      last_seq(r.gauge("cdn_purge_api_last_seq", "Sequence number of the newest logged purge.")),
      acks(r.counter("cdn_purge_api_acks_total", "Acknowledgements received from edges.")),
      replayed(r.counter("cdn_purge_api_idempotent_replays_total",
                         "POSTs answered with an earlier purge of the same Idempotency-Key.")),
      synced(r.counter("cdn_purge_api_sync_waits_total",
                       "Requests that waited for this instance to catch up with the shared log "
                       "(a stream or ack ahead of it, a purge id not seen yet).")),
      streams_opened(r.counter("cdn_purge_api_streams_opened_total", "Edge streams started.")),
      streams_replaced(r.counter("cdn_purge_api_streams_ended_total",
                                 "Edge streams ended, by reason.", R"(reason="replaced")")),
      streams_cut(r.counter("cdn_purge_api_streams_ended_total", "Edge streams ended, by reason.",
                            R"(reason="slow")")),
      streams_closed(r.counter("cdn_purge_api_streams_ended_total",
                               "Edge streams ended, by reason.", R"(reason="closed")")),
      tls_handshakes(r.counter("cdn_purge_api_tls_handshakes_total",
                               "TLS handshakes completed on the [tls] listener.")),
      tls_handshake_failures(
          r.counter("cdn_purge_api_tls_handshake_failures_total",
                    "TLS handshakes that failed (plain HTTP or garbage on the TLS port, no "
                    "shared protocol or cipher, a client that did not finish in 10 s).")),
      reloads_ok(r.counter("cdn_purge_api_reloads_total",
                           "Configuration reloads (SIGHUP), by result.", R"(result="ok")")),
      reloads_failed(r.counter("cdn_purge_api_reloads_total",
                               "Configuration reloads (SIGHUP), by result.",
                               R"(result="failed")")) {
    for (PurgeKind k : {PurgeKind::files, PurgeKind::prefixes, PurgeKind::tags, PurgeKind::hosts,
                        PurgeKind::everything})
        accepted_[static_cast<std::size_t>(k)] =
            &r.counter("cdn_purge_api_purges_total", "Purges accepted and logged, by kind.",
                       fmt::format("kind=\"{}\"", to_string(k)));
    for (std::string_view reason : {"malformed_json", "unknown_field", "invalid", "too_many_items",
                                    "too_large", "bad_request", "unauthenticated", "forbidden",
                                    "unavailable", "conflict", "idempotency_conflict"})
        rejected_.emplace_back(
            reason, &r.counter("cdn_purge_api_rejected_total", "Requests refused, by reason.",
                               fmt::format("reason=\"{}\"", reason)));
}

Counter& ApiMetrics::rejected(std::string_view reason) {
    for (auto& [name, c] : rejected_)
        if (name == reason) return *c;
    return *rejected_[5].second;  // bad_request
}

}  // namespace cdn::purge_api
