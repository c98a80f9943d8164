#pragma once
// The quorum rule that turns several observers' verdicts on one edge into the decision geodns
// answers by (DESIGN.md section 5: health that steers DNS comes from a quorum of observers, never
// from one checker). Pure: a function of this observer's verdict, the peers' verdicts with the
// time each was checked (already on this observer's clock), the previous decision, `now` and the
// settings. geodns/README.md ("Several observers") explains the rule and its failure modes.
//
// The rule, for an edge:
// - A verdict counts when it is fresh: this observer's own always does (its checks run here);
//   a peer's when it was checked within `stale_after` of now.
// - DOWN when at least `quorum` counted verdicts say down.
// - Otherwise UP when this observer sees it up, or when at least `quorum` verdicts counted (a
//   quorum is reachable and does not say down: a lone "down" is overruled).
// - Otherwise (this observer sees it down and too few observers are reachable to form a quorum)
//   the previous decision stays: a lone opinion never drains an edge, and an edge the quorum
//   drained is not brought back by losing the other observers.
// - Hold-down: a decision changes at most once per `hold_down` (anti-flap on top of each
//   observer's rise/fall thresholds).
#include "common/clock.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace cdn::geodns {

struct QuorumSettings {
    std::size_t observers = 1;  // configured observers, this one included (>= 1)
    std::size_t quorum = 1;     // verdicts that must say down to drain an edge (1..observers)
    std::chrono::milliseconds stale_after{6000};  // a peer verdict older than this is ignored
    std::chrono::milliseconds hold_down{4000};    // minimum time between two decision flips
};

// A majority of `observers`: 1 of 1, 2 of 2, 2 of 3, 3 of 4, 3 of 5.
constexpr std::size_t majority(std::size_t observers) {
    return observers / 2 + 1;
}

// One peer's verdict on the edge, with when it was checked on this observer's clock (the peer's
// "checked so long ago" subtracted from the time its report was fetched, so clocks need not agree).
struct PeerVerdict {
    bool up = true;
    TimePoint checked;
};

struct Decision {
    bool up = true;
    TimePoint since;  // when it last changed (or was first made)
};

struct QuorumOutcome {
    Decision decision;
    bool changed = false;     // decision.up differs from the previous one
    bool held = false;        // the rule wanted a flip that the hold-down delayed
    bool overruled = false;   // own verdict differs from the decision, and not because of hold-down
    std::size_t counted = 0;  // verdicts counted (own + fresh peers)
    std::size_t down_votes = 0;  // of those, how many say down
};

// Precondition: settings.observers >= 1 and 1 <= settings.quorum. `peers` holds one entry per
// peer observer (nullopt: nothing known about this edge from that peer).
QuorumOutcome decide_quorum(bool own_up, const std::vector<std::optional<PeerVerdict>>& peers,
                            const Decision& previous, TimePoint now,
                            const QuorumSettings& settings);

}  // namespace cdn::geodns
