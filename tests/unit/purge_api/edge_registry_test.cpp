// Edge membership, acknowledgements and purge progress, on a manual clock.
#include "purge_api/edge_registry.hpp"
#include "tests/support/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace cdn;
using namespace cdn::purge_api;
using namespace std::chrono_literals;

namespace {

struct CountingWaker final : StreamWaker {
    std::atomic<int> wakes{0};
    void wake() noexcept override { ++wakes; }
};

std::int64_t ms(const test::ManualClock& c) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(c.now().time_since_epoch())
        .count();
}

const EdgeProgress& of(const PurgeProgress& p, const std::string& edge) {
    for (const auto& e : p.edges)
        if (e.edge == edge) return e;
    FAIL("no edge " << edge);
    return p.edges.front();
}

}  // namespace

TEST_CASE("edge ids", "[purge_api][edges]") {
    CHECK(valid_edge_id("edge-1"));
    CHECK(valid_edge_id("fra.edge_02"));
    CHECK_FALSE(valid_edge_id(""));
    CHECK_FALSE(valid_edge_id("a b"));
    CHECK_FALSE(valid_edge_id("a/b"));
    CHECK_FALSE(valid_edge_id(std::string(65, 'a')));
}

TEST_CASE("known edges, streams and acks", "[purge_api][edges]") {
    test::ManualClock clock;
    EdgeRegistry r(clock, {"edge-a", "edge-b"});
    auto edges = r.edges();
    REQUIRE(edges.size() == 2);
    CHECK_FALSE(edges[0].connected);
    CHECK_FALSE(edges[0].last_seen_ms);

    auto w = std::make_shared<CountingWaker>();
    const auto gen = r.connect("edge-a", w);
    CHECK(r.is_current("edge-a", gen));
    CHECK(r.connected() == 1);
    r.wake_all();
    CHECK(w->wakes == 1);

    clock.advance(1s);
    r.ack("edge-a", 5);
    r.ack("edge-a", 3);  // late and lower: ignored
    edges = r.edges();
    CHECK(edges[0].edge == "edge-a");
    CHECK(edges[0].last_applied_seq == 5);
    CHECK(edges[0].connected);
    CHECK(edges[0].last_seen_ms == ms(clock));

    // An edge nobody configured joins by connecting (or acking).
    r.ack("edge-c", 0);
    CHECK(r.edges().size() == 3);

    r.disconnect("edge-a", gen);
    CHECK(r.connected() == 0);
    r.wake_all();
    CHECK(w->wakes == 1);
}

TEST_CASE("a second stream for an edge replaces the first", "[purge_api][edges]") {
    test::ManualClock clock;
    EdgeRegistry r(clock, {});
    auto w1 = std::make_shared<CountingWaker>();
    auto w2 = std::make_shared<CountingWaker>();
    const auto g1 = r.connect("e", w1);
    const auto g2 = r.connect("e", w2);
    CHECK(w1->wakes == 1);  // told to look: it is no longer current
    CHECK_FALSE(r.is_current("e", g1));
    CHECK(r.is_current("e", g2));
    r.disconnect("e", g1);  // the old one ending does not disconnect the new one
    CHECK(r.connected() == 1);
    r.disconnect("e", g2);
    CHECK(r.connected() == 0);
}

TEST_CASE("purge progress: applied, pending, unreachable, complete", "[purge_api][edges]") {
    test::ManualClock clock;
    EdgeRegistry r(clock, {"a", "b", "c"});
    const auto gb = r.connect("b", std::make_shared<CountingWaker>());
    (void)gb;
    clock.advance(1s);
    r.ack("a", 3);
    const auto t_a = ms(clock);

    auto p = r.progress(3);
    CHECK(of(p, "a").status == EdgeStatus::applied);
    CHECK(of(p, "a").applied_ms == t_a);
    CHECK(of(p, "b").status == EdgeStatus::pending);
    CHECK(of(p, "c").status == EdgeStatus::unreachable);
    CHECK_FALSE(p.complete);
    CHECK_FALSE(p.completed_ms);

    clock.advance(2s);
    r.ack("b", 4);
    clock.advance(3s);
    r.ack("c", 10);
    const auto t_c = ms(clock);
    p = r.progress(3);
    CHECK(p.complete);
    CHECK(p.completed_ms == t_c);
    CHECK(of(p, "b").applied_ms == t_a + 2000);

    // A later purge only a is missing.
    p = r.progress(5);
    CHECK(of(p, "a").status == EdgeStatus::unreachable);
    CHECK(of(p, "b").status == EdgeStatus::pending);
    CHECK(of(p, "c").status == EdgeStatus::applied);
    CHECK(of(p, "c").applied_ms == t_c);
    CHECK_FALSE(p.complete);
}

TEST_CASE("no known edges is not complete", "[purge_api][edges]") {
    test::ManualClock clock;
    EdgeRegistry r(clock, {});
    CHECK_FALSE(r.progress(1).complete);
}

TEST_CASE("a reload changes the configured edges, and edges that joined stay",
          "[purge_api][edges]") {
    test::ManualClock clock;
    EdgeRegistry r(clock, {"edge-a", "edge-b", "edge-c"});
    r.ack("edge-b", 0);  // seen: it stays even when no longer configured
    r.ack("edge-x", 0);  // joined by acking
    r.set_known({"edge-a", "edge-d"});
    std::vector<std::string> ids;
    for (const EdgeView& e : r.edges())
        ids.push_back(e.edge);
    CHECK(ids == std::vector<std::string>{"edge-a", "edge-b", "edge-d", "edge-x"});
    CHECK(r.progress(1).edges.size() == 4);
}
