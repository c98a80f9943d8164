#pragma once
// What one geodns observer publishes about the edges it checks, and reads from its peers
// (GET /v1/health/observations on the admin port; health/peer_poller.hpp fetches it). Spoken only
// between geodns instances, so it lives here. Pure: JSON in and out, no I/O.
//
//   {"observer":"geodns-1","now_ms":1767225600000,"interval_ms":1000,
//    "edges":[{"id":"use1-a","up":true,"since_ms":1767225500000,"last_check_ms":1767225599800,
//              "checked_ms_ago":200,"consecutive_ok":57,"consecutive_failed":0}]}
//
// "up" is the observer's own verdict (its rise/fall thresholds applied), not its quorum decision:
// peers vote with what each one saw. "checked_ms_ago" (null before the first check) is what a
// reader uses to tell a fresh verdict from a stale one without trusting the publisher's clock.
#include "common/clock.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cdn::geodns {

struct ObservedEdge {
    std::string id;
    bool up = true;
    TimePoint since;                      // when the verdict last flipped (or was first taken)
    std::optional<TimePoint> last_check;  // none before the first check
    unsigned consecutive_ok = 0;          // checks in a row that passed (0 after a failure)
    unsigned consecutive_failed = 0;      // checks in a row that failed (0 after a success)
};

struct Observations {
    std::string observer;  // the publisher's [health] observer id
    TimePoint now;         // the publisher's clock when it answered
    std::chrono::milliseconds interval{0};
    std::vector<ObservedEdge> edges;
};

std::string observations_json(const Observations& o);

// One edge as a reader sees it: the verdict, and how long before the answer it was checked.
struct PeerObservedEdge {
    std::string id;
    bool up = true;
    std::optional<std::chrono::milliseconds> checked_ago;  // none: never checked (does not vote)
};

struct PeerObservations {
    std::string observer;
    std::vector<PeerObservedEdge> edges;
};

// Parses a body; the error says what is wrong ("edges[2].up: expected true or false").
std::variant<PeerObservations, std::string> parse_observations(std::string_view body);

}  // namespace cdn::geodns
