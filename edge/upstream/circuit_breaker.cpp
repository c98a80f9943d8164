#include "edge/upstream/circuit_breaker.hpp"

#include <algorithm>

namespace cdn::edge::upstream {

CircuitBreaker::CircuitBreaker(BreakerSettings settings) : settings_(settings) {}

bool CircuitBreaker::probe_free(TimePoint now) const {
    return !probe_out_ || now - probe_started_ >= settings_.reset_timeout;
}

bool CircuitBreaker::allow(TimePoint now) {
    if (state_.load(std::memory_order_acquire) == State::closed) return true;
    std::lock_guard lock(mu_);
    switch (state_.load(std::memory_order_relaxed)) {
        case State::closed: return true;
        case State::open:
            if (now - opened_at_ < settings_.reset_timeout) return false;
            state_.store(State::half_open, std::memory_order_release);
            probe_out_ = true;
            probe_started_ = now;
            return true;
        case State::half_open:
            if (!probe_free(now)) return false;
            probe_out_ = true;
            probe_started_ = now;
            return true;
    }
    return false;
}

bool CircuitBreaker::available(TimePoint now) const {
    if (state_.load(std::memory_order_acquire) == State::closed) return true;
    std::lock_guard lock(mu_);
    switch (state_.load(std::memory_order_relaxed)) {
        case State::closed: return true;
        case State::open: return now - opened_at_ >= settings_.reset_timeout;
        case State::half_open: return probe_free(now);
    }
    return false;
}

void CircuitBreaker::on_success(TimePoint /*now*/) {
    // Fast path: nothing to reset.
    if (state_.load(std::memory_order_acquire) == State::closed &&
        failures_.load(std::memory_order_relaxed) == 0)
        return;
    std::lock_guard lock(mu_);
    switch (state_.load(std::memory_order_relaxed)) {
        case State::closed: failures_.store(0, std::memory_order_relaxed); break;
        case State::open: break;
        case State::half_open:
            failures_.store(0, std::memory_order_relaxed);
            probe_out_ = false;
            state_.store(State::closed, std::memory_order_release);
            break;
    }
}

void CircuitBreaker::on_failure(TimePoint now) {
    std::lock_guard lock(mu_);
    switch (state_.load(std::memory_order_relaxed)) {
        case State::closed: {
            const unsigned n = failures_.load(std::memory_order_relaxed) + 1;
            failures_.store(n, std::memory_order_relaxed);
            if (n >= std::max(1u, settings_.failure_threshold)) {
                opened_at_ = now;
                state_.store(State::open, std::memory_order_release);
            }
            break;
        }
        case State::open: break;
        case State::half_open:
            failures_.fetch_add(1, std::memory_order_relaxed);
            probe_out_ = false;
            opened_at_ = now;
            state_.store(State::open, std::memory_order_release);
            break;
    }
}

CircuitBreaker::State CircuitBreaker::state(TimePoint now) const {
    std::lock_guard lock(mu_);
    const State s = state_.load(std::memory_order_relaxed);
    if (s == State::open && now - opened_at_ >= settings_.reset_timeout) return State::half_open;
    return s;
}

unsigned CircuitBreaker::consecutive_failures() const {
    return failures_.load(std::memory_order_relaxed);
}

const char* breaker_state_name(CircuitBreaker::State state) noexcept {
    switch (state) {
        case CircuitBreaker::State::closed: return "closed";
        case CircuitBreaker::State::open: return "open";
        case CircuitBreaker::State::half_open: return "half_open";
    }
    return "unknown";
}

}  // namespace cdn::edge::upstream
