#pragma once
// Integration fixtures for purge_api: the real binary on an ephemeral loopback port, and a raw
// socket client for its event stream (SSE over chunked HTTP/1.1) with bounded waits.
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cdn::test {

inline constexpr const char* kAdminToken = "admin-token-0123456789";
inline constexpr const char* kShopToken = "shop-token-0123456789";
inline constexpr const char* kEdgeToken = "edge-token-0123456789";

// A purge_api process. The config gets [server] (listen on port 0, data_dir = data_dir),
// the admin token, a host-limited token for shop.com, the edge token and known edges
// edge-a and edge-b; `extra_toml` is appended (other sections). `listen` is the address
// (port 0: a free one; a fixed port lets a restarted purge_api keep its URL).
class PurgeApi {
  public:
    PurgeApi(const TempDir& dir, const std::string& extra_toml = "",
             const std::string& data_dir = "", const std::string& listen = "127.0.0.1:0");
    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    Process& process() { return *proc_; }
    const std::string& data_dir() const { return data_dir_; }

    Response purge(const std::string& body, const std::string& token = kAdminToken);
    Response get(const std::string& target, const std::string& token = kAdminToken);
    Response ack(const std::string& edge, std::uint64_t seq);
    // A sample of /metrics, e.g. metric("cdn_purge_api_last_seq"); -1 when absent.
    double metric(const std::string& sample);

  private:
    std::unique_ptr<Process> proc_;
    std::string data_dir_;
    std::uint16_t port_ = 0;
};

// A purge's answer: result.seq and result.id; throws std::runtime_error (with the body) unless
// it is a 200, so a CHECK around it fails saying why.
std::uint64_t seq_of(const Response& r);
std::string id_of(const Response& r);

// purge_api's view of one edge (GET /v1/edges): its entry, empty when it is not listed; throws
// std::runtime_error on an answer other than 200.
boost::json::object edge_entry(PurgeApi& api, const std::string& edge);
// That edge's last_applied_seq (0 when it is not listed).
std::uint64_t api_applied(PurgeApi& api, const std::string& edge);

struct SseEvent {
    std::string id;
    std::string event;  // "purge", "reset"
    std::string data;
};

// GET /v1/stream on a raw socket. Reads only when asked (next()), so a test can also play a
// client that never reads. Every wait is bounded.
class StreamClient {
  public:
    // rcvbuf > 0 shrinks the socket's receive buffer (set before connecting).
    StreamClient(std::uint16_t port, const std::string& edge, std::uint64_t after,
                 const std::string& token = kEdgeToken, int rcvbuf = 0);
    ~StreamClient();
    StreamClient(const StreamClient&) = delete;
    StreamClient& operator=(const StreamClient&) = delete;

    // The response status line and head (reads until the head is complete).
    const std::string& head();
    // The next event (comments skipped, counted in pings(); "synced" skipped, its data kept in
    // synced()); nullopt on timeout or end.
    std::optional<SseEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Reads until the server ends the stream (terminating chunk or close); false on timeout.
    bool wait_end(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    int pings() const { return pings_; }
    const std::optional<std::string>& synced() const { return synced_; }
    // Reads (keeping events for next()) until the "synced" event arrived; its data or nullopt.
    std::optional<std::string> wait_synced(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    bool ended() const { return ended_; }

  private:
    // Reads more bytes within the deadline; false on timeout, error or EOF.
    bool fill(std::chrono::steady_clock::time_point deadline);
    void decode();
    void parse_events();

    int fd_ = -1;
    std::string raw_;  // undecoded bytes
    std::string head_;
    std::string body_;  // de-chunked event text
    bool chunked_ = false;
    bool ended_ = false;
    int pings_ = 0;
    std::optional<std::string> synced_;
    std::deque<SseEvent> events_;
};

}  // namespace cdn::test
