#pragma once
// Active HTTP health checks of a fixed list of targets, shared by the edge (its origins) and
// geodns (its edges): every `interval`, one HTTP/1.1 GET of `path` on a fresh connection per
// target (over TLS when the target has a TlsClientConfig), bounded as a whole by `timeout`; a
// 2xx/3xx answer is a success. Results feed a per-target HealthState (rise/fall thresholds); a flip
// calls on_change, logs one line and counts a transition.
//
// Threading: the checks run as coroutines on a strand of the given executor (which may be run by
// any number of threads). start(), stop() and the destructor are called by the owner (one thread,
// any thread). on_change runs on the strand under a lock that stop() also takes, so once stop()
// (or the destructor) has returned it is never called again; what it touches and the counter
// must outlive the checker, and so must the executor's execution context.
#include "common/health.hpp"
#include "common/metrics.hpp"
#include "common/net.hpp"
#include "common/tls_client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cdn {

namespace detail {
struct HttpHealthShared;  // the state the check coroutines share (health_checker.cpp)
}

struct HttpCheckTarget {
    tcp::endpoint endpoint;
    std::string host;  // Host header value
    std::string name;  // for log lines, e.g. "http://127.0.0.1:9000"
    std::string path;  // request target; empty: HttpCheckSettings::path
    bool initially_up = true;
    // https: the handshake (with this context, SNI and name check) comes first; a failed one
    // is a failed check. Null: plain HTTP.
    std::shared_ptr<const TlsClientConfig> tls;
};

struct HttpCheckSettings {
    std::string path = "/";                    // request target, e.g. "/healthz"
    std::chrono::milliseconds interval{2000};  // from the end of one check to the next
    std::chrono::milliseconds timeout{1000};   // connect + request + response head
    HealthThresholds thresholds;
    std::string user_agent = "cdn-health";
    std::string subject = "target";  // log lines read "<subject> <name> is down (...)"
};

class HttpHealthChecker {
  public:
    // on_change(index, up) is called on each flip; transitions (may be null) counts them.
    HttpHealthChecker(boost::asio::any_io_executor executor, std::vector<HttpCheckTarget> targets,
                      HttpCheckSettings settings, std::function<void(std::size_t, bool)> on_change,
                      Counter* transitions = nullptr);
    ~HttpHealthChecker();  // stop()
    HttpHealthChecker(const HttpHealthChecker&) = delete;
    HttpHealthChecker& operator=(const HttpHealthChecker&) = delete;

    // Called after every check (on the strand, under the same lock as on_change, after it):
    // the check's result and the target's state after it. Set before start(); null: none.
    // geodns publishes its verdicts with their last check time and streaks from it.
    using OnCheck = std::function<void(std::size_t index, bool success, bool up)>;
    void set_on_check(OnCheck on_check);

    // Starts one check loop per target; the first checks go out at once. Calling it again, or
    // after stop(), does nothing.
    void start();
    // Ends the loops promptly: pending waits and checks are cancelled. Idempotent.
    void stop();

  private:
    boost::asio::any_io_executor strand_;
    std::shared_ptr<detail::HttpHealthShared> shared_;
    bool started_ = false;
};

}  // namespace cdn
