// The fleet registry on a manual clock: registration, renewal, expiry, a held id refused naming
// its holder, the same edge restarted taking its id over, bad bodies naming the field,
// persistence, and the version the long poll waits on; plus the REST answers through ApiHandler.
#include "purge_api/fleet_registry.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <fstream>

using namespace cdn;
using namespace cdn::purge_api;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace json = boost::json;

namespace {

Registration reg(const std::string& id, const std::string& instance,
                 const std::string& http = "http://127.0.0.1:8080",
                 const std::string& ip = "127.0.0.1") {
    Registration r;
    r.id = id;
    r.instance = instance;
    r.http = http;
    r.admin = "http://127.0.0.1:8081";
    r.ipv4 = {ip};
    r.region = "eu-central";
    return r;
}

struct CountingWaker final : StreamWaker {
    void wake() noexcept override { ++woken; }
    int woken = 0;
};

}  // namespace

TEST_CASE("registry: register, renew, expire on the clock", "[registry]") {
    test::ManualClock clock;
    FleetRegistry r(clock, {10s, {}});
    CHECK(r.version() == 0);
    auto put = r.put(reg("edge-1", "aaaa"));
    CHECK(put.outcome == FleetRegistry::PutOutcome::registered);
    CHECK(put.version == 1);
    CHECK(r.size() == 1);
    CHECK(r.renew_every() == std::chrono::milliseconds(3333));

    clock.advance(9s);
    CHECK(r.heartbeat("edge-1", "aaaa").outcome == FleetRegistry::RenewOutcome::renewed);
    CHECK(r.version() == 1);  // a renewal is no change of the listing
    clock.advance(9s);        // 18 s after registering, 9 s after the heartbeat: still alive
    CHECK(r.list().edges.size() == 1);
    CHECK(r.put(reg("edge-1", "aaaa")).outcome == FleetRegistry::PutOutcome::renewed);
    CHECK(r.version() == 1);

    clock.advance(10s);  // lapsed: dropped at the next read, the version moves
    CHECK(r.list().edges.empty());
    CHECK(r.version() == 2);
    CHECK(r.expires() == 1);
    CHECK(r.heartbeat("edge-1", "aaaa").outcome == FleetRegistry::RenewOutcome::unknown);
    CHECK(r.registers() == 1);
    CHECK(r.renews() == 2);
}

TEST_CASE("registry: a held id is refused and names its holder", "[registry]") {
    test::ManualClock clock;
    FleetRegistry r(clock, {10s, {}});
    r.put(reg("edge", "aaaa", "http://127.0.0.1:8080"));
    const auto res = r.put(reg("edge", "bbbb", "http://127.0.0.1:9080"));
    CHECK(res.outcome == FleetRegistry::PutOutcome::refused);
    REQUIRE(res.holder);
    CHECK(res.holder->reg.instance == "aaaa");
    const std::string d = describe_holder(*res.holder);
    CHECK_THAT(d, Contains("instance aaaa") && Contains("http://127.0.0.1:8080") &&
                      Contains("region eu-central") && Contains("registered since"));
    CHECK(r.refused() == 1);
    CHECK(r.list().edges.at(0).reg.instance == "aaaa");
    // Its heartbeat and its delete are refused too; the holder's still work.
    CHECK(r.heartbeat("edge", "bbbb").outcome == FleetRegistry::RenewOutcome::other_instance);
    CHECK(r.remove("edge", "bbbb").outcome == FleetRegistry::RenewOutcome::other_instance);
    CHECK(r.held_by_other("edge", "bbbb"));
    CHECK_FALSE(r.held_by_other("edge", "aaaa"));
    CHECK_FALSE(r.held_by_other("other", "bbbb"));
    // Once the holder's lease lapses, the newcomer gets the id.
    clock.advance(11s);
    CHECK(r.put(reg("edge", "bbbb", "http://127.0.0.1:9080")).outcome ==
          FleetRegistry::PutOutcome::registered);
}

TEST_CASE("registry: the same edge restarted takes its id over, a change is an update",
          "[registry]") {
    test::ManualClock clock;
    FleetRegistry r(clock, {10s, {}});
    r.put(reg("edge", "aaaa"));
    clock.advance(2s);
    const auto res = r.put(reg("edge", "cccc"));  // same http URL and addresses
    CHECK(res.outcome == FleetRegistry::PutOutcome::taken_over);
    CHECK(res.version == 2);
    CHECK(r.list().edges.at(0).reg.instance == "cccc");
    CHECK(r.heartbeat("edge", "aaaa").outcome == FleetRegistry::RenewOutcome::other_instance);
    Registration heavier = reg("edge", "cccc");
    heavier.weight = 5;
    CHECK(r.put(heavier).outcome == FleetRegistry::PutOutcome::updated);
    CHECK(r.version() == 3);
    // A different address is a different edge, even with the same http URL.
    CHECK(r.put(reg("edge", "dddd", "http://127.0.0.1:8080", "127.0.0.2")).outcome ==
          FleetRegistry::PutOutcome::refused);
}

