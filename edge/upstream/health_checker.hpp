#pragma once
// Active health checks of an OriginSet's servers: every `interval`, one HTTP/1.1 GET of `path` on
// a fresh connection per server (over TLS for https:// origins, with the group's context and
// server name), bounded as a whole by `timeout`; a 2xx/3xx answer is a success.
// Results feed a per-server HealthState (rise/fall thresholds); a flip marks the server healthy or
// unhealthy in the OriginSet, logs one line and counts a transition.
//
// Threading: the checks run as coroutines on a strand of the given executor (which may be run by
// any number of threads). start(), stop() and the destructor are called by the owner (one thread,
// any thread). The coroutines share a state object with the checker through shared_ptr and touch
// the OriginSet only under a lock that stop() also takes, so once stop() (or the destructor) has
// returned they never touch the OriginSet or the counter again; both must outlive the checker, and
// the executor's execution context (io_context) must outlive it too.
#include "common/health.hpp"
#include "common/health_checker.hpp"
#include "common/metrics.hpp"
#include "edge/upstream/origin_set.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace cdn::edge::upstream {

struct HealthCheckSettings {
    std::string path = "/";                    // request target, e.g. "/healthz"
    std::chrono::milliseconds interval{2000};  // from the end of one check to the next
    std::chrono::milliseconds timeout{1000};   // connect + request + response head
    HealthThresholds thresholds;
    std::string host_header;  // empty: the server URL's authority
};

// A thin adapter of HttpHealthChecker (common/health_checker.hpp) onto an OriginSet.
class HealthChecker {
  public:
    // transitions (may be null) counts up/down flips of any server.
    HealthChecker(boost::asio::any_io_executor executor, OriginSet& origins,
                  HealthCheckSettings settings, Counter* transitions = nullptr);
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Starts one check loop per server; the first checks go out at once. Each server's state
    // starts from its current mark in the OriginSet (healthy unless set_healthy said otherwise).
    // Calling it again, or after stop(), does nothing.
    void start() { checker_.start(); }
    // Ends the loops promptly: pending waits and checks are cancelled. Idempotent.
    void stop() { checker_.stop(); }

  private:
    HttpHealthChecker checker_;
};

}  // namespace cdn::edge::upstream
