// The quorum rule (geodns/health/quorum.hpp) on a manual clock: who may drain an edge, what a
// stale or missing peer counts for, what happens without a quorum, and the hold-down; then the
// observations wire format, and EdgeHealth combining its own verdicts with its peers' (no I/O).
#include "geodns/health/quorum.hpp"
#include "geodns/health/edge_health.hpp"
#include "geodns/health/observations.hpp"
#include "tests/support/manual_clock.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::geodns;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

QuorumSettings three() {  // this observer and two peers, the default majority
    QuorumSettings s;
    s.observers = 3;
    s.quorum = majority(3);
    s.stale_after = 3s;
    s.hold_down = 2s;
    return s;
}

const Decision kUp{true, TimePoint{}};  // never changed: the first flip is not held

std::optional<PeerVerdict> peer(bool up, TimePoint checked) {
    return PeerVerdict{up, checked};
}

}  // namespace

TEST_CASE("majority of the configured observers", "[geodns][quorum]") {
    CHECK(majority(1) == 1);
    CHECK(majority(2) == 2);
    CHECK(majority(3) == 2);
    CHECK(majority(4) == 3);
    CHECK(majority(5) == 3);
}

TEST_CASE("quorum: one observer cut off from an edge does not drain it", "[geodns][quorum]") {
    test::ManualClock clock;
    const TimePoint now = clock.now();
    // This observer sees down, both peers (fresh) see up: the lone opinion is overruled.
    auto out =
        decide_quorum(false, {peer(true, now - 500ms), peer(true, now - 1s)}, kUp, now, three());
    CHECK(out.decision.up);
    CHECK(!out.changed);
    CHECK(out.overruled);
    CHECK(out.down_votes == 1);
    CHECK(out.counted == 3);

    // The mirror image: a peer cut off from the edge while this one sees it up.
    out = decide_quorum(true, {peer(false, now), peer(true, now)}, kUp, now, three());
    CHECK(out.decision.up);
    CHECK(!out.overruled);
}

TEST_CASE("quorum: an edge really down is drained, and comes back", "[geodns][quorum]") {
    test::ManualClock clock;
    TimePoint now = clock.now();
    // Two of three see it down: drained.
    auto out = decide_quorum(false, {peer(false, now), peer(true, now)}, kUp, now, three());
    CHECK(!out.decision.up);
    CHECK(out.changed);
    CHECK(out.decision.since == now);
    CHECK(out.down_votes == 2);

    // Two peers see it down while this one sees it up: the quorum wins over this observer too.
    auto other = decide_quorum(true, {peer(false, now), peer(false, now)}, kUp, now, three());
    CHECK(!other.decision.up);
    CHECK(other.overruled);

    // Back: once fewer than a quorum see it down (and the hold-down has passed), it is up again.
    const Decision down = out.decision;
    clock.advance(3s);
    now = clock.now();
    out = decide_quorum(true, {peer(false, now), peer(true, now)}, down, now, three());
    CHECK(out.decision.up);
    CHECK(out.changed);
}

TEST_CASE("quorum: stale and missing peers do not count toward down", "[geodns][quorum]") {
    test::ManualClock clock;
    const TimePoint now = clock.now();
    // A peer that saw it down 4 s ago (stale_after 3 s) and one that never reported it: this
    // observer alone cannot form a quorum, so the edge stays up.
    auto out = decide_quorum(false, {peer(false, now - 4s), std::nullopt}, kUp, now, three());
    CHECK(out.decision.up);
    CHECK(out.counted == 1);
    CHECK(out.down_votes == 1);
    CHECK(out.overruled);

    // Exactly stale_after old still counts.
    out = decide_quorum(false, {peer(false, now - 3s), std::nullopt}, kUp, now, three());
    CHECK(!out.decision.up);
}

