#pragma once
// The edge's end of purge delivery: one long-lived GET /v1/stream?edge=ID&after=SEQ to
// purge_api (server-sent events), each purge applied in order and exactly once through the
// Purger (journalled before anything else), then acknowledged with POST /v1/edges/ID/ack.
// Reconnects with backoff (100 ms doubling to 5 s) and resumes after the last sequence applied;
// a stream silent for longer than idle_timeout (no purge, no heartbeat) is presumed dead.
// `on_synced` runs once, when the backlog has been applied (the first heartbeat, or a
// "synced" event): until then the edge does not serve from its persistent cache.
//
// An https:// api is reached over TLS 1.2+ with the certificate verified (sub.tls: CA bundle,
// server name, verification), for the stream and the acks alike. A failure to connect, a failed
// handshake (with OpenSSL's reason, e.g. "certificate verify failed: unable to get local issuer
// certificate") or an answer other than 200 is logged (a changed reason at once, the same one at
// most every 30 s with the count of repeats) and counted, and retried with the backoff. A 409
// (the id is registered by another live instance) is logged once as an error naming the holder.
#include "common/net.hpp"
#include "common/tls_client.hpp"
#include "edge/proxy/purger.hpp"
#include "edge/storage/disk_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace cdn::edge::proxy {

struct PurgeSubscription {
    Url api;  // purge_api's base URL, http:// or https://
    std::string edge_id;
    std::string token;  // purge_api's edge token
    std::chrono::milliseconds idle_timeout{5000};
    std::shared_ptr<const TlsClientConfig> tls;  // required for https://; null for http://
    // This process's registry nonce, sent as &instance=: purge_api answers 409 (naming the
    // holder) instead of handing this edge the stream of an id another live instance registered.
    // Empty: not sent.
    std::string instance;
};

// Why a stream (or an ack) could not be had, for the failure counters.
enum class PurgeFailure { connect, tls, status };
inline constexpr std::size_t kPurgeFailureKinds = 3;

// Held by shared_ptr: its coroutines keep it alive until they end (on stop(), or when the
// io_context that runs them is destroyed).
class PurgeSubscriber : public std::enable_shared_from_this<PurgeSubscriber> {
  public:
    PurgeSubscriber(boost::asio::any_io_executor executor, PurgeSubscription sub, Purger& purger,
                    storage::DiskStore* disk, std::function<void()> on_synced);
    void start();
    void stop();

    bool connected() const { return connected_.load(); }
    std::uint64_t reconnects() const { return reconnects_.load(); }
    // Attempts that failed this way (cdn_edge_purge_stream_failures_total{reason}).
    std::uint64_t failures(PurgeFailure kind) const {
        return failures_[static_cast<std::size_t>(kind)].load();
    }

  private:
    struct Connection;
    boost::asio::awaitable<void> run(std::shared_ptr<PurgeSubscriber> self);
    boost::asio::awaitable<void> stream_once();
    template <class Stream>
    boost::asio::awaitable<void> read_stream(Stream& stream);
    boost::asio::awaitable<void> ack_loop(std::shared_ptr<PurgeSubscriber> self);
    // Resolves, connects and (for https) shakes hands within 3 s; null on failure (reported).
    boost::asio::awaitable<std::unique_ptr<Connection>> connect(bool for_stream);
    void synced();
    // Counts a failure and logs it, rate limited: a new reason at once, a repeated one at most
    // every 30 s (with how many were not logged).
    void failed(PurgeFailure kind, const std::string& why);
    // A stream is open again: says so if failures were logged.
    void recovered();

    boost::asio::any_io_executor executor_;
    PurgeSubscription sub_;
    Purger& purger_;
    storage::DiskStore* disk_;
    std::function<void()> on_synced_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    std::array<std::atomic<std::uint64_t>, kPurgeFailureKinds> failures_{};
    std::string last_failure_;  // the reason last logged; empty after a success
    std::chrono::steady_clock::time_point last_failure_log_{};
    std::uint64_t failures_unlogged_ = 0;
    std::uint64_t failures_since_success_ = 0;
    std::string last_refusal_;  // the 409 last logged (logged once, not at every retry)
    bool synced_ = false;
    boost::beast::tcp_stream* current_ = nullptr;  // the open stream, for stop()
    std::uint64_t to_ack_ = 0;  // newest sequence applied and not yet acknowledged
    std::uint64_t acked_ = 0;
    struct Signal;
    std::shared_ptr<Signal> ack_signal_;
    std::shared_ptr<Signal> stop_signal_;
};

}  // namespace cdn::edge::proxy
