#pragma once
// The DNS transports: UDP (one SO_REUSEPORT socket per worker per address, read in batches) and
// TCP (RFC 1035 §4.2.2 length framing, several queries per connection, RFC 7766 idle timeout),
// both feeding the pure responder. UDP answers go through response rate limiting (rrl.hpp); TCP
// connections through a per-client cap, and idle ones get a shorter timeout when slots run short
// (tcp_admission.hpp). What is served (zones, fleet, health, steering) and the limits (DnsLimits)
// can be swapped at any time (reload): each worker picks up the new generation before its next
// UDP batch or TCP query; a query in flight finishes with the generation it started with.
//
// Ports: one SO_REUSEPORT socket per worker shares a port, so another process could share it
// too and silently take half the queries. Unless DnsServerOptions::reuse_port says that is
// wanted, start() first binds each UDP address alone (no SO_REUSEPORT) and fails when another
// process holds it.
//
// Threading: construct, start(), set_limits() and stop() from one thread; the sockets live on the
// pool's workers. ServedState::publish() may be called from any thread.
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/runtime.hpp"
#include "geodns/config.hpp"
#include "geodns/policy/steering.hpp"
#include "geodns/server/rrl.hpp"
#include "geodns/zone/zone.hpp"

#include <boost/asio/ip/udp.hpp>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cdn::geodns {

// One generation of what is served.
struct Served {
    std::shared_ptr<const ZoneSet> zones;
    std::shared_ptr<const Fleet> fleet;         // for /v1/edges
    std::shared_ptr<const HealthTable> health;  // the fleet's health, read by the steering
    std::shared_ptr<const Steering> steering;
};

// A value one thread publishes and others pick up: a reader keeps the generation it took until
// it asks again, and asks cheaply (one atomic load) whether there is a newer one.
template <class T>
class Snapshot {
  public:
    explicit Snapshot(std::shared_ptr<const T> first) : value_(std::move(first)) {}
    void publish(std::shared_ptr<const T> next) {
        {
            std::lock_guard lock(mu_);
            value_ = std::move(next);
        }
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }
    std::shared_ptr<const T> current() const {
        std::lock_guard lock(mu_);
        return value_;
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<const T> value_;
    std::atomic<std::uint64_t> generation_{1};
};

using ServedState = Snapshot<Served>;

// Counters by query type and response code, kept as fixed arrays so the hot path only does an
// index and an atomic add.
struct DnsMetrics {
    explicit DnsMetrics(MetricsRegistry& registry);
    static constexpr std::size_t kTypes = 9;   // A AAAA NS SOA CNAME TXT ANY other (+ none)
    static constexpr std::size_t kRcodes = 8;  // NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED
                                               // BADVERS other
    std::array<Counter*, kTypes> udp_queries{};
    std::array<Counter*, kTypes> tcp_queries{};
    std::array<Counter*, kRcodes> responses{};
    Counter* truncated = nullptr;
    Counter* ecs = nullptr;
    Counter* dropped = nullptr;             // packets not answered (responses, runts)
    Counter* rrl_dropped = nullptr;         // UDP answers over the rate limit, not sent
    Counter* rrl_slipped = nullptr;         // UDP answers over the rate limit, sent truncated
    Counter* rrl_evictions = nullptr;       // limiter buckets reused before they refilled
    Counter* tcp_refused = nullptr;         // connections closed at once: over the connection limit
    Counter* tcp_client_refused = nullptr;  // closed at once: over the per-client limit
    Counter* tcp_busy_closed = nullptr;     // idle connections closed early: slots ran short
    Counter* tcp_closed_bad = nullptr;      // connections closed for a bad frame or a slow client
    Gauge* tcp_connections = nullptr;
    Counter* udp_coalesce_waits = nullptr;  // UDP threads' waits for a fuller batch

    // A query and the response sent for it.
    void count(bool tcp, std::uint16_t qtype, std::uint16_t rcode, bool truncated, bool ecs);
    // A query whose response was not sent (rate limited).
    void count_query(bool tcp, std::uint16_t qtype, bool ecs);
};

// What a reload may change in how the sockets behave.
struct DnsLimits {
    std::uint16_t max_udp_payload = 1232;
    // With UDP threads: after a batch of more than one query but less than a full one, wait this
    // long before reading again, so that the next read takes a fuller batch (0: never wait).
    std::chrono::microseconds udp_coalesce{0};
    std::chrono::milliseconds tcp_idle_timeout{10000};
    // The idle timeout while more than 3/4 of tcp_max_connections are open.
    std::chrono::milliseconds tcp_busy_idle_timeout{1000};
    unsigned tcp_max_queries = 100;
    unsigned tcp_max_connections = 1024;
    unsigned tcp_max_connections_per_client = 16;  // per IPv4 address or IPv6 /64
    RrlOptions rrl;                                // UDP only
};

struct DnsServerOptions {
    std::vector<tcp::endpoint> endpoints;  // UDP and TCP on each (port 0: a free port, the same
                                           // for both)
    // Share the ports with other processes on purpose; false: a port another process holds is an
    // error (start() throws).
    bool reuse_port = false;
    // UDP: a thread per socket blocking in recvmmsg (as gdnsd), instead of the worker's asio
    // reactor waking a coroutine per batch. TCP stays on asio either way.
    bool udp_blocking = false;
    DnsLimits limits;
};

namespace detail {
struct DnsShared;  // what the socket coroutines share (dns_server.cpp)
}

class DnsServer {
  public:
    // `clock` (read once per UDP batch, for rate limiting) must outlive the server.
    DnsServer(WorkerPool& pool, DnsServerOptions options, const ServedState& served,
              DnsMetrics& metrics, const Clock& clock = SystemClock::instance());
    ~DnsServer();
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;

    // Binds every socket and starts serving. Throws std::system_error when an address cannot be
    // bound. Returns the bound addresses (one per configured endpoint, ports resolved).
    std::vector<tcp::endpoint> start();
    // New limits for the next UDP batch and TCP query (a reload). The rate limiter keeps its
    // table when [rrl] did not change, and starts afresh when it did.
    void set_limits(const DnsLimits& limits);
    // Closes the sockets (connections in progress finish their current query). Idempotent.
    void stop();

  private:
    WorkerPool& pool_;
    std::shared_ptr<detail::DnsShared> shared_;
    std::vector<std::shared_ptr<boost::asio::ip::udp::socket>> udp_;
    std::vector<std::thread> udp_threads_;  // with udp_blocking
    std::vector<int> udp_fds_;              // with udp_blocking: their sockets, out of asio
    std::vector<std::unique_ptr<Listener>> tcp_;
};

}  // namespace cdn::geodns
