#pragma once
// The edge's end of purge delivery: one long-lived GET /v1/stream?edge=ID&after=SEQ to
// purge_api (server-sent events), each purge applied in order and exactly once through the
// Purger (journalled before anything else), then acknowledged with POST /v1/edges/ID/ack.
// A stream silent for longer than idle_timeout (no purge, no heartbeat) is presumed dead.
// `on_synced` runs once, when the backlog has been applied (the first heartbeat, or a
// "synced" event): until then the edge does not serve from its persistent cache.
//
// Several purge_api instances that share one purge log (the same sequences everywhere) may be
// given: the stream uses one at a time and fails over (purge_api_rotation.hpp). When the
// current one cannot be used (no address, no connection, a failed handshake, an answer other
// than 200 such as the 503 of an instance not caught up yet, the stream ending, or the idle
// timeout) the next one in the list is tried at once, resuming after the last sequence
// applied; once every one has failed in a row, each further attempt waits a backoff (100 ms
// doubling to 5 s) until a stream lasts (10 s). Each switch is logged once ("purge stream:
// switching from A to B (reason)"; while every instance fails, the same switch at most every
// 30 s) and counted. Acknowledgements go to the instance of the current stream; one that fails
// is retried, to the instance of whichever stream is open then. With one instance, this is
// plain reconnecting with the backoff.
//
// An https:// api is reached over TLS 1.2+ with the certificate verified (its TlsClientConfig:
// CA bundle, server name, verification), for the stream and the acks alike. A failure to
// connect, a failed handshake (with OpenSSL's reason, e.g. "certificate verify failed: unable
// to get local issuer certificate") or an answer other than 200 is counted and logged (a new
// reason at once, the same one at most every 30 s with the count of repeats; with several
// instances, as the switch line). A 409 (the id is registered by another live instance) is
// logged once as an error naming the holder, and is no reason to switch (every instance would
// refuse the same id): the stream retries the same instance with the backoff.
#include "edge/proxy/purge_api_rotation.hpp"
#include "edge/proxy/purger.hpp"
#include "edge/storage/disk_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cdn::edge::proxy {

struct PurgeSubscription {
    // purge_api's instances (base URLs, http:// or https://, with their TLS settings), in the
    // order they are tried; at least one.
    std::vector<PurgeApiTarget> apis;
    std::string edge_id;
    std::string token;  // purge_api's edge token
    std::chrono::milliseconds idle_timeout{5000};
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
    // Moves from one instance to another (cdn_edge_purge_stream_switches_total).
    std::uint64_t switches() const { return switches_.load(); }
    // Resets received: the log was compacted past this edge's position (or lost), so everything
    // cached before some time counted as purged (cdn_edge_purge_resets_total).
    std::uint64_t resets() const { return resets_.load(); }
    // Whether the stream is open to apis()[i] (cdn_edge_purge_stream_api{url}).
    bool streaming_from(std::size_t i) const { return connected_.load() && api_.load() == i; }
    // The instances, in their order (fixed at construction: safe from any thread).
    const std::vector<PurgeApiTarget>& apis() const { return rotation_.all(); }

  private:
    struct Connection;
    struct Attempt;
    // A connection, or why there is none.
    struct Connected {
        std::unique_ptr<Connection> conn;
        PurgeFailure kind = PurgeFailure::connect;
        std::string why;
    };
    boost::asio::awaitable<void> run(std::shared_ptr<PurgeSubscriber> self);
    boost::asio::awaitable<Attempt> stream_once();
    template <class Stream>
    boost::asio::awaitable<Attempt> read_stream(Stream& stream, const PurgeApiTarget& api);
    boost::asio::awaitable<void> ack_loop(std::shared_ptr<PurgeSubscriber> self);
    // Resolves, connects and (for https) shakes hands within 3 s; on failure counts it and says
    // why (the caller reports it).
    boost::asio::awaitable<Connected> connect(const PurgeApiTarget& api, bool for_stream);
    void synced();
    // Logs head + tail at warn, rate limited per reason: a new reason at once, a repeated one at
    // most every 30 s (with how many were not logged, between head and tail).
    void report(const std::string& reason, const std::string& head, const std::string& tail);
    // A failure to log as "purge stream: WHY; retrying" (rate limited).
    void failed(const std::string& why);
    // The stream failed at `from` and moves on to the current instance: logs and counts it.
    void switched(const std::string& from, const std::string& why);
    // A stream is open again: says so if failures were logged.
    void recovered(const PurgeApiTarget& api);

    boost::asio::any_io_executor executor_;
    PurgeSubscription sub_;  // its apis moved into rotation_
    PurgeApiRotation rotation_;
    Purger& purger_;
    storage::DiskStore* disk_;
    std::function<void()> on_synced_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::size_t> api_{0};  // rotation_.index(), for acks and the metrics
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> switches_{0};
    std::atomic<std::uint64_t> resets_{0};
    std::array<std::atomic<std::uint64_t>, kPurgeFailureKinds> failures_{};
    // Reasons logged since the last stream, for the rate limit (at most kMaxReported).
    struct Reported {
        std::chrono::steady_clock::time_point at;
        std::uint64_t unlogged = 0;
    };
    std::map<std::string, Reported> reported_;
    bool reported_since_stream_ = false;     // something was logged: recovered() says so
    std::uint64_t failed_since_stream_ = 0;  // stream attempts that failed since the last stream
    std::string last_refusal_;  // the 409 last logged (logged once, not at every retry)
    bool synced_ = false;
    boost::beast::tcp_stream* current_ = nullptr;  // the open stream, for stop()
    std::uint64_t to_ack_ = 0;  // newest sequence applied and not yet acknowledged
    std::uint64_t acked_ = 0;
    // The instance acked_ was acknowledged to: a stream to another one acknowledges the current
    // position there too (each instance keeps its own view of the edges' progress).
    std::optional<std::size_t> acked_api_;
    struct Signal;
    std::shared_ptr<Signal> ack_signal_;
    std::shared_ptr<Signal> stop_signal_;
};

}  // namespace cdn::edge::proxy
