#pragma once
// What purge_api knows about edges: which are known (configured, or ever connected or acked),
// which has a live stream, the last sequence each one applied and when it acknowledged what.
// Purge progress (applied / pending / unreachable per edge) is computed from it. The clock is
// injected; nothing here does I/O. Thread-safe (one mutex; every call is short).
//
// Membership lives in memory only: after a restart, edges are the configured ones until the
// others reconnect (which they do, to resume their stream).
//
// Several instances (the etcd store): what this instance learns (acks, its own streams) goes
// out through the publisher, and what the others learned comes in through remote_ack() and
// remote_streams(), so every instance gives the same progress and the same `connected`.
#include "common/clock.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::purge_api {

// The registry's handle on a live stream: wake() asks it to look at the log again (new purges,
// or it was replaced). Must be callable from any thread.
class StreamWaker {
  public:
    virtual ~StreamWaker() = default;
    virtual void wake() noexcept = 0;
};

// "edge-1": 1 to 64 of [A-Za-z0-9._-].
bool valid_edge_id(std::string_view id) noexcept;

enum class EdgeStatus { applied, pending, unreachable };
std::string_view to_string(EdgeStatus s) noexcept;

struct EdgeView {
    std::string edge;
    std::uint64_t last_applied_seq = 0;
    bool connected = false;
    std::optional<std::int64_t> last_seen_ms;  // last ack or successful stream write
};

struct EdgeProgress {
    std::string edge;
    EdgeStatus status = EdgeStatus::unreachable;
    std::optional<std::int64_t> applied_ms;  // when it first acknowledged a seq >= the purge's
};

struct PurgeProgress {
    std::vector<EdgeProgress> edges;           // every known edge, by id
    bool complete = false;                     // every known edge applied it (false without edges)
    std::optional<std::int64_t> completed_ms;  // the last of the edges' applied_ms, when complete
};

class EdgeRegistry {
  public:
    // Acknowledgement times kept per edge (older ones are forgotten; see applied_ms).
    static constexpr std::size_t kAckHistory = 4096;

    EdgeRegistry(const Clock& clock, const std::vector<std::string>& known);

    // The configured edges changed (a reload): new ones become known; ones no longer configured
    // are forgotten unless they connected or acknowledged (then they stay, as any edge that
    // joined by connecting does).
    void set_known(const std::vector<std::string>& known);

    // A stream for `edge` starts; it replaces (wakes, and makes stale) any earlier one. Returns
    // the stream's generation, for is_current() and disconnect().
    std::uint64_t connect(const std::string& edge, std::shared_ptr<StreamWaker> waker);
    // False once a newer stream for the edge connected.
    bool is_current(const std::string& edge, std::uint64_t generation) const;
    // The stream ended (no-op if a newer one replaced it).
    void disconnect(const std::string& edge, std::uint64_t generation);
    // The stream wrote successfully: the edge is alive.
    void seen(const std::string& edge);
    // The edge applied every purge up to seq (kept as a monotonic maximum).
    void ack(const std::string& edge, std::uint64_t seq);
    // Wakes every live stream (after an append).
    void wake_all();

    // Where this instance's acks and stream starts/ends go for the other instances (set once,
    // before the first stream; called outside the lock).
    struct Publisher {
        std::function<void(const std::string& edge, std::uint64_t seq, std::int64_t ms)> ack;
        std::function<void(const std::string& edge, bool live)> stream;
    };
    void set_publisher(Publisher p);
    // Another instance got this ack (at `ms`, by its clock).
    void remote_ack(const std::string& edge, std::uint64_t seq, std::int64_t ms);
    // The edge's live streams on other instances.
    void remote_streams(const std::string& edge, std::size_t n);

    std::vector<EdgeView> edges() const;
    std::size_t connected() const;
    PurgeProgress progress(std::uint64_t seq) const;

  private:
    struct AckPoint {
        std::uint64_t seq;
        std::int64_t ms;
    };
    struct State {
        std::uint64_t last_applied = 0;
        std::optional<std::int64_t> last_seen_ms;
        std::uint64_t generation = 0;  // of the live stream (0: none)
        std::shared_ptr<StreamWaker> waker;
        std::deque<AckPoint> acks;  // increasing seq
        bool configured = false;    // in [edges] known (else it joined by connecting or acking)
        std::size_t remote_streams = 0;  // live streams on other instances
        bool live() const { return generation != 0 || remote_streams > 0; }
    };
    std::int64_t now_ms() const;

    const Clock& clock_;
    mutable std::mutex mu_;
    std::map<std::string, State, std::less<>> edges_;
    std::uint64_t next_generation_ = 1;
    Publisher publisher_;
};

}  // namespace cdn::purge_api
