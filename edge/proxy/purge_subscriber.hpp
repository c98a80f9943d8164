#pragma once
// The edge's end of purge delivery: one long-lived GET /v1/stream?edge=ID&after=SEQ to
// purge_api (server-sent events), each purge applied in order and exactly once through the
// Purger (journalled before anything else), then acknowledged with POST /v1/edges/ID/ack.
// Reconnects with backoff (100 ms doubling to 5 s) and resumes after the last sequence applied;
// a stream silent for longer than idle_timeout (no purge, no heartbeat) is presumed dead.
// `on_synced` runs once, when the backlog has been applied (the first heartbeat, or a
// "synced" event): until then the edge does not serve from its persistent cache.
#include "common/net.hpp"
#include "edge/proxy/purger.hpp"
#include "edge/storage/disk_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace cdn::edge::proxy {

struct PurgeSubscription {
    Url api;  // purge_api's base URL (http only)
    std::string edge_id;
    std::string token;  // purge_api's edge token
    std::chrono::milliseconds idle_timeout{5000};
};

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

  private:
    boost::asio::awaitable<void> run(std::shared_ptr<PurgeSubscriber> self);
    boost::asio::awaitable<void> stream_once();
    boost::asio::awaitable<void> ack_loop(std::shared_ptr<PurgeSubscriber> self);
    void synced();

    boost::asio::any_io_executor executor_;
    PurgeSubscription sub_;
    Purger& purger_;
    storage::DiskStore* disk_;
    std::function<void()> on_synced_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    bool synced_ = false;
    boost::beast::tcp_stream* current_ = nullptr;  // the open stream, for stop()
    std::uint64_t to_ack_ = 0;  // newest sequence applied and not yet acknowledged
    std::uint64_t acked_ = 0;
    struct Signal;
    std::shared_ptr<Signal> ack_signal_;
    std::shared_ptr<Signal> stop_signal_;
};

}  // namespace cdn::edge::proxy
