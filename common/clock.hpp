#pragma once
// Injected time. Cache, storage, purge and health code take a Clock& and never read the system
// clock themselves, so tests can move time with a manual clock instead of sleeping.
#include <chrono>

namespace cdn {

using SysClock = std::chrono::system_clock;
using TimePoint = SysClock::time_point;
using Seconds = std::chrono::seconds;

class Clock {
  public:
    virtual ~Clock() = default;
    virtual TimePoint now() const noexcept = 0;
};

class SystemClock final : public Clock {
  public:
    TimePoint now() const noexcept override { return SysClock::now(); }
    static const SystemClock& instance() noexcept {
        static const SystemClock clock;
        return clock;
    }
};

}  // namespace cdn
