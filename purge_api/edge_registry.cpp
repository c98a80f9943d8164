#include "purge_api/edge_registry.hpp"

#include "common/registration.hpp"

#include <algorithm>
#include <chrono>

namespace cdn::purge_api {

bool valid_edge_id(std::string_view id) noexcept {
    return registration::valid_id(id);  // one rule for stream ids and registered ids
}

std::string_view to_string(EdgeStatus s) noexcept {
    switch (s) {
        case EdgeStatus::applied: return "applied";
        case EdgeStatus::pending: return "pending";
        case EdgeStatus::unreachable: return "unreachable";
    }
    return "unreachable";
}

EdgeRegistry::EdgeRegistry(const Clock& clock, const std::vector<std::string>& known)
    : clock_(clock) {
    for (const auto& e : known)
        edges_[e].configured = true;
}

void EdgeRegistry::set_known(const std::vector<std::string>& known) {
    std::lock_guard lk(mu_);
    for (auto it = edges_.begin(); it != edges_.end();) {
        State& s = it->second;
        s.configured = std::find(known.begin(), known.end(), it->first) != known.end();
        const bool joined =
            s.last_seen_ms || s.live() || s.last_applied != 0 || s.remote_streams != 0;
        if (!s.configured && !joined)
            it = edges_.erase(it);
        else
            ++it;
    }
    for (const auto& e : known)
        edges_[e].configured = true;
}

std::int64_t EdgeRegistry::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

std::uint64_t EdgeRegistry::connect(const std::string& edge, std::shared_ptr<StreamWaker> waker) {
    std::shared_ptr<StreamWaker> old;
    std::uint64_t gen;
    bool started = false;
    {
        std::lock_guard lk(mu_);
        State& s = edges_[edge];
        old = std::move(s.waker);
        started = s.generation == 0;
        gen = next_generation_++;
        s.generation = gen;
        s.waker = std::move(waker);
        s.last_seen_ms = now_ms();
    }
    if (old) old->wake();
    if (started && publisher_.stream) publisher_.stream(edge, true);
    return gen;
}

bool EdgeRegistry::is_current(const std::string& edge, std::uint64_t generation) const {
    std::lock_guard lk(mu_);
    const auto it = edges_.find(edge);
    return it != edges_.end() && it->second.generation == generation;
}

void EdgeRegistry::disconnect(const std::string& edge, std::uint64_t generation) {
    {
        std::lock_guard lk(mu_);
        const auto it = edges_.find(edge);
        if (it == edges_.end() || it->second.generation != generation) return;
        it->second.generation = 0;
        it->second.waker.reset();
    }
    if (publisher_.stream) publisher_.stream(edge, false);
}

void EdgeRegistry::set_publisher(Publisher p) {
    std::lock_guard lk(mu_);
    publisher_ = std::move(p);
}

void EdgeRegistry::remote_ack(const std::string& edge, std::uint64_t seq, std::int64_t ms) {
    std::lock_guard lk(mu_);
    State& s = edges_[edge];
    s.last_seen_ms = std::max(s.last_seen_ms.value_or(ms), ms);
    if (seq <= s.last_applied) return;
    s.last_applied = seq;
    s.acks.push_back(AckPoint{seq, ms});
    if (s.acks.size() > kAckHistory) s.acks.pop_front();
}

void EdgeRegistry::remote_streams(const std::string& edge, std::size_t n) {
    std::lock_guard lk(mu_);
    edges_[edge].remote_streams = n;
}

void EdgeRegistry::seen(const std::string& edge) {
    std::lock_guard lk(mu_);
    edges_[edge].last_seen_ms = now_ms();
}

void EdgeRegistry::ack(const std::string& edge, std::uint64_t seq) {
    const std::int64_t now = now_ms();
    {
        std::lock_guard lk(mu_);
        State& s = edges_[edge];
        s.last_seen_ms = now;
        if (seq <= s.last_applied) return;
        s.last_applied = seq;
        s.acks.push_back(AckPoint{seq, now});
        if (s.acks.size() > kAckHistory) s.acks.pop_front();
    }
    if (publisher_.ack) publisher_.ack(edge, seq, now);
}

void EdgeRegistry::wake_all() {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, s] : edges_)
            if (s.waker) wakers.push_back(s.waker);
    }
    for (auto& w : wakers)
        w->wake();
}

std::vector<EdgeView> EdgeRegistry::edges() const {
    std::lock_guard lk(mu_);
    std::vector<EdgeView> out;
    out.reserve(edges_.size());
    for (const auto& [id, s] : edges_)
        out.push_back(EdgeView{id, s.last_applied, s.live(), s.last_seen_ms});
    return out;
}

std::size_t EdgeRegistry::connected() const {
    std::lock_guard lk(mu_);
    return static_cast<std::size_t>(
        std::count_if(edges_.begin(), edges_.end(), [](const auto& e) { return e.second.live(); }));
}

PurgeProgress EdgeRegistry::progress(std::uint64_t seq) const {
    std::lock_guard lk(mu_);
    PurgeProgress p;
    p.complete = !edges_.empty();
    for (const auto& [id, s] : edges_) {
        EdgeProgress e{id, EdgeStatus::unreachable, std::nullopt};
        if (s.last_applied >= seq) {
            e.status = EdgeStatus::applied;
            // The first acknowledgement that covered seq; if it was forgotten, the oldest one
            // remembered (an upper bound).
            const auto it =
                std::lower_bound(s.acks.begin(), s.acks.end(), seq,
                                 [](const AckPoint& a, std::uint64_t v) { return a.seq < v; });
            if (it != s.acks.end()) e.applied_ms = it->ms;
            if (p.complete && e.applied_ms)
                p.completed_ms = std::max(p.completed_ms.value_or(*e.applied_ms), *e.applied_ms);
        } else {
            p.complete = false;
            e.status = s.live() ? EdgeStatus::pending : EdgeStatus::unreachable;
        }
        p.edges.push_back(std::move(e));
    }
    if (!p.complete) p.completed_ms.reset();
    return p;
}

}  // namespace cdn::purge_api
