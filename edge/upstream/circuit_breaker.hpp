#pragma once
// A per-origin circuit breaker (passive health): after `failure_threshold` consecutive failed
// requests the origin is skipped (open) for `reset_timeout`; then one probe request at a time is
// let through (half-open) and its outcome closes the breaker or re-opens it with a fresh timer.
// Time is an argument (never read from a clock here). Thread-safe: any worker may call any
// member; the closed-state fast path of allow() is a single atomic load.
#include "common/clock.hpp"

#include <atomic>
#include <chrono>
#include <mutex>

namespace cdn::edge::upstream {

struct BreakerSettings {
    unsigned failure_threshold = 5;  // consecutive failures that open the breaker (0 acts as 1)
    std::chrono::milliseconds reset_timeout{10'000};  // open -> half-open after this long
};

class CircuitBreaker {
  public:
    enum class State { closed, open, half_open };

    explicit CircuitBreaker(BreakerSettings settings = {});
    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    // May a request go to this origin now? closed: yes. open: no until reset_timeout has passed
    // since it opened; then it turns half-open and this call takes the one probe slot. half-open:
    // yes only while no probe is out. A true answer in half-open state is a promise to report
    // the outcome with on_success / on_failure; a probe never reported is presumed lost after
    // reset_timeout and another one is admitted.
    bool allow(TimePoint now);
    // What allow(now) would answer, without taking the probe slot or changing state.
    bool available(TimePoint now) const;

    // A request succeeded: resets the failure count; a half-open breaker closes. Ignored while
    // open (a straggler admitted before the breaker opened proves little).
    void on_success(TimePoint now);
    // A request failed: counts consecutive failures and opens the breaker at the threshold; a
    // failed half-open probe re-opens it with a fresh reset timer. Ignored while open (the timer
    // is not extended by stragglers).
    void on_failure(TimePoint now);

    // The state as allow(now) would see it: open turns into half_open once reset_timeout passed.
    State state(TimePoint now) const;
    unsigned consecutive_failures() const;

  private:
    bool probe_free(TimePoint now) const;  // mu_ held, state_ == half_open

    const BreakerSettings settings_;
    mutable std::mutex mu_;
    // Written under mu_; read without it on the closed fast paths.
    std::atomic<State> state_{State::closed};
    std::atomic<unsigned> failures_{0};
    TimePoint opened_at_{};      // when it last opened (mu_)
    bool probe_out_ = false;     // a half-open probe is in flight (mu_)
    TimePoint probe_started_{};  // when that probe was admitted (mu_)
};

// "closed", "open", "half_open" (for logs and metric labels).
const char* breaker_state_name(CircuitBreaker::State state) noexcept;

}  // namespace cdn::edge::upstream