TEST_CASE("quorum: cut off from the other observers, this one never drains on its own",
          "[geodns][quorum]") {
    test::ManualClock clock;
    const TimePoint now = clock.now();
    // No peer reachable and this observer sees down: the previous decision stays (up).
    auto out = decide_quorum(false, {std::nullopt, std::nullopt}, kUp, now, three());
    CHECK(out.decision.up);
    CHECK(!out.changed);

    // ... and an edge the quorum drained before stays drained (losing the peers does not revive
    // a dead region) ...
    const Decision drained{false, now - 10s};
    out = decide_quorum(false, {std::nullopt, std::nullopt}, drained, now, three());
    CHECK(!out.decision.up);
    CHECK(!out.overruled);

    // ... until this observer sees it up again: its own view may always bring an edge back.
    out = decide_quorum(true, {std::nullopt, std::nullopt}, drained, now, three());
    CHECK(out.decision.up);
    CHECK(out.changed);
}

TEST_CASE("quorum: two observers need both to drain", "[geodns][quorum]") {
    test::ManualClock clock;
    const TimePoint now = clock.now();
    QuorumSettings two = three();
    two.observers = 2;
    two.quorum = majority(2);
    CHECK(decide_quorum(false, {peer(true, now)}, kUp, now, two).decision.up);
    CHECK(decide_quorum(false, {std::nullopt}, kUp, now, two).decision.up);
    CHECK(!decide_quorum(false, {peer(false, now)}, kUp, now, two).decision.up);
    // An explicit quorum of 1 lets any observer drain (not recommended, but allowed).
    two.quorum = 1;
    CHECK(!decide_quorum(false, {peer(true, now)}, kUp, now, two).decision.up);
}

TEST_CASE("quorum: a lone observer decides by its own verdict", "[geodns][quorum]") {
    test::ManualClock clock;
    const TimePoint now = clock.now();
    QuorumSettings one;
    one.hold_down = 0ms;
    auto out = decide_quorum(false, {}, kUp, now, one);
    CHECK(!out.decision.up);
    CHECK(!out.overruled);
    out = decide_quorum(true, {}, out.decision, now, one);
    CHECK(out.decision.up);
}

TEST_CASE("quorum: the hold-down delays a flip that comes too soon", "[geodns][quorum]") {
    test::ManualClock clock;
    TimePoint now = clock.now();
    auto out = decide_quorum(false, {peer(false, now), peer(false, now)}, kUp, now, three());
    REQUIRE(!out.decision.up);
    const Decision down = out.decision;

    // 1 s later everyone sees it up: wanted up, held (hold_down 2 s), not "overruled".
    clock.advance(1s);
    now = clock.now();
    out = decide_quorum(true, {peer(true, now), peer(true, now)}, down, now, three());
    CHECK(!out.decision.up);
    CHECK(out.held);
    CHECK(!out.overruled);
    CHECK(!out.changed);

    // At 2 s it goes through.
    clock.advance(1s);
    now = clock.now();
    out = decide_quorum(true, {peer(true, now), peer(true, now)}, down, now, three());
    CHECK(out.decision.up);
    CHECK(out.changed);
    CHECK(out.decision.since == now);
}

TEST_CASE("observations round-trip through JSON", "[geodns][quorum]") {
    test::ManualClock clock;
    Observations o;
    o.observer = "geodns-1";
    o.now = clock.now();
    o.interval = 1s;
    o.edges.push_back(ObservedEdge{"use1", true, o.now - 60s, o.now - 250ms, 12, 0});
    o.edges.push_back(ObservedEdge{"euc1", false, o.now - 5s, o.now - 100ms, 0, 3});
    o.edges.push_back(ObservedEdge{"new", true, o.now, std::nullopt, 0, 0});
    const std::string text = observations_json(o);
    CHECK_THAT(text, Contains(R"("observer":"geodns-1")"));
    CHECK_THAT(text, Contains(R"("consecutive_failed":3)"));
    CHECK_THAT(text, Contains(R"("last_check_ms":null)"));

    auto parsed = parse_observations(text);
    REQUIRE(std::holds_alternative<PeerObservations>(parsed));
    const auto& p = std::get<PeerObservations>(parsed);
    CHECK(p.observer == "geodns-1");
    REQUIRE(p.edges.size() == 3);
    CHECK(p.edges[0].id == "use1");
    CHECK(p.edges[0].up);
    CHECK(p.edges[0].checked_ago == std::optional<std::chrono::milliseconds>(250ms));
    CHECK(!p.edges[1].up);
    CHECK(!p.edges[2].checked_ago);  // never checked: does not vote
}

