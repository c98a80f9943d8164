#include "edge/proxy/edge_metrics.hpp"

#include "edge/proxy/outcome_label.hpp"

#include <algorithm>

namespace cdn::edge::proxy {

EdgeMetrics::EdgeMetrics(MetricsRegistry& r, const storage::MemoryStore& store)
    : bytes_sent(r.counter("cdn_edge_bytes_sent_total", "Bytes written to clients.")),
      origin_fetches(r.counter("cdn_edge_origin_fetches_total", "Requests sent to origins.")),
      origin_errors_unreachable(r.counter("cdn_edge_origin_errors_total",
                                          "Origin fetches that failed, by reason.",
                                          R"(reason="unreachable")")),
      origin_errors_timeout(r.counter("cdn_edge_origin_errors_total", "", R"(reason="timeout")")),
      origin_errors_bad_response(
          r.counter("cdn_edge_origin_errors_total", "", R"(reason="bad_response")")),
      origin_errors_closed(r.counter("cdn_edge_origin_errors_total", "", R"(reason="closed")")),
      origin_errors_tls(r.counter("cdn_edge_origin_errors_total", "", R"(reason="tls")")),
      origin_errors_unavailable(
          r.counter("cdn_edge_origin_errors_total", "", R"(reason="no_origin_available")")),
      origin_retries(r.counter("cdn_edge_origin_retries_total",
                               "Origin attempts after a failed one, on another origin.")),
      origin_health_transitions(r.counter("cdn_edge_origin_health_transitions_total",
                                          "Origins marked up or down by health checks.")),
      parent_fetches(
          r.counter("cdn_edge_parent_fetches_total", "Requests sent to parents (tiered caching).")),
      parent_failures(r.counter(
          "cdn_edge_parent_failures_total",
          "Parent attempts with no usable answer (no response, 502/503/504, 508): the next "
          "parent in the key's order is asked.")),
      parent_fallbacks(r.counter("cdn_edge_parent_fallbacks_total",
                                 "Requests that went to the origin because every parent tried "
                                 "failed.")),
      parent_loops(r.counter("cdn_edge_parent_loops_total",
                             "Parents that answered 508: the request came back to them.")),
      loops(r.counter("cdn_edge_loops_total",
                      "Requests refused with 508: they already came through this edge "
                      "(CDN-Loop) or through server.max_hops caches.")),
      peer_fetches(r.counter("cdn_edge_peer_fetches_total",
                             "Misses taken from the PoP peer that owns the key ([peering]).")),
      peer_failures(r.counter("cdn_edge_peer_failures_total",
                              "Peer fetches with no usable answer: this edge fetched itself.")),
      peer_spills(r.counter("cdn_edge_peer_spills_total",
                            "Peer choices past a key's owner, whose load was over the cap.")),
      client_errors(r.counter("cdn_edge_client_errors_total",
                              "Requests rejected as malformed, too large or too slow.")),
      stores(r.counter("cdn_edge_cache_stores_total", "Responses written to the cache.")),
      store_rejected(r.counter("cdn_edge_cache_store_rejected_total",
                               "Storable responses the memory tier could not take (too large).")),
      collapsed(r.counter("cdn_edge_collapsed_total",
                          "Misses served by waiting for another request's origin fetch.")),
      hit_for_pass(r.counter("cdn_edge_hit_for_pass_total",
                             "Misses that skipped collapsing because the key was uncacheable.")),
      early_hints_sent(r.counter("cdn_edge_early_hints_sent_total",
                                 "103 Early Hints the edge sent from Link fields it learned.")),
      inflight_bypassed(r.counter(
          "cdn_edge_inflight_bypassed_total",
          "Cacheable responses streamed through uncached: the in-flight body budget was full.")),
      compress_failures(r.counter("cdn_edge_compress_failures_total",
                                  "Compressions that failed or whose variant was not stored.")),
      slice_fetches(r.counter("cdn_edge_slice_fetches_total",
                              "Slices of sliced objects fetched from the origin.")),
      slice_hits(r.counter("cdn_edge_slice_hits_total",
                           "Slices of sliced objects served from the cache.")),
      slice_version_changes(
          r.counter("cdn_edge_slice_version_changes_total",
                    "Sliced objects dropped because a slice came back as another version.")),
      origin_body_bytes(r.counter("cdn_edge_origin_body_bytes_total",
                                  "Response body bytes read from origins and parents.")),
      connections(r.gauge("cdn_edge_client_connections", "Open client connections.")),
      duration(r.histogram("cdn_edge_request_duration_seconds",
                           "Time from a request's first byte to the end of its reply.",
                           latency_buckets_seconds())) {
    for (cache::Outcome o : cache::kAllOutcomes)
        requests[static_cast<std::size_t>(o)] =
            &r.counter("cdn_edge_requests_total", "Requests by cache outcome.",
                       "outcome=\"" + std::string(cache::label(o)) + "\"");
    for (std::size_t i = 0; i < 2; ++i) {
        const std::string label = i == 0 ? R"(coding="gzip")" : R"(coding="br")";
        compressions[i] = &r.counter("cdn_edge_compress_total",
                                     "Compressed variants made from stored responses.", label);
        compress_bytes_in[i] = &r.counter("cdn_edge_compress_bytes_in_total",
                                          "Identity bytes compressed into variants.", label);
        compress_bytes_out[i] = &r.counter("cdn_edge_compress_bytes_out_total",
                                           "Compressed bytes of the variants made.", label);
    }
    for (std::size_t c = 1; c <= 5; ++c)
        responses[c] = &r.counter("cdn_edge_responses_total", "Responses by status class.",
                                  "code=\"" + std::to_string(c) + "xx\"");
    r.gauge_fn(
        "cdn_edge_cache_bytes", "Bytes held by each cache tier.",
        [&store] { return static_cast<double>(store.bytes()); }, R"(tier="memory")");
    r.gauge_fn(
        "cdn_edge_cache_objects", "Objects held by each cache tier.",
        [&store] { return static_cast<double>(store.objects()); }, R"(tier="memory")");
    r.gauge_fn(
        "cdn_edge_cache_capacity_bytes", "Budget of each cache tier.",
        [&store] { return static_cast<double>(store.capacity()); }, R"(tier="memory")");
    r.counter_fn(
        "cdn_edge_cache_evictions_total", "Objects evicted from each cache tier.",
        [&store] { return static_cast<double>(store.evictions()); }, R"(tier="memory")");
}

TlsMetrics::TlsMetrics(MetricsRegistry& r)
    : tls12_(r.counter("cdn_edge_tls_handshakes_total", "Completed TLS handshakes by version.",
                       R"(version="1.2")")),
      tls13_(r.counter("cdn_edge_tls_handshakes_total", "", R"(version="1.3")")) {
    for (http::TlsFailure f : http::kAllTlsFailures)
        failures_[static_cast<std::size_t>(f)] =
            &r.counter("cdn_edge_tls_handshake_failures_total", "Failed TLS handshakes by reason.",
                       "reason=\"" + std::string(http::label(f)) + "\"");
}

void TlsMetrics::on_handshake(std::string_view version) {
    (version == "1.3" ? tls13_ : tls12_).inc();
}

void TlsMetrics::on_handshake_failure(http::TlsFailure reason) {
    failures_[static_cast<std::size_t>(reason)]->inc();
}

namespace {

constexpr std::array<std::string_view, Http2Metrics::kCodes> kHttp2Errors = {"no_error",
                                                                             "protocol_error",
                                                                             "internal_error",
                                                                             "flow_control_error",
                                                                             "settings_timeout",
                                                                             "stream_closed",
                                                                             "frame_size_error",
                                                                             "refused_stream",
                                                                             "cancel",
                                                                             "compression_error",
                                                                             "connect_error",
                                                                             "enhance_your_calm",
                                                                             "inadequate_security",
                                                                             "http_1_1_required"};

}  // namespace

Http2Metrics::Http2Metrics(MetricsRegistry& r)
    : connections_(r.counter("cdn_edge_http2_connections_total",
                             "Client connections served over HTTP/2 (ALPN h2 or h2c).")),
      streams_(r.counter("cdn_edge_http2_streams_total", "HTTP/2 request streams opened.")),
      resets_received_(r.counter("cdn_edge_http2_resets_received_total",
                                 "RST_STREAM frames received from clients.")) {
    for (std::size_t i = 0; i <= kCodes; ++i) {
        const std::string label =
            "error=\"" + std::string(i < kCodes ? kHttp2Errors[i] : "other") + "\"";
        resets_sent_[i] = &r.counter("cdn_edge_http2_resets_sent_total",
                                     "RST_STREAM frames sent, by error code.", label);
        goaways_sent_[i] = &r.counter("cdn_edge_http2_goaways_sent_total",
                                      "GOAWAY frames sent, by error code (a graceful shutdown "
                                      "counts once, for its final GOAWAY).",
                                      label);
    }
    constexpr std::array<std::string_view, kLimits> limit_names = {
        "stream_send_stall", "connection_send_stall", "cheap_frames", "header_block",
        "reset_rate",        "address_resets"};
    for (std::size_t i = 0; i < kLimits; ++i)
        limits_[i] = &r.counter("cdn_edge_http2_limits_total",
                                "HTTP/2 protections that fired: streams reset or connections "
                                "ended (or refused) by limit.",
                                "limit=\"" + std::string(limit_names[i]) + "\"");
}

void Http2Metrics::on_event(http::Http2Event event, std::uint32_t error_code) {
    const std::size_t code = std::min<std::size_t>(error_code, kCodes);
    switch (event) {
        case http::Http2Event::connection: connections_.inc(); break;
        case http::Http2Event::stream: streams_.inc(); break;
        case http::Http2Event::reset_received: resets_received_.inc(); break;
        case http::Http2Event::reset_sent: resets_sent_[code]->inc(); break;
        case http::Http2Event::goaway_sent: goaways_sent_[code]->inc(); break;
        case http::Http2Event::limit_stream_stall: limits_[0]->inc(); break;
        case http::Http2Event::limit_connection_stall: limits_[1]->inc(); break;
        case http::Http2Event::limit_cheap_frames: limits_[2]->inc(); break;
        case http::Http2Event::limit_header_block: limits_[3]->inc(); break;
        case http::Http2Event::limit_reset_rate: limits_[4]->inc(); break;
        case http::Http2Event::limit_address_resets: limits_[5]->inc(); break;
    }
}

void add_disk_metrics(MetricsRegistry& r, const storage::TieredStore& tiered) {
    const storage::DiskStore& disk = tiered.disk();
    const storage::DiskStats& ds = disk.stats();
    const storage::TierStats& ts = tiered.stats();
    auto value = [](const std::atomic<std::uint64_t>& a) {
        return [&a] { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    };
    const std::string tier = R"(tier="disk")";
    r.gauge_fn(
        "cdn_edge_cache_bytes", "Bytes held by each cache tier.",
        [&disk] { return static_cast<double>(disk.live_bytes()); }, tier);
    r.gauge_fn(
        "cdn_edge_cache_objects", "Objects held by each cache tier.",
        [&disk] { return static_cast<double>(disk.objects()); }, tier);
    r.gauge_fn(
        "cdn_edge_cache_capacity_bytes", "Budget of each cache tier.",
        [&disk] { return static_cast<double>(disk.capacity()); }, tier);
    r.counter_fn(
        "cdn_edge_cache_evictions_total", "Objects evicted from each cache tier.",
        [&disk] { return static_cast<double>(disk.reclaimed()); }, tier);
    r.counter_fn("cdn_edge_disk_lookups_total", "Disk tier lookups by result.", value(ds.hits),
                 R"(result="hit")");
    r.counter_fn("cdn_edge_disk_lookups_total", "Disk tier lookups by result.", value(ds.misses),
                 R"(result="miss")");
    r.counter_fn("cdn_edge_disk_writes_total", "Records written to the disk tier.",
                 value(ds.writes));
    r.counter_fn("cdn_edge_disk_write_bytes_total", "Bytes written to the disk tier.",
                 value(ds.write_bytes));
    r.counter_fn("cdn_edge_disk_errors_total", "Disk tier I/O errors by operation.",
                 value(ds.write_errors), R"(op="write")");
    r.counter_fn("cdn_edge_disk_errors_total", "Disk tier I/O errors by operation.",
                 value(ds.read_errors), R"(op="read")");
    r.counter_fn("cdn_edge_disk_corrupt_records_total",
                 "Records that failed their checksum (dropped, never served).", value(ds.corrupt));
    r.counter_fn("cdn_edge_disk_dropped_total",
                 "Objects the disk tier could not take (queue full, degraded, too large).",
                 value(ds.dropped));
    r.counter_fn("cdn_edge_disk_admissions_total",
                 "Objects leaving memory, by the disk admission decision.", value(ts.admitted),
                 R"(result="admitted")");
    r.counter_fn("cdn_edge_disk_admissions_total",
                 "Objects leaving memory, by the disk admission decision.", value(ts.rejected),
                 R"(result="rejected")");
    r.counter_fn("cdn_edge_disk_promotions_total", "Disk hits copied back into memory.",
                 value(ts.promotions));
    r.gauge_fn("cdn_edge_disk_degraded",
               "1 while the disk tier refuses writes after a fault (the edge serves from memory).",
               [&disk] { return disk.degraded() ? 1.0 : 0.0; });
    r.gauge_fn("cdn_edge_disk_recovered_objects", "Objects found on disk at start-up.",
               [&disk] { return static_cast<double>(disk.recovered_objects()); });
    r.gauge_fn("cdn_edge_disk_recovery_seconds", "Time start-up took to index the disk tier.",
               [&disk] { return static_cast<double>(disk.recovery_time().count()) / 1000.0; });
}

void EdgeMetrics::origin_error(Errc e) {
    switch (e) {
        case Errc::origin_unreachable: origin_errors_unreachable.inc(); break;
        case Errc::origin_timeout: origin_errors_timeout.inc(); break;
        case Errc::origin_bad_response: origin_errors_bad_response.inc(); break;
        case Errc::origin_tls: origin_errors_tls.inc(); break;
        case Errc::no_origin: origin_errors_unavailable.inc(); break;
        default: origin_errors_closed.inc(); break;
    }
}

EdgeObserver::EdgeObserver(EdgeMetrics& metrics, AccessLog* access_log, Http2Metrics* http2)
    : metrics_(metrics), access_log_(access_log), http2_(http2) {}

void EdgeObserver::on_connection(int delta) {
    metrics_.connections.add(delta);
}

void EdgeObserver::on_http2(http::Http2Event event, std::uint32_t error_code) {
    if (http2_) http2_->on_event(event, error_code);
}

void EdgeObserver::on_exchange(const http::Request& req, const http::Reply& reply,
                               std::uint64_t bytes_sent,
                               std::chrono::steady_clock::duration elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    metrics_.requests_for(outcome_of(reply.outcome)).inc();
    const unsigned status = reply.status();
    if (status >= 100 && status < 600) metrics_.responses[status / 100]->inc();
    metrics_.bytes_sent.inc(bytes_sent);
    metrics_.duration.observe(seconds);
    if (access_log_) access_log_->log(req, reply, bytes_sent, elapsed);
}

}  // namespace cdn::edge::proxy
