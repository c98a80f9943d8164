#pragma once
// The origins of one origin group and the choice among them: a balancing policy over the servers
// that are marked healthy (active checks, HealthChecker) and whose circuit breaker admits a
// request (passive health, report()). Shared by all worker threads: every member is thread-safe;
// pick() takes no set-wide lock (atomics plus the per-server breaker's short mutex, which a
// closed breaker skips).
#include "edge/upstream/circuit_breaker.hpp"
#include "edge/upstream/origin_pool.hpp"

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::edge::upstream {

enum class BalancePolicy { round_robin, least_outstanding, random };

// "round_robin", "least_outstanding", "random"; nullopt for anything else.
std::optional<BalancePolicy> parse_balance_policy(std::string_view text);
std::string_view balance_policy_name(BalancePolicy policy) noexcept;

// What a set of parents needs beyond a set of origins.
struct SetOptions {
    // Breakers even with a single member (a lone parent that fails is skipped, so the request
    // goes on to the origin; a lone origin's breaker is off, there being nowhere else to go).
    bool breakers_always = false;
    std::vector<double> weights;  // per server for pick_hashed (missing: 1)
    // A member that comes back (health check up again, or its breaker closes after being open)
    // gets its hashed share gradually over this long: its weight grows from 10 % to 100 %, so
    // it takes back its keys a slice at a time instead of all its misses at once. 0: at once.
    std::chrono::milliseconds ramp_up{0};
};

class OriginSet {
  public:
    // Holds one server's outstanding-request count up for as long as it lives (move-only RAII).
    // A Lease must not outlive its OriginSet. A moved-from Lease holds nothing; index() and
    // server() must not be called on it.
    class Lease {
      public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();

        std::size_t index() const { return index_; }
        const OriginServer& server() const;

      private:
        friend class OriginSet;
        Lease(const OriginSet* set, std::size_t index) noexcept;
        void release() noexcept;

        const OriginSet* set_ = nullptr;
        std::size_t index_ = 0;
    };

    // Every server starts healthy with a closed breaker.
    OriginSet(std::vector<OriginServer> servers, BalancePolicy policy, BreakerSettings breaker,
              SetOptions options = {});
    OriginSet(const OriginSet&) = delete;
    OriginSet& operator=(const OriginSet&) = delete;

    // Chooses a server for one request attempt among those not in `exclude` (indexes this request
    // already tried), marked healthy and whose breaker admits a request at `now`; round_robin
    // rotates over the eligible servers, least_outstanding takes the fewest in-flight requests
    // (ties rotate), random uses random01 in [0, 1) (clamped). Only the chosen server's breaker
    // is asked to admit (so a half-open probe slot is taken only by the server that gets the
    // request); when it refuses, the next candidate is tried. nullopt when none qualifies.
    // The caller must report() the outcome of the request.
    std::optional<Lease> pick(TimePoint now, std::span<const std::size_t> exclude, double random01);

    // The member that owns key_hash by weighted rendezvous hashing (hrw.hpp) among the eligible
    // ones (not excluded, healthy, breaker admitting): called again with the chosen index
    // excluded, it gives the next in the key's failover order. Weights of members ramping up
    // after a return are scaled down (SetOptions::ramp_up). nullopt when none qualifies.
    std::optional<Lease> pick_hashed(std::uint64_t key_hash, TimePoint now,
                                     std::span<const std::size_t> exclude);
    // pick_hashed over all members with bounded loads (PoP peering): the first in the key's order
    // whose requests in flight (leases) stay within ceil(load_cap * (total + 1) / members) takes
    // it, so a hot key spreads over the next members instead of piling onto its owner. Member
    // `self` (this edge; SIZE_MAX: none) is never over the cap. *spilled says whether it went
    // past the key's owner.
    std::optional<Lease> pick_bounded(std::uint64_t key_hash, TimePoint now, double load_cap,
                                      std::size_t self, bool* spilled = nullptr);
    // The weight pick_hashed gives server `index` at `now` (ramp-up included).
    double effective_weight(std::size_t index, TimePoint now) const;
    // How far server `index` is through its ramp-up at `now`: 0.1 to 1 (1: not ramping).
    double ramp_share(std::size_t index, TimePoint now) const;

    // Passive health: the outcome of a request sent to server `index` (feeds its breaker).
    // An index out of range is ignored.
    void report(std::size_t index, bool success, TimePoint now);

    // Active health (HealthChecker). Preconditions for all below: index < size().
    // `now`: when it was seen to change; a member marked up again then ramps up (epoch: no
    // ramp, as when a reload carries marks over).
    void set_healthy(std::size_t index, bool up, TimePoint now = TimePoint{});
    bool healthy(std::size_t index) const;
    CircuitBreaker::State breaker_state(std::size_t index, TimePoint now) const;
    std::size_t outstanding(std::size_t index) const;

    std::size_t size() const { return members_.size(); }
    const OriginServer& server(std::size_t index) const { return members_[index]->server; }
    BalancePolicy policy() const { return policy_; }

  private:
    struct Member {
        Member(OriginServer s, BreakerSettings b) : server(std::move(s)), breaker(b) {}
        const OriginServer server;
        CircuitBreaker breaker;
        std::atomic<bool> healthy{true};
        std::atomic<std::size_t> outstanding{0};
        double weight = 1;
        std::uint64_t hash = 0;  // hrw_member_hash of the URL's host:port
        // When it came back (TimePoint ticks since epoch; 0: not ramping).
        std::atomic<TimePoint::rep> returned_at{0};
    };
    void came_back(Member& m, TimePoint now);
    // The eligible members for a key, best score first.
    using Ranked = boost::container::small_vector<std::pair<double, std::size_t>, 16>;
    Ranked rank(std::uint64_t key_hash, TimePoint now, std::span<const std::size_t> exclude) const;

    std::vector<std::unique_ptr<Member>> members_;  // fixed after construction
    const BalancePolicy policy_;
    const std::chrono::milliseconds ramp_up_;
    // With a single origin there is nowhere else to go: like nginx with one server in an
    // upstream, its breaker is off, so one bad URL cannot turn the whole host into 503s.
    bool breakers_on_ = true;
    std::atomic<std::size_t> ticket_{0};  // rotation for round_robin and least_outstanding ties
};

}  // namespace cdn::edge::upstream
