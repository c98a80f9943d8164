#include "edge/upstream/origin_set.hpp"

#include "edge/upstream/hrw.hpp"

#include <fmt/format.h>

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
                     BreakerSettings breaker, SetOptions options)
    : policy_(policy), ramp_up_(options.ramp_up) {
    members_.reserve(servers.size());
    for (auto& s : servers) {
        auto m = std::make_unique<Member>(std::move(s), breaker);
        const std::size_t i = members_.size();
        m->weight = i < options.weights.size() ? options.weights[i] : 1.0;
        m->hash = hrw_member_hash(fmt::format("{}:{}", m->server.url.host, m->server.url.port));
        members_.push_back(std::move(m));
    }
    breakers_on_ = options.breakers_always || members_.size() > 1;
}

void OriginSet::came_back(Member& m, TimePoint now) {
    if (ramp_up_.count() > 0)
        m.returned_at.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

double OriginSet::ramp_share(std::size_t index, TimePoint now) const {
    const Member& m = *members_[index];
    const TimePoint::rep since = m.returned_at.load(std::memory_order_relaxed);
    if (since == 0 || ramp_up_.count() <= 0) return 1.0;
    const auto elapsed = now - TimePoint(TimePoint::duration(since));
    const double share = std::chrono::duration<double>(elapsed).count() /
                         std::chrono::duration<double>(ramp_up_).count();
    return std::clamp(share, 0.1, 1.0);
}

double OriginSet::effective_weight(std::size_t index, TimePoint now) const {
    return members_[index]->weight * ramp_share(index, now);
}

OriginSet::Ranked OriginSet::rank(std::uint64_t key_hash, TimePoint now,
                                  std::span<const std::size_t> exclude) const {
    Ranked ranked;
    for (std::size_t i = 0; i < members_.size(); ++i) {
        if (std::find(exclude.begin(), exclude.end(), i) != exclude.end()) continue;
        const Member& m = *members_[i];
        if (!m.healthy.load(std::memory_order_relaxed)) continue;
        if (breakers_on_ && !m.breaker.available(now)) continue;
        ranked.emplace_back(hrw_score(key_hash, m.hash, effective_weight(i, now)), i);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    return ranked;
}

std::optional<OriginSet::Lease> OriginSet::pick_hashed(std::uint64_t key_hash, TimePoint now,
                                                       std::span<const std::size_t> exclude) {
    for (const auto& [score, index] : rank(key_hash, now, exclude)) {
        // Only the owner's breaker is asked to admit, so a half-open probe slot is taken by
        // the member that gets the request.
        if (!breakers_on_ || members_[index]->breaker.allow(now)) return Lease(this, index);
    }
    return std::nullopt;
}

std::optional<OriginSet::Lease> OriginSet::pick_bounded(std::uint64_t key_hash, TimePoint now,
                                                        double load_cap, std::size_t self,
                                                        bool* spilled) {
    const Ranked ranked = rank(key_hash, now, {});
    if (ranked.empty()) return std::nullopt;
    std::size_t total = 0;
    for (const auto& r : ranked)
        total += outstanding(r.second);
    // Mirrokni, Thorup and Zadimoghaddam: a member takes one more request while its load
    // stays within ceil(c * (total + 1) / n).
    const auto cap = static_cast<std::size_t>(
        std::ceil(load_cap * static_cast<double>(total + 1) / static_cast<double>(ranked.size())));
    for (const auto& [score, index] : ranked) {
        if (index != self && outstanding(index) + 1 > cap) continue;
        if (breakers_on_ && !members_[index]->breaker.allow(now)) continue;
        if (spilled) *spilled = index != ranked.front().second;
        return Lease(this, index);
    }
    return std::nullopt;
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
    Member& m = *members_[index];
    CircuitBreaker& b = m.breaker;
    if (success) {
        const bool was_probing = b.state(now) == CircuitBreaker::State::half_open;
        b.on_success(now);
        if (was_probing && b.state(now) == CircuitBreaker::State::closed) came_back(m, now);
    } else {
        b.on_failure(now);
    }
}

void OriginSet::set_healthy(std::size_t index, bool up, TimePoint now) {
    Member& m = *members_[index];
    const bool was = m.healthy.exchange(up, std::memory_order_relaxed);
    if (up && !was && now != TimePoint{}) came_back(m, now);
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
