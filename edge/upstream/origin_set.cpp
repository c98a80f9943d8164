#include "edge/upstream/origin_set.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace cdn::edge::upstream {

std::optional<BalancePolicy> parse_balance_policy(std::string_view text) {
    if (text == "round_robin") return BalancePolicy::round_robin;
    if (text == "least_outstanding") return BalancePolicy::least_outstanding;
    if (text == "random") return BalancePolicy::random;
    return std::nullopt;
}

std::string_view balance_policy_name(BalancePolicy policy) noexcept {
    switch (policy) {
        case BalancePolicy::round_robin: return "round_robin";
        case BalancePolicy::least_outstanding: return "least_outstanding";
        case BalancePolicy::random: return "random";
    }
    return "unknown";
}

// --- Lease ---------------------------------------------------------------------------------

OriginSet::Lease::Lease(const OriginSet* set, std::size_t index) noexcept
    : set_(set), index_(index) {
    set_->members_[index_]->outstanding.fetch_add(1, std::memory_order_relaxed);
}

OriginSet::Lease::Lease(Lease&& other) noexcept
    : set_(std::exchange(other.set_, nullptr)), index_(other.index_) {}

OriginSet::Lease& OriginSet::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        set_ = std::exchange(other.set_, nullptr);
        index_ = other.index_;
    }
    return *this;
}

OriginSet::Lease::~Lease() {
    release();
}

void OriginSet::Lease::release() noexcept {
    if (set_ == nullptr) return;
    set_->members_[index_]->outstanding.fetch_sub(1, std::memory_order_relaxed);
    set_ = nullptr;
}

const OriginServer& OriginSet::Lease::server() const {
    return set_->server(index_);
}

// --- OriginSet -----------------------------------------------------------------------------

OriginSet::OriginSet(std::vector<OriginServer> servers, BalancePolicy policy,
                     BreakerSettings breaker)
    : policy_(policy) {
    members_.reserve(servers.size());
    for (auto& s : servers)
        members_.push_back(std::make_unique<Member>(std::move(s), breaker));
    breakers_on_ = members_.size() > 1;
}

std::optional<OriginSet::Lease> OriginSet::pick(TimePoint now, std::span<const std::size_t> exclude,
                                                double random01) {
    // Eligible servers, found without taking any half-open probe slot.
    boost::container::small_vector<std::size_t, 16> candidates;
    for (std::size_t i = 0; i < members_.size(); ++i) {
        if (std::find(exclude.begin(), exclude.end(), i) != exclude.end()) continue;
        const Member& m = *members_[i];
        if (!m.healthy.load(std::memory_order_relaxed)) continue;
        if (breakers_on_ && !m.breaker.available(now)) continue;
        candidates.push_back(i);
    }
    if (candidates.empty()) return std::nullopt;

    if (!(random01 >= 0.0)) random01 = 0.0;  // also catches NaN
    if (random01 >= 1.0) random01 = std::nextafter(1.0, 0.0);
    const std::size_t ticket =
        policy_ == BalancePolicy::random ? 0 : ticket_.fetch_add(1, std::memory_order_relaxed);

    while (!candidates.empty()) {
        const std::size_t k = candidates.size();
        std::size_t pos = 0;
        switch (policy_) {
            case BalancePolicy::round_robin: pos = ticket % k; break;
            case BalancePolicy::random:
                pos = std::min(k - 1, static_cast<std::size_t>(random01 * static_cast<double>(k)));
                break;
            case BalancePolicy::least_outstanding: {
                // The fewest in flight; among equals, rotate from the ticket.
                std::size_t best = std::numeric_limits<std::size_t>::max();
                for (std::size_t j = 0; j < k; ++j) {
                    const std::size_t p = (ticket + j) % k;
                    const std::size_t n =
                        members_[candidates[p]]->outstanding.load(std::memory_order_relaxed);
                    if (n < best) {
                        best = n;
                        pos = p;
                    }
                }
                break;
            }
        }
        const std::size_t index = candidates[pos];
        if (!breakers_on_ || members_[index]->breaker.allow(now)) return Lease(this, index);
        // Lost the probe slot (or the state moved) since the eligibility check: next one.
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    return std::nullopt;
}

void OriginSet::report(std::size_t index, bool success, TimePoint now) {
    if (index >= members_.size() || !breakers_on_) return;
    CircuitBreaker& b = members_[index]->breaker;
    if (success)
        b.on_success(now);
    else
        b.on_failure(now);
}

void OriginSet::set_healthy(std::size_t index, bool up) {
    members_[index]->healthy.store(up, std::memory_order_relaxed);
}

bool OriginSet::healthy(std::size_t index) const {
    return members_[index]->healthy.load(std::memory_order_relaxed);
}

CircuitBreaker::State OriginSet::breaker_state(std::size_t index, TimePoint now) const {
    return members_[index]->breaker.state(now);
}

std::size_t OriginSet::outstanding(std::size_t index) const {
    return members_[index]->outstanding.load(std::memory_order_relaxed);
}

}  // namespace cdn::edge::upstream
