#pragma once
// The health-threshold state machine shared by active health checks (the edge's origin checks,
// geodns' edge checks): a target goes down after `fall` consecutive failed checks and comes back
// up after `rise` consecutive successful ones, so a single flap never flips it.
// Pure (no I/O, no clock); not thread-safe: one owner per target.
namespace cdn {

struct HealthThresholds {
    unsigned rise = 2;  // consecutive successes that bring a down target up (0 acts as 1)
    unsigned fall = 3;  // consecutive failures that take an up target down (0 acts as 1)
};

class HealthState {
  public:
    explicit HealthState(HealthThresholds thresholds, bool initially_up = true);

    // Records one check result; returns true when this result flipped the state.
    bool record(bool success);
    bool up() const { return up_; }
    // Consecutive results so far that disagree with the current state (reset by a flip or by a
    // result that agrees with it).
    unsigned streak() const { return streak_; }

  private:
    HealthThresholds thresholds_;
    bool up_;
    unsigned streak_ = 0;
};

}  // namespace cdn
