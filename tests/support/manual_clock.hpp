#pragma once
// A clock tests move by hand (DESIGN.md: time is injected, tests do not sleep for it).
#include "common/clock.hpp"

#include <atomic>

namespace cdn::test {

class ManualClock final : public Clock {
  public:
    TimePoint now() const noexcept override {
        return TimePoint(TimePoint::duration(t_.load(std::memory_order_relaxed)));
    }
    void advance(TimePoint::duration d) { t_.fetch_add(d.count(), std::memory_order_relaxed); }

  private:
    std::atomic<TimePoint::rep> t_{
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::seconds(1'800'000'000))
            .count()};
};

}  // namespace cdn::test
