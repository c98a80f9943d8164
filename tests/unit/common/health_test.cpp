// HealthState: rise/fall thresholds and flips.
#include "common/health.hpp"

#include <catch2/catch.hpp>

using namespace cdn;

TEST_CASE("HealthState: an up target goes down after fall consecutive failures", "[health]") {
    HealthState h({.rise = 2, .fall = 3});
    REQUIRE(h.up());
    CHECK_FALSE(h.record(false));
    CHECK_FALSE(h.record(false));
    CHECK(h.up());
    CHECK(h.record(false));  // the third one flips
    CHECK_FALSE(h.up());
    CHECK_FALSE(h.record(false));  // already down: no further flip
    CHECK_FALSE(h.up());
}

TEST_CASE("HealthState: a down target comes up after rise consecutive successes", "[health]") {
    HealthState h({.rise = 2, .fall = 3}, false);
    REQUIRE_FALSE(h.up());
    CHECK_FALSE(h.record(true));
    CHECK_FALSE(h.up());
    CHECK(h.record(true));
    CHECK(h.up());
    CHECK_FALSE(h.record(true));
}

TEST_CASE("HealthState: a success interrupts a run of failures", "[health]") {
    HealthState h({.rise = 2, .fall = 3});
    h.record(false);
    h.record(false);
    CHECK(h.streak() == 2);
    CHECK_FALSE(h.record(true));
    CHECK(h.streak() == 0);
    CHECK_FALSE(h.record(false));
    CHECK_FALSE(h.record(false));
    CHECK(h.up());
    CHECK(h.record(false));
    CHECK_FALSE(h.up());
}

TEST_CASE("HealthState: alternating results never flip", "[health]") {
    for (bool initially_up : {true, false}) {
        HealthState h({.rise = 2, .fall = 2}, initially_up);
        for (int i = 0; i < 100; ++i)
            CHECK_FALSE(h.record(i % 2 == 0));
        CHECK(h.up() == initially_up);
    }
}

TEST_CASE("HealthState: thresholds of one (or zero) flip on every disagreeing result", "[health]") {
    for (unsigned t : {0u, 1u}) {
        HealthState h({.rise = t, .fall = t});
        CHECK(h.record(false));
        CHECK_FALSE(h.up());
        CHECK_FALSE(h.record(false));
        CHECK(h.record(true));
        CHECK(h.up());
    }
}

TEST_CASE("HealthState: default thresholds are rise 2, fall 3", "[health]") {
    const HealthThresholds t;
    CHECK(t.rise == 2);
    CHECK(t.fall == 3);
    HealthState h(t);
    int flips = 0;
    for (int i = 0; i < 3; ++i)
        flips += h.record(false) ? 1 : 0;
    CHECK(flips == 1);
    CHECK_FALSE(h.up());
    CHECK_FALSE(h.record(true));
    CHECK(h.record(true));
    CHECK(h.up());
}
