// CircuitBreaker: threshold, fail-fast while open, one half-open probe, close / re-open. Time is
// injected; nothing sleeps.
#include "edge/upstream/circuit_breaker.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge::upstream;
using namespace std::chrono_literals;
using State = CircuitBreaker::State;

namespace {

const TimePoint t0{std::chrono::seconds(1'700'000'000)};

BreakerSettings settings(unsigned threshold = 3, std::chrono::milliseconds reset = 10s) {
    BreakerSettings s;
    s.failure_threshold = threshold;
    s.reset_timeout = reset;
    return s;
}

// A breaker (threshold 3, reset 10 s) opened at t0.
struct OpenBreaker {
    CircuitBreaker b{settings()};
    OpenBreaker() {
        for (int i = 0; i < 3; ++i)
            b.on_failure(t0);
    }
};

}  // namespace

TEST_CASE("CircuitBreaker: a closed breaker admits everything", "[breaker]") {
    CircuitBreaker b(settings());
    CHECK(b.state(t0) == State::closed);
    for (int i = 0; i < 10; ++i)
        CHECK(b.allow(t0));
    CHECK(b.available(t0));
}

TEST_CASE("CircuitBreaker: the breaker opens at the threshold of consecutive failures",
          "[breaker]") {
    CircuitBreaker b(settings(3));
    b.on_failure(t0);
    b.on_failure(t0);
    CHECK(b.state(t0) == State::closed);
    CHECK(b.consecutive_failures() == 2);
    CHECK(b.allow(t0));
    b.on_failure(t0 + 1ms);
    CHECK(b.state(t0 + 1ms) == State::open);
    CHECK_FALSE(b.allow(t0 + 1ms));
}

TEST_CASE("CircuitBreaker: a success resets the failure count", "[breaker]") {
    CircuitBreaker b(settings(3));
    b.on_failure(t0);
    b.on_failure(t0);
    b.on_success(t0);
    CHECK(b.consecutive_failures() == 0);
    b.on_failure(t0);
    b.on_failure(t0);
    CHECK(b.state(t0) == State::closed);
    b.on_failure(t0);
    CHECK(b.state(t0) == State::open);
}

TEST_CASE("CircuitBreaker: an open breaker fails fast until the reset timeout", "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    CHECK_FALSE(b.allow(t0));
    CHECK_FALSE(b.allow(t0 + 5s));
    CHECK_FALSE(b.allow(t0 + 9999ms));
    CHECK_FALSE(b.available(t0 + 9999ms));
    CHECK(b.state(t0 + 9999ms) == State::open);
    // Failures of stragglers while open do not extend the timer.
    b.on_failure(t0 + 9s);
    CHECK(b.state(t0 + 10s) == State::half_open);
}

TEST_CASE("CircuitBreaker: after the reset timeout exactly one probe is admitted", "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    CHECK(b.state(t0 + 10s) == State::half_open);
    CHECK(b.available(t0 + 10s));
    CHECK(b.available(t0 + 10s));  // asking does not take the slot
    CHECK(b.allow(t0 + 10s));      // the probe
    CHECK(b.state(t0 + 10s) == State::half_open);
    CHECK_FALSE(b.available(t0 + 10s));
    CHECK_FALSE(b.allow(t0 + 10s));
    CHECK_FALSE(b.allow(t0 + 11s));
}

TEST_CASE("CircuitBreaker: a successful probe closes the breaker", "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    REQUIRE(b.allow(t0 + 10s));
    b.on_success(t0 + 10s + 20ms);
    CHECK(b.state(t0 + 10s + 20ms) == State::closed);
    CHECK(b.consecutive_failures() == 0);
    CHECK(b.allow(t0 + 10s + 20ms));
    CHECK(b.allow(t0 + 10s + 20ms));
    // Counting starts over: it takes the full threshold to open again.
    b.on_failure(t0 + 11s);
    b.on_failure(t0 + 11s);
    CHECK(b.state(t0 + 11s) == State::closed);
}

TEST_CASE("CircuitBreaker: a failed probe re-opens with a fresh reset timer", "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    REQUIRE(b.allow(t0 + 10s));
    b.on_failure(t0 + 12s);
    CHECK(b.state(t0 + 12s) == State::open);
    CHECK_FALSE(b.allow(t0 + 12s));
    CHECK_FALSE(b.allow(t0 + 21s));  // would have passed with the old timer
    CHECK(b.state(t0 + 22s) == State::half_open);
    CHECK(b.allow(t0 + 22s));
    CHECK_FALSE(b.allow(t0 + 22s));
    b.on_success(t0 + 22s);
    CHECK(b.state(t0 + 22s) == State::closed);
}

TEST_CASE("CircuitBreaker: a probe never reported is presumed lost after the reset timeout",
          "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    REQUIRE(b.allow(t0 + 10s));
    CHECK_FALSE(b.allow(t0 + 19s));
    CHECK(b.allow(t0 + 20s));  // a new probe
    CHECK_FALSE(b.allow(t0 + 20s));
}

TEST_CASE("CircuitBreaker: a success while open does not close the breaker", "[breaker]") {
    OpenBreaker ob;
    CircuitBreaker& b = ob.b;
    b.on_success(t0 + 1s);
    CHECK(b.state(t0 + 1s) == State::open);
    CHECK_FALSE(b.allow(t0 + 1s));
}

TEST_CASE("CircuitBreaker: a threshold of zero acts as one", "[breaker]") {
    CircuitBreaker b(settings(0));
    b.on_failure(t0);
    CHECK(b.state(t0) == State::open);
}

TEST_CASE("CircuitBreaker: state names", "[breaker]") {
    CHECK(std::string(breaker_state_name(State::closed)) == "closed");
    CHECK(std::string(breaker_state_name(State::open)) == "open");
    CHECK(std::string(breaker_state_name(State::half_open)) == "half_open");
}
