#include "geodns/health/quorum.hpp"

namespace cdn::geodns {

QuorumOutcome decide_quorum(bool own_up, const std::vector<std::optional<PeerVerdict>>& peers,
                            const Decision& previous, TimePoint now,
                            const QuorumSettings& settings) {
    QuorumOutcome out;
    out.counted = 1;
    out.down_votes = own_up ? 0 : 1;
    for (const auto& p : peers) {
        if (!p || now - p->checked > settings.stale_after) continue;
        ++out.counted;
        if (!p->up) ++out.down_votes;
    }
    bool wanted = previous.up;
    if (out.down_votes >= settings.quorum)
        wanted = false;
    else if (own_up || out.counted >= settings.quorum)
        wanted = true;
    // else: no quorum reachable and a lone "down": keep the previous decision.

    out.decision = previous;
    if (wanted != previous.up) {
        if (now - previous.since >= settings.hold_down) {
            out.decision = Decision{wanted, now};
            out.changed = true;
        } else {
            out.held = true;
        }
    }
    out.overruled = own_up != out.decision.up && !out.held;
    return out;
}

}  // namespace cdn::geodns
