#pragma once
// The seam between the request pipeline and everything upstream of the edge. The pipeline asks
// an Upstream for the response to one request; which parent or origin answers, retries,
// circuit breakers, health and parent failover live behind it. UpstreamClient is the real one;
// tests of the pipeline substitute a fake (tests/support) and drive time with a manual clock.
//
// Tiered caching: a request for a key whose host has a parent group goes first to the key's
// owner among the healthy parents (weighted rendezvous hashing, hrw.hpp), then to the next ones
// in the key's order on failure (no answer, 502/503/504, 508 Loop Detected, an open breaker),
// then to the origins, or ends with the failure when the group says so.
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/result.hpp"
#include "edge/upstream/origin_pool.hpp"
#include "edge/upstream/origin_set.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace cdn::edge::upstream {

// Which tier answered.
enum class Hop : std::uint8_t { origin, parent, peer };

// A parent group as one request sees it.
struct ParentRoute {
    OriginSet* set = nullptr;       // the parents, with their health and breakers
    unsigned tries = 2;             // parents asked, in the key's order
    bool origin_on_failure = true;  // then the origins; else the last parent failure is the answer
};

// One request for the upstream.
struct UpstreamCall {
    // As it goes to an origin. Sent to a parent with Host set to `host` (a parent keys on the
    // Host the client asked for, not the origin's host_header); restored for the origins.
    OriginRequest* req = nullptr;
    std::string_view host;                 // the request's (normalised) host
    OriginSet* origins = nullptr;          // the origin group's servers
    unsigned retries = 0;                  // further origins tried for an idempotent request
    const ParentRoute* parents = nullptr;  // null: straight to the origins
    std::uint64_t key_hash = 0;            // the cache key's hrw_key_hash (parents only)
    // A PoP peer chosen by the pipeline: the request goes to it alone, once (no parents, no
    // origins, no retry); its failure is the pipeline's to handle.
    const OriginServer* peer = nullptr;
    const InterimHandler* hints = nullptr;  // 103s relayed to the client
    // A body still to be read from the client (req announces it with Expect: 100-continue):
    // origins only, never retried on a parent or peer.
    const UploadProvider* upload = nullptr;
};

struct UpstreamResponse {
    OriginHead head;
    std::unique_ptr<ResponseBody> body;
    Hop hop = Hop::origin;
};

// Counters the client keeps (null: not counted). Thread-safe counters; any worker may count.
struct UpstreamMetrics {
    Counter* origin_fetches = nullptr;
    Counter* origin_retries = nullptr;
    Counter* parent_fetches = nullptr;
    Counter* parent_failures = nullptr;      // a parent that gave no usable answer
    Counter* parent_fallbacks = nullptr;     // every parent tried failed; on to the origins
    Counter* parent_loops = nullptr;         // a parent answered 508: the request came back to it
    std::function<void(Errc)> origin_error;  // an origin attempt that got no response
};

class Upstream {
  public:
    virtual ~Upstream() = default;
    // The response to call's request, or why none came: Errc::no_origin when nothing upstream
    // could be asked, else the last attempt's error.
    virtual boost::asio::awaitable<Result<UpstreamResponse>> fetch(const UpstreamCall& call) = 0;
    // A reload's pool settings, for requests from now on.
    virtual void set_settings(const PoolSettings& settings) = 0;
    // Why the last fetch that failed with Errc::origin_tls failed (empty otherwise).
    virtual const std::string& last_tls_failure() const = 0;
};

// The real upstream of one worker: its own connection pool (not thread-safe, like the pool);
// the sets are shared by all workers.
class UpstreamClient final : public Upstream {
  public:
    UpstreamClient(boost::asio::any_io_executor executor, const PoolSettings& settings,
                   const Clock& clock, UpstreamMetrics metrics, std::function<double()> random01);
    boost::asio::awaitable<Result<UpstreamResponse>> fetch(const UpstreamCall& call) override;
    void set_settings(const PoolSettings& settings) override { pool_.set_settings(settings); }
    const std::string& last_tls_failure() const override { return pool_.last_tls_failure(); }

  private:
    boost::asio::awaitable<Result<UpstreamResponse>> from_parents(const UpstreamCall& call);
    boost::asio::awaitable<Result<UpstreamResponse>> from_origins(const UpstreamCall& call);

    OriginPool pool_;
    const Clock& clock_;
    UpstreamMetrics metrics_;
    std::function<double()> random01_;
};

// Whether a parent's answer sends the request on to the next parent: 502, 503, 504 (the parent
// could not get a response itself) and 508 (a loop). Other statuses, 500 included, are answers.
constexpr bool parent_failed(unsigned status) noexcept {
    return status == 502 || status == 503 || status == 504 || status == 508;
}

}  // namespace cdn::edge::upstream