TEST_CASE("observations that do not parse say why", "[geodns][quorum]") {
    auto err = [](std::string_view body) {
        auto r = parse_observations(body);
        REQUIRE(std::holds_alternative<std::string>(r));
        return std::get<std::string>(r);
    };
    CHECK_THAT(err("{"), Contains("not JSON"));
    CHECK_THAT(err(R"({"edges":[]})"), Contains("observer"));
    CHECK_THAT(err(R"({"observer":"a","edges":[{"id":"x","up":"yes"}]})"), Contains("edges[0].up"));
    CHECK_THAT(err(R"({"observer":"a","edges":[{"id":"x","up":true,"checked_ms_ago":-1}]})"),
               Contains("checked_ms_ago"));
}

namespace {

Fleet two_edges() {
    Fleet f;
    f.regions.push_back(Region{"us-east", 39, -77});
    for (const char* id : {"a", "b"}) {
        EdgeInfo e;
        e.id = id;
        e.region = 0;
        e.v4.push_back(boost::asio::ip::make_address_v4("127.10.0.1"));
        e.health_url = "http://127.0.0.1:9/healthz";
        f.edges.push_back(std::move(e));
    }
    return f;
}

}  // namespace

TEST_CASE("edge health publishes its verdicts and shows the quorum view", "[geodns][quorum]") {
    test::ManualClock clock;
    MetricsRegistry registry;
    EdgeHealth health(registry, clock);
    ObserverSettings obs;
    obs.observer = "geodns-1";
    obs.peers = {"http://127.0.0.1:9154", "http://127.0.0.1:9155"};
    obs.peer_urls.resize(2);
    obs.quorum = 2;
    auto table = health.update(two_edges(), HttpCheckSettings{}, true, {}, obs);
    CHECK(table->up(0));

    // Nothing checked yet: the edges are published, but with no check time (peers ignore them).
    const std::string mine = health.observations_json();
    CHECK_THAT(mine, Contains(R"("observer":"geodns-1")"));
    CHECK_THAT(mine, Contains(R"("checked_ms_ago":null)"));

    auto view = health.quorum_json("a");
    REQUIRE(view.contains("decision"));
    CHECK(view.at("decision").at("quorum").as_uint64() == 2);
    CHECK(view.at("observers").as_array().size() == 2);
    CHECK(view.at("observers").as_array()[0].at("counted").as_bool() == false);
    CHECK(health.quorum_json("nope").empty());
    CHECK(health.observers_json().at("observer").as_string() == "geodns-1");

    health.decide_all();  // no peer reachable, own verdicts up: everything stays up
    CHECK(table->up(0));
    CHECK(table->up(1));
    const std::string text = registry.render();
    CHECK_THAT(text, Contains(R"(cdn_geodns_observer_up{observer="http://127.0.0.1:9154"} 0)"));
    CHECK_THAT(text, Contains(R"(cdn_geodns_observers_down{edge="a",region="us-east"} 0)"));
    CHECK_THAT(text, Contains("cdn_geodns_quorum 2"));
    CHECK_THAT(text, Contains("cdn_geodns_observers 3"));
    CHECK_THAT(text, Contains(R"(cdn_geodns_quorum_overruled_total{edge="a",region="us-east"} 0)"));
}
