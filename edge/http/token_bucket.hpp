#pragma once
// A token bucket: `burst` tokens, refilled at `rate` per second, one taken per event. Pure: the
// caller passes the time, so tests move it by hand. Not thread-safe (one per connection, or
// guarded by its owner's lock).
#include <algorithm>
#include <chrono>

namespace cdn::edge::http {

template <class TimePoint>
class TokenBucket {
  public:
    TokenBucket(double burst, double rate, TimePoint now)
        : burst_(burst), rate_(rate), tokens_(burst), refilled_(now) {}

    // Takes one token; false (and nothing taken) when fewer than one is left.
    bool take(TimePoint now) {
        refill(now);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }
    // True when at least one token is left.
    bool has(TimePoint now) {
        refill(now);
        return tokens_ >= 1.0;
    }
    // True when the bucket is back to its burst (nothing of its history matters any more).
    bool full(TimePoint now) {
        refill(now);
        return tokens_ >= burst_;
    }
    double tokens() const { return tokens_; }

  private:
    void refill(TimePoint now) {
        // A clock that steps back (wall time) refills nothing rather than draining, and the
        // bucket refills from the new time on (not only once the clock is back where it was).
        if (now > refilled_) {
            const double secs = std::chrono::duration<double>(now - refilled_).count();
            tokens_ = std::min(burst_, tokens_ + secs * rate_);
        }
        refilled_ = now;
    }

    double burst_;
    double rate_;
    double tokens_;
    TimePoint refilled_;
};

}  // namespace cdn::edge::http
