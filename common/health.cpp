#include "common/health.hpp"

#include <algorithm>

namespace cdn {

HealthState::HealthState(HealthThresholds thresholds, bool initially_up)
    : thresholds_(thresholds), up_(initially_up) {}

bool HealthState::record(bool success) {
    if (success == up_) {
        streak_ = 0;
        return false;
    }
    const unsigned needed = std::max(1u, up_ ? thresholds_.fall : thresholds_.rise);
    if (++streak_ < needed) return false;
    up_ = success;
    streak_ = 0;
    return true;
}

}  // namespace cdn
