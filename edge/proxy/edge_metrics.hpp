#pragma once
// The edge's metrics (listed in edge/README.md) and the observer that counts and logs every
// exchange: one access-log line per request (access_log.hpp).
#include "common/metrics.hpp"
#include "edge/cache/outcome.hpp"
#include "edge/http/exchange.hpp"
#include "edge/http/tls_observer.hpp"
#include "edge/proxy/access_log.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/storage/tiered_store.hpp"

#include <array>

namespace cdn::edge::proxy {

struct EdgeMetrics {
    EdgeMetrics(MetricsRegistry& registry, const storage::MemoryStore& store);

    std::array<Counter*, cache::kOutcomeCount> requests{};  // by outcome
    std::array<Counter*, 6> responses{};                    // by status class (index = code/100)
    Counter& bytes_sent;
    Counter& origin_fetches;
    Counter& origin_errors_unreachable;
    Counter& origin_errors_timeout;
    Counter& origin_errors_bad_response;
    Counter& origin_errors_closed;
    Counter& origin_errors_tls;
    Counter& origin_errors_unavailable;
    Counter& origin_retries;
    Counter& origin_health_transitions;
    Counter& parent_fetches;
    Counter& parent_failures;
    Counter& parent_fallbacks;
    Counter& parent_loops;
    Counter& loops;
    Counter& peer_fetches;
    Counter& peer_failures;
    Counter& peer_spills;
    Counter& client_errors;
    Counter& stores;
    Counter& store_rejected;
    Counter& collapsed;
    Counter& hit_for_pass;
    Counter& early_hints_sent;
    Counter& inflight_bypassed;
    // Compressed variants made, by coding (index: 0 gzip, 1 br): count, bytes in and out.
    std::array<Counter*, 2> compressions{};
    std::array<Counter*, 2> compress_bytes_in{};
    std::array<Counter*, 2> compress_bytes_out{};
    Counter& compress_failures;
    Counter& slice_fetches;          // slices asked of the origin ([origin.slice])
    Counter& slice_hits;             // slices served from the cache
    Counter& slice_version_changes;  // a slice of another version: the object changed midway
    Counter& origin_body_bytes;      // body bytes read from origins (and parents)
    Gauge& connections;
    Histogram& duration;

    Counter& requests_for(cache::Outcome o) { return *requests[static_cast<std::size_t>(o)]; }
    void origin_error(Errc e);
};

// The disk tier's gauges and counters (tier="disk"), read from the stores when scraped.
void add_disk_metrics(MetricsRegistry& registry, const storage::TieredStore& tiered);

// Handshake counters of the TLS listeners (registered only when TLS is configured):
// cdn_edge_tls_handshakes_total{version} and cdn_edge_tls_handshake_failures_total{reason}.
// Counters are atomic: any worker may report.
class TlsMetrics final : public http::TlsObserver {
  public:
    explicit TlsMetrics(MetricsRegistry& registry);
    void on_handshake(std::string_view version) override;
    void on_handshake_failure(http::TlsFailure reason) override;

  private:
    Counter& tls12_;
    Counter& tls13_;
    std::array<Counter*, std::size(http::kAllTlsFailures)> failures_{};
};

// HTTP/2 counters (registered only when HTTP/2 is on: ALPN h2 or h2c): connections, streams,
// RST_STREAMs received, RST_STREAMs and GOAWAYs sent by error code, and the protections that
// fired by limit. Atomic: any worker may report.
class Http2Metrics {
  public:
    explicit Http2Metrics(MetricsRegistry& registry);
    void on_event(http::Http2Event event, std::uint32_t error_code);

    // The error codes of RFC 9113 section 7 that get their own label; the rest are "other".
    static constexpr std::size_t kCodes = 14;

  private:
    Counter& connections_;
    Counter& streams_;
    Counter& resets_received_;
    std::array<Counter*, kCodes + 1> resets_sent_{};  // by error code; [kCodes] = other
    std::array<Counter*, kCodes + 1> goaways_sent_{};
    static constexpr std::size_t kLimits = 6;  // the Http2Event::limit_* events
    std::array<Counter*, kLimits> limits_{};
};

class EdgeObserver final : public http::ExchangeObserver {
  public:
    // access_log: null when off; borrowed, it must outlive the observer.
    EdgeObserver(EdgeMetrics& metrics, AccessLog* access_log, Http2Metrics* http2 = nullptr);
    void on_exchange(const http::Request& req, const http::Reply& reply, std::uint64_t bytes_sent,
                     std::chrono::steady_clock::duration elapsed) override;
    void on_connection(int delta) override;
    void on_http2(http::Http2Event event, std::uint32_t error_code) override;

  private:
    EdgeMetrics& metrics_;
    AccessLog* access_log_;
    Http2Metrics* http2_;
};

}  // namespace cdn::edge::proxy