TEST_CASE("registry: deregistration, and waiters woken on every change", "[registry]") {
    test::ManualClock clock;
    FleetRegistry r(clock, {1s, {}});
    auto w = std::make_shared<CountingWaker>();
    r.add_waiter(w);
    r.put(reg("a", "1111"));
    CHECK(w->woken == 1);
    r.heartbeat("a", "1111");
    CHECK(w->woken == 1);
    CHECK(r.remove("a", "1111").outcome == FleetRegistry::RenewOutcome::renewed);
    CHECK(w->woken == 2);
    CHECK(r.remove("a", "1111").outcome == FleetRegistry::RenewOutcome::unknown);
    CHECK(r.deregisters() == 1);
    r.put(reg("b", "2222"));
    clock.advance(1s);
    CHECK(r.sweep() == 1);
    CHECK(w->woken == 4);
    CHECK(r.version() == 4);
    w.reset();  // a gone waiter is dropped, not woken
    r.put(reg("c", "3333"));
}

TEST_CASE("registry: persisted atomically and reloaded with fresh leases", "[registry]") {
    test::TempDir dir;
    const auto file = dir.path() / "registry.json";
    test::ManualClock clock;
    {
        FleetRegistry r(clock, {10s, file});
        CHECK_FALSE(r.load());  // no file yet: nothing to say
        Registration a = reg("a", "1111");
        a.latitude = 50.1;
        a.longitude = 8.7;
        a.ipv6 = {"2001:db8::1"};
        r.put(a);
        r.put(reg("b", "2222", "http://127.0.0.2:8080", "127.0.0.2"));
        r.remove("b", "2222");
        CHECK(r.version() == 3);
    }
    CHECK_FALSE(std::filesystem::exists(file.string() + ".tmp"));
    clock.advance(60s);  // long after every lease would have lapsed
    FleetRegistry r(clock, {10s, file});
    CHECK_FALSE(r.load());
    CHECK(r.version() == 4);  // past the stored one: readers see a change
    const auto l = r.list();
    REQUIRE(l.edges.size() == 1);
    CHECK(l.edges[0].reg.id == "a");
    CHECK(l.edges[0].reg.latitude == Approx(50.1));
    CHECK(l.edges[0].reg.ipv6 == std::vector<std::string>{"2001:db8::1"});
    CHECK(l.edges[0].expires_ms - r.now_ms() == 10'000);
    // The instance still holds its id after the restart and can renew.
    CHECK(r.heartbeat("a", "1111").outcome == FleetRegistry::RenewOutcome::renewed);
}

TEST_CASE("registry: a corrupt file is reported and ignored", "[registry]") {
    test::TempDir dir;
    const std::string file = dir.write("registry.json", "{\"version\":3,\"edges\":[{\"id\":");
    test::ManualClock clock;
    FleetRegistry r(clock, {10s, file});
    const auto problem = r.load();
    REQUIRE(problem);
    CHECK_THAT(*problem, Contains("registry.json") && Contains("starting with an empty"));
    CHECK(r.list().edges.empty());
    r.put(reg("a", "1111"));  // rewrites it
    FleetRegistry again(clock, {10s, file});
    CHECK_FALSE(again.load());
    CHECK(again.list().edges.size() == 1);
}

TEST_CASE("registration bodies: the error names the field", "[registry]") {
    using registration::parse_registration;
    auto err = [](const std::string& body) {
        auto r = parse_registration(body, "edge-1");
        return std::holds_alternative<std::string>(r) ? std::get<std::string>(r)
                                                      : std::string("(valid)");
    };
    const std::string ok =
        R"({"instance":"abc","http":"http://127.0.0.1:8080","ipv4":["127.0.0.1"]})";
    CHECK(err(ok) == "(valid)");
    CHECK_THAT(err("nope"), Contains("not JSON"));
    CHECK_THAT(err("[]"), Contains("JSON object"));
    CHECK_THAT(err(R"({"http":"http://127.0.0.1:8080"})"), Contains("instance: required"));
    CHECK_THAT(err(R"({"instance":"abc"})"), Contains("http: required"));
    CHECK_THAT(err(R"({"instance":"abc","http":"ftp://x"})"), Contains("http: \"ftp://x\""));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","ipv4":["10.0.0"]})"),
               Contains("ipv4[0]: \"10.0.0\" is not an IPv4 address"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","ipv6":["1.2.3.4"]})"),
               Contains("ipv6[0]"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","latitude":91,"longitude":0})"),
               Contains("latitude: expected a number from -90 to 90"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","latitude":1})"),
               Contains("longitude: required"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","weight":0})"),
               Contains("weight: expected an integer from 1 to 1000"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","role":"king"})"), Contains("role"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","colour":"red"})"),
               Contains("colour: unknown field"));
    CHECK_THAT(err(R"({"instance":"abc","http":"http://a:1","id":"edge-2"})"),
               Contains("differs from the id in the path"));
    CHECK_THAT(err(R"({"instance":"a b","http":"http://a:1"})"), Contains("instance:"));
    // A registration survives its own JSON (what the listing and the file hold).
    auto parsed = parse_registration(
        R"({"instance":"abc","http":"http://127.0.0.1:8080","admin":"http://127.0.0.1:8081",
            "ipv4":["127.0.0.1"],"ipv6":["::1"],"region":"eu","latitude":1.5,"longitude":-2,
            "role":"parent","weight":7,"version":"1.2"})",
        "edge-1");
    REQUIRE(std::holds_alternative<Registration>(parsed));
    const Registration& r = std::get<Registration>(parsed);
    auto back = registration::registration_from_json(registration::to_json(r));
    REQUIRE(std::holds_alternative<Registration>(back));
    CHECK(std::get<Registration>(back) == r);
}

TEST_CASE("registry: two instances share registrations through the replica", "[registry]") {
    // Two registries (two purge_api instances) wired to each other as the etcd store does.
    test::ManualClock clock;
    FleetRegistry a(clock, {10s, {}}), b(clock, {10s, {}});
    std::vector<std::string> a_out, b_out;
    a.set_replica({[&](const RegisteredEdge& e) { a_out.push_back(a.encode(e)); },
                   [&](const std::string& id) { a_out.push_back("-" + id); }});
    b.set_replica({[&](const RegisteredEdge& e) { b_out.push_back(b.encode(e)); },
                   [&](const std::string& id) { b_out.push_back("-" + id); }});
    auto deliver = [](std::vector<std::string>& out, FleetRegistry& to) {
        for (const std::string& v : out) {
            if (v.starts_with("-")) {
                to.merge_removed(v.substr(1));
            } else {
                auto e = FleetRegistry::decode(v);
                REQUIRE(e);
                to.merge(*e);
            }
        }
        out.clear();
    };

    // Registered on A: B lists it, and its version moves (geodns' long poll wakes).
    CHECK(a.put(reg("edge-1", "aaaa")).outcome == FleetRegistry::PutOutcome::registered);
    REQUIRE(a_out.size() == 1);
    const auto v0 = b.version();
    deliver(a_out, b);
    REQUIRE(b.list().edges.size() == 1);
    CHECK(b.list().edges[0].reg.http == "http://127.0.0.1:8080");
    CHECK(b.version() == v0 + 1);
    // The edge renews on B (it failed over): B knows it, and A takes the renewal; a plain
    // renewal does not change the listing's version.
    clock.advance(8s);
    CHECK(b.heartbeat("edge-1", "aaaa").outcome == FleetRegistry::RenewOutcome::renewed);
    const auto va = a.version();
    deliver(b_out, a);
    CHECK(a.version() == va);
    clock.advance(8s);  // 16 s after the registration: alive on A thanks to B's renewal
    REQUIRE(a.list().edges.size() == 1);
    // (A copy of the old process' registration, for later.)
    CHECK(a.heartbeat("edge-1", "aaaa").outcome == FleetRegistry::RenewOutcome::renewed);
    const std::string newer = a_out.back();
    a_out.clear();
    // A restarted edge process takes the id over on A: B follows.
    clock.advance(1s);
    CHECK(a.put(reg("edge-1", "bbbb")).outcome == FleetRegistry::PutOutcome::taken_over);
    deliver(a_out, b);
    REQUIRE(b.list().edges.size() == 1);
    CHECK(b.list().edges[0].reg.instance == "bbbb");
    // A stale copy of the old process' registration does not take it back.
    b.merge(*FleetRegistry::decode(newer));
    CHECK(b.list().edges[0].reg.instance == "bbbb");
    // Deregistered on B: gone on A.
    CHECK(b.remove("edge-1", "bbbb").outcome == FleetRegistry::RenewOutcome::renewed);
    deliver(b_out, a);
    CHECK(a.list().edges.empty());
    // A lapsed entry is not brought back by a late copy.
    CHECK(a.put(reg("edge-2", "cccc")).outcome == FleetRegistry::PutOutcome::registered);
    const std::string old = a_out.back();
    clock.advance(11s);
    b.merge(*FleetRegistry::decode(old));
    CHECK(b.list().edges.empty());
    CHECK_FALSE(FleetRegistry::decode("{not json"));
}
