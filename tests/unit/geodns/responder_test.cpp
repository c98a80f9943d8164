#include "geodns/server/responder.hpp"

#include "geodns/codec/wire.hpp"
#include "tests/unit/geodns/dns_test_packets.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace cdn::geodns;
namespace codec = cdn::geodns::codec;
namespace type = cdn::geodns::codec::type;
namespace rcode = cdn::geodns::codec::rcode;
namespace flag = cdn::geodns::codec::flag;
using boost::asio::ip::make_address;
using boost::asio::ip::make_address_v4;
using boost::asio::ip::make_address_v6;
using cdn::geodns::test::EcsSpec;
using cdn::geodns::test::Message;
using cdn::geodns::test::QueryBuilder;

namespace {

// Answers every steered name with fixed addresses; name index 1 has only IPv6 edges.
class FakeSteering : public Steering {
  public:
    SteeringAnswer steer(const Steered& name, const ClientAddress& client) const override {
        ++calls;
        last = client;
        SteeringAnswer a;
        if (name.index != 1)
            a.v4 = {make_address_v4("198.51.100.1"), make_address_v4("198.51.100.2")};
        a.v6 = {make_address_v6("2001:db8::1")};
        a.scope_prefix = scope;
        a.fail_open = fail_open;
        return a;
    }
    std::uint8_t scope = 24;
    bool fail_open = false;
    mutable int calls = 0;
    mutable std::optional<ClientAddress> last;
};

Node a_node(std::initializer_list<const char*> v4, std::initializer_list<const char*> v6 = {}) {
    Node n;
    for (const char* s : v4)
        n.a.push_back(make_address_v4(s));
    for (const char* s : v6)
        n.aaaa.push_back(make_address_v6(s));
    return n;
}

Node cname_node(std::string target) {
    Node n;
    n.cname = std::move(target);
    n.cname_ttl = 120;
    return n;
}

Node steered_node(std::size_t index) {
    Node n;
    n.steered = Steered{};
    n.steered->ttl = 20;
    n.steered->index = index;
    return n;
}

ZoneSet test_zones() {
    ZoneSet zs;
    Zone z;
    z.origin = "cdn.example";
    z.soa.mname = "ns1.cdn.example";
    z.soa.rname = "hostmaster.cdn.example";
    z.soa.serial = 2024;
    z.soa.minimum = 30;
    z.soa.ttl = 3600;
    Node apex = a_node({"192.0.2.1"});
    apex.ns = {"ns1.cdn.example", "ns2.elsewhere.net"};
    z.nodes["cdn.example"] = apex;
    z.nodes["ns1.cdn.example"] = a_node({"192.0.2.53"}, {"2001:db8::53"});
    z.nodes["www.cdn.example"] = steered_node(0);
    z.nodes["v6only.cdn.example"] = steered_node(1);
    Node st = a_node({"192.0.2.10", "192.0.2.11"}, {"2001:db8::10"});
    st.txt = {"hello"};
    z.nodes["static.cdn.example"] = st;
    z.nodes["alias.cdn.example"] = cname_node("www.cdn.example");
    z.nodes["alias2.cdn.example"] = cname_node("alias.cdn.example");
    z.nodes["ext.cdn.example"] = cname_node("target.elsewhere.net");
    z.nodes["loop1.cdn.example"] = cname_node("loop2.cdn.example");
    z.nodes["loop2.cdn.example"] = cname_node("loop1.cdn.example");
    z.nodes["dangling.cdn.example"] = cname_node("nothere.cdn.example");
    z.nodes["cross.cdn.example"] = cname_node("host.other.test");
    z.nodes["a.b.cdn.example"] = a_node({"192.0.2.20"});
    Node many;
    for (int i = 0; i < 100; ++i)
        many.a.push_back(
            make_address_v4("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)));
    z.nodes["many.cdn.example"] = many;
    zs.zones.push_back(z);

    Zone sub;
    sub.origin = "sub.cdn.example";
    sub.soa.mname = "ns.sub.cdn.example";
    sub.soa.rname = "admin.sub.cdn.example";
    sub.soa.minimum = 60;
    sub.soa.ttl = 40;  // smaller than minimum: the negative TTL is 40
    sub.nodes["sub.cdn.example"] = Node{};
    zs.zones.push_back(sub);

    Zone other;
    other.origin = "other.test";
    other.soa.mname = "ns.other.test";
    other.soa.rname = "h.other.test";
    other.nodes["other.test"] = Node{};
    other.nodes["host.other.test"] = a_node({"203.0.113.9"});
    zs.zones.push_back(other);
    return zs;
}

struct Exchange {
    ResponseInfo info;
    std::optional<Message> msg;
    std::vector<std::uint8_t> bytes;
};

const ZoneSet& zones() {
    static const ZoneSet zs = test_zones();
    return zs;
}

Exchange ask(const std::vector<std::uint8_t>& query, const FakeSteering& steering,
             Transport transport = Transport::udp, const char* source = "203.0.113.7",
             ResponderOptions options = {}) {
    Exchange x;
    x.bytes.resize(65535);
    x.info = respond(zones(), steering, query, make_address(source), transport, options, x.bytes);
    x.bytes.resize(x.info.size);
    if (x.info.size != 0) x.msg = cdn::geodns::test::decode(x.bytes);
    return x;
}

Exchange ask(const QueryBuilder& q, const FakeSteering& steering, Transport t = Transport::udp,
             const char* source = "203.0.113.7") {
    return ask(q.build(), steering, t, source);
}

QueryBuilder q(std::string name, std::uint16_t qtype = type::a) {
    QueryBuilder b;
    b.qname = std::move(name);
    b.qtype = qtype;
    return b;
}

std::vector<std::string> datas(const std::vector<cdn::geodns::test::Rr>& rrs) {
    std::vector<std::string> out;
    for (const auto& r : rrs)
        out.push_back(r.data);
    return out;
}

}  // namespace

TEST_CASE("responder: rcode paths and sections", "[geodns][responder]") {
    using V = std::vector<std::string>;
    const std::string soa = "ns1.cdn.example hostmaster.cdn.example 2024 3600 600 604800 30";
    struct Case {
        const char* what;
        QueryBuilder query;
        std::uint16_t rcode;
        bool aa;
        V answer;
        V authority;
        V additional;                 // without OPT
        std::uint32_t first_ttl = 0;  // of the answer, or of the authority when no answer
    };
    const std::vector<Case> cases = {
        {"steered A",
         q("www.cdn.example"),
         rcode::noerror,
         true,
         V{"198.51.100.1", "198.51.100.2"},
         {},
         {},
         20},
        {"steered AAAA",
         q("www.cdn.example", type::aaaa),
         rcode::noerror,
         true,
         V{"2001:db8::1"},
         {},
         {},
         20},
        {"steered, v6 edges only, A: NODATA",
         q("v6only.cdn.example"),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"steered, TXT: NODATA",
         q("www.cdn.example", type::txt),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"static A",
         q("static.cdn.example"),
         rcode::noerror,
         true,
         V{"192.0.2.10", "192.0.2.11"},
         {},
         {},
         300},
        {"static AAAA",
         q("static.cdn.example", type::aaaa),
         rcode::noerror,
         true,
         V{"2001:db8::10"},
         {},
         {},
         300},
        {"static TXT",
         q("static.cdn.example", type::txt),
         rcode::noerror,
         true,
         V{"hello"},
         {},
         {},
         300},
        {"static MX: NODATA",
         q("static.cdn.example", 15),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"missing: NXDOMAIN", q("nothere.cdn.example"), rcode::nxdomain, true, {}, V{soa}, {}, 30},
        {"below a leaf: NXDOMAIN",
         q("x.static.cdn.example"),
         rcode::nxdomain,
         true,
         {},
         V{soa},
         {},
         30},
        {"empty non-terminal: NODATA",
         q("b.cdn.example"),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"apex SOA", q("cdn.example", type::soa), rcode::noerror, true, V{soa}, {}, {}, 3600},
        {"apex NS with glue",
         q("cdn.example", type::ns),
         rcode::noerror,
         true,
         V{"ns1.cdn.example", "ns2.elsewhere.net"},
         {},
         V{"192.0.2.53", "2001:db8::53"},
         3600},
        {"apex A", q("cdn.example"), rcode::noerror, true, V{"192.0.2.1"}, {}, {}, 300},
        {"NS below the apex: NODATA",
         q("static.cdn.example", type::ns),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"SOA below the apex: NODATA",
         q("static.cdn.example", type::soa),
         rcode::noerror,
         true,
         {},
         V{soa},
         {},
         30},
        {"CNAME chased to a steered name",
         q("alias.cdn.example"),
         rcode::noerror,
         true,
         V{"www.cdn.example", "198.51.100.1", "198.51.100.2"},
         {},
         {},
         120},
        {"two CNAMEs chased",
         q("alias2.cdn.example", type::aaaa),
         rcode::noerror,
         true,
         V{"alias.cdn.example", "www.cdn.example", "2001:db8::1"},
         {},
         {},
         120},
        {"CNAME asked for itself",
         q("alias.cdn.example", type::cname),
         rcode::noerror,
         true,
         V{"www.cdn.example"},
         {},
         {},
         120},
        {"CNAME out of our zones",
         q("ext.cdn.example"),
         rcode::noerror,
         true,
         V{"target.elsewhere.net"},
         {},
         {},
         120},
        {"CNAME into another of our zones",
         q("cross.cdn.example"),
         rcode::noerror,
         true,
         V{"host.other.test", "203.0.113.9"},
         {},
         {},
         120},
        {"CNAME loop stops",
         q("loop1.cdn.example"),
         rcode::noerror,
         true,
         V{"loop2.cdn.example", "loop1.cdn.example"},
         {},
         {},
         120},
        {"CNAME to a missing name: NXDOMAIN",
         q("dangling.cdn.example"),
         rcode::nxdomain,
         true,
         V{"nothere.cdn.example"},
         V{soa},
         {},
         120},
        {"CNAME to a name without the type: NODATA",
         q("alias.cdn.example", type::txt),
         rcode::noerror,
         true,
         V{"www.cdn.example"},
         V{soa},
         {},
         120},
        {"longest zone wins",
         q("x.sub.cdn.example"),
         rcode::nxdomain,
         true,
         {},
         V{"ns.sub.cdn.example admin.sub.cdn.example 1 3600 600 604800 60"},
         {},
         40},
        {"ANY: RFC 8482 HINFO",
         q("static.cdn.example", type::any),
         rcode::noerror,
         true,
         V{"RFC8482|"},
         {},
         {},
         3600},
        {"ANY at a CNAME: the CNAME",
         q("alias.cdn.example", type::any),
         rcode::noerror,
         true,
         V{"www.cdn.example"},
         {},
         {},
         120},
        {"ANY at a missing name",
         q("nothere.cdn.example", type::any),
         rcode::nxdomain,
         true,
         {},
         V{soa},
         {},
         30},
        {"not our zone: REFUSED", q("www.example.org"), rcode::refused, false, {}, {}, {}},
        {"zone name suffix but not a label boundary",
         q("xcdn.example"),
         rcode::refused,
         false,
         {},
         {},
         {}},
        {"AXFR: REFUSED", q("cdn.example", type::axfr), rcode::refused, true, {}, {}, {}},
        {"IXFR: REFUSED", q("cdn.example", type::ixfr), rcode::refused, true, {}, {}, {}},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        FakeSteering steering;
        const Exchange x = ask(c.query, steering);
        REQUIRE(x.msg);
        const Message& m = *x.msg;
        CHECK(m.id == 0x1234);
        CHECK(m.has(flag::qr));
        CHECK(m.rcode() == c.rcode);
        CHECK(x.info.rcode == c.rcode);
        // REFUSED for AXFR keeps AA off too: we are not answering from the zone.
        CHECK(m.has(flag::aa) == (c.aa && c.rcode != rcode::refused));
        CHECK(m.has(flag::rd));
        CHECK_FALSE(m.has(flag::ra));
        CHECK_FALSE(m.has(flag::tc));
        CHECK(m.qname == c.query.qname);
        CHECK(m.qtype == c.query.qtype);
        CHECK(datas(m.answer) == c.answer);
        CHECK(datas(m.authority) == c.authority);
        CHECK(datas(m.additional) == c.additional);
        if (!m.answer.empty()) {
            CHECK(m.answer[0].ttl == c.first_ttl);
        } else if (!m.authority.empty()) {
            CHECK(m.authority[0].ttl == c.first_ttl);
        }
        CHECK(x.info.qtype == c.query.qtype);
        CHECK_FALSE(x.info.edns);
        CHECK_FALSE(x.info.truncated);
    }
}

TEST_CASE("responder: steering inputs, TTLs and ECS", "[geodns][responder]") {
    FakeSteering steering;
    SECTION("no ECS: the source address, full length") {
        const auto x = ask(q("www.cdn.example").edns(), steering);
        REQUIRE(steering.last);
        CHECK(steering.last->address == make_address("203.0.113.7"));
        CHECK(steering.last->source_prefix == 32);
        CHECK_FALSE(steering.last->from_ecs);
        CHECK(x.info.steered);
        CHECK(x.info.edns);
        CHECK_FALSE(x.info.ecs);
        REQUIRE(x.msg->opt());
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0");
        CHECK(x.msg->opt()->klass == 1232);  // we advertise our payload size
    }
    SECTION("IPv4-mapped IPv6 source becomes IPv4; IPv6 source /128") {
        ask(q("www.cdn.example"), steering, Transport::udp, "::ffff:198.51.100.77");
        REQUIRE(steering.last);
        CHECK(steering.last->address == make_address("198.51.100.77"));
        CHECK(steering.last->source_prefix == 32);
        ask(q("www.cdn.example"), steering, Transport::tcp, "2001:db8:1::5");
        CHECK(steering.last->address == make_address("2001:db8:1::5"));
        CHECK(steering.last->source_prefix == 128);
    }
    SECTION("ECS v4 /24: steer by it, echo the answer's scope") {
        steering.scope = 16;
        const auto x = ask(q("www.cdn.example").with_ecs({1, 24, 0, {192, 0, 2}}), steering);
        REQUIRE(steering.last);
        CHECK(steering.last->address == make_address("192.0.2.0"));
        CHECK(steering.last->source_prefix == 24);
        CHECK(steering.last->from_ecs);
        CHECK(x.info.ecs);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/24/16/192.0.2");
    }
    SECTION("ECS scope longer than the source is echoed as it is (RFC 7871 7.2.1, gdnsd)") {
        steering.scope = 24;
        const auto x = ask(q("www.cdn.example").with_ecs({1, 20, 0, {10, 1, 0xF0}}), steering);
        CHECK(steering.last->address == make_address("10.1.240.0"));
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/20/24/10.1.240");
    }
    SECTION("ECS v6 /56") {
        steering.scope = 48;
        const auto x = ask(q("www.cdn.example", type::aaaa)
                               .with_ecs({2, 56, 0, {0x20, 0x01, 0x0d, 0xb8, 0, 1, 2}}),
                           steering);
        CHECK(steering.last->address == make_address("2001:db8:1:200::"));
        CHECK(steering.last->source_prefix == 56);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=2/56/48/32.1.13.184.0.1.2");
    }
    SECTION("ECS /0: steer by the resolver's address, scope 0") {
        const auto x = ask(q("www.cdn.example").with_ecs({1, 0, 0, {}}), steering);
        CHECK(steering.last->address == make_address("203.0.113.7"));
        CHECK_FALSE(steering.last->from_ecs);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/0/0/");
    }
    SECTION("ECS on a static answer: scope 0, no steering") {
        const auto x = ask(q("static.cdn.example").with_ecs({1, 24, 0, {192, 0, 2}}), steering);
        CHECK(steering.calls == 0);
        CHECK_FALSE(x.info.steered);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/24/0/192.0.2");
    }
    SECTION("ECS through a CNAME to a steered name") {
        const auto x = ask(q("alias.cdn.example").with_ecs({1, 24, 0, {192, 0, 2}}), steering);
        CHECK(x.info.steered);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/24/24/192.0.2");
    }
    SECTION("fail open caps the TTL at 5") {
        steering.fail_open = true;
        const auto x = ask(q("www.cdn.example"), steering);
        REQUIRE(x.msg->answer.size() == 2);
        CHECK(x.msg->answer[0].ttl == 5);
    }
    SECTION("DO bit echoed") {
        auto b = q("www.cdn.example").edns();
        b.dnssec_ok = true;
        const auto x = ask(b, steering);
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=1");
    }
    SECTION("steering is not asked for other types") {
        ask(q("www.cdn.example", type::txt), steering);
        ask(q("www.cdn.example", type::any), steering);
        CHECK(steering.calls == 0);
    }
}

TEST_CASE("responder: the question echoes its case, answers point at it", "[geodns][responder]") {
    FakeSteering steering;
    const auto x = ask(q("WwW.cDn.ExAmPlE"), steering);
    REQUIRE(x.msg);
    CHECK(x.msg->qname == "WwW.cDn.ExAmPlE");
    REQUIRE(x.msg->answer.size() == 2);
    CHECK(x.msg->answer[0].name == "WwW.cDn.ExAmPlE");
    CHECK(x.msg->rcode() == rcode::noerror);
    const auto y = ask(q("NoThErE.CDN.example"), steering);
    CHECK(y.msg->qname == "NoThErE.CDN.example");
    CHECK(y.msg->rcode() == rcode::nxdomain);
}

TEST_CASE("responder: errors", "[geodns][responder]") {
    FakeSteering steering;
    SECTION("QR=1 and short packets: nothing sent") {
        auto b = q("www.cdn.example");
        b.flags = flag::qr;
        CHECK(ask(b, steering).info.size == 0);
        CHECK(ask(std::vector<std::uint8_t>(11, 0), steering).info.size == 0);
        CHECK(ask(std::vector<std::uint8_t>{}, steering).info.size == 0);
    }
    SECTION("NOTIFY: NOTIMP with the question") {
        auto b = q("cdn.example", type::soa);
        b.flags = 4 << 11;
        const auto x = ask(b, steering);
        REQUIRE(x.msg);
        CHECK(x.msg->rcode() == rcode::notimp);
        CHECK(((x.msg->flags >> 11) & 0xF) == 4);
        CHECK(x.msg->qname == "cdn.example");
        CHECK_FALSE(x.msg->has(flag::aa));
    }
    SECTION("class CH: REFUSED") {
        auto b = q("version.bind", 16);
        b.qclass = 3;
        const auto x = ask(b, steering);
        CHECK(x.msg->rcode() == rcode::refused);
        CHECK(x.msg->qclass == 3);
        CHECK_FALSE(x.msg->has(flag::aa));
    }
    SECTION("FORMERR without a question") {
        std::vector<std::uint8_t> p = {0xAB, 0xCD, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
        const auto x = ask(p, steering);
        REQUIRE(x.msg);
        CHECK(x.msg->id == 0xABCD);
        CHECK(x.msg->rcode() == rcode::formerr);
        CHECK(x.msg->qdcount == 0);
        CHECK(x.msg->has(flag::rd));
    }
    SECTION("FORMERR for bad ECS keeps the question and a bare OPT") {
        const auto x = ask(q("www.cdn.example").with_ecs({1, 24, 8, {192, 0, 2}}), steering);
        REQUIRE(x.msg);
        CHECK(x.msg->rcode() == rcode::formerr);
        CHECK(x.msg->qname == "www.cdn.example");
        REQUIRE(x.msg->opt());
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0");
        CHECK(steering.calls == 0);
    }
    SECTION("EDNS version 1: BADVERS") {
        auto b = q("www.cdn.example").edns();
        b.edns_version = 1;
        const auto x = ask(b, steering);
        REQUIRE(x.msg);
        CHECK(x.msg->rcode() == 0);
        CHECK(x.info.rcode == rcode::badvers);
        REQUIRE(x.msg->opt());
        CHECK(x.msg->opt()->data == "ext=1 ver=0 do=0");
        CHECK(x.msg->answer.empty());
    }
    SECTION("CD is copied") {
        auto b = q("www.cdn.example");
        b.flags = flag::cd;
        const auto x = ask(b, steering);
        CHECK(x.msg->has(flag::cd));
        CHECK_FALSE(x.msg->has(flag::rd));
    }
}

TEST_CASE("responder: size limits and truncation", "[geodns][responder]") {
    FakeSteering steering;
    SECTION("UDP without EDNS: 512, TC, question kept") {
        const auto x = ask(q("MANY.cdn.example"), steering);
        REQUIRE(x.msg);
        CHECK(x.info.size <= 512);
        CHECK(x.msg->has(flag::tc));
        CHECK(x.info.truncated);
        CHECK(x.msg->qname == "MANY.cdn.example");
        CHECK(x.msg->answer.empty());
        CHECK(x.msg->authority.empty());
        CHECK(x.msg->has(flag::aa));
    }
    SECTION("UDP with EDNS 4096, ours 1232: TC with OPT kept") {
        const auto x = ask(q("many.cdn.example").with_ecs({1, 24, 0, {192, 0, 2}}), steering);
        REQUIRE(x.msg);
        CHECK(x.msg->has(flag::tc));
        CHECK(x.msg->answer.empty());
        REQUIRE(x.msg->opt());
        CHECK(x.msg->opt()->data == "ext=0 ver=0 do=0 ecs=1/24/0/192.0.2");
        CHECK(x.info.size <= 1232);
    }
    SECTION("requestor payload below 512 still gets 512") {
        // 100 A records do not fit in 512 bytes.
        auto b = q("many.cdn.example").edns(100);
        std::vector<std::uint8_t> buf(65535);
        const auto info = respond(zones(), steering, b.build(), make_address("192.0.2.1"),
                                  Transport::udp, {}, buf);
        CHECK(info.truncated);
        CHECK(info.size <= 512);
        CHECK(info.size > 12);
    }
    SECTION("UDP with a large enough payload: everything") {
        auto b = q("many.cdn.example").edns(4096);
        std::vector<std::uint8_t> buf(65535);
        const auto info = respond(zones(), steering, b.build(), make_address("192.0.2.1"),
                                  Transport::udp, ResponderOptions{4096}, buf);
        CHECK_FALSE(info.truncated);
        const auto m = cdn::geodns::test::decode(std::span(buf.data(), info.size));
        REQUIRE(m);
        CHECK(m->answer.size() == 100);
        CHECK(m->opt()->klass == 4096);
    }
    SECTION("TCP: 65535") {
        const auto x = ask(q("many.cdn.example"), steering, Transport::tcp);
        REQUIRE(x.msg);
        CHECK_FALSE(x.msg->has(flag::tc));
        CHECK(x.msg->answer.size() == 100);
    }
    SECTION("the caller's buffer is a limit too") {
        std::vector<std::uint8_t> buf(100);
        const auto info = respond(zones(), steering, q("many.cdn.example").build(),
                                  make_address("192.0.2.1"), Transport::tcp, {}, buf);
        CHECK(info.truncated);
        CHECK(info.size <= 100);
        std::vector<std::uint8_t> tiny(5);
        CHECK(respond(zones(), steering, q("www.cdn.example").build(), make_address("192.0.2.1"),
                      Transport::udp, {}, tiny)
                  .size == 0);
    }
}

TEST_CASE("responder: glue that does not fit is dropped without TC", "[geodns][responder]") {
    // A zone whose apex has many NS inside the zone, each with an address.
    ZoneSet zs;
    Zone z;
    z.origin = "big.example";
    z.soa.mname = "ns0.big.example";
    z.soa.rname = "h.big.example";
    Node apex;
    for (int i = 0; i < 20; ++i) {
        const std::string ns = "ns" + std::to_string(i) + ".big.example";
        apex.ns.push_back(ns);
        z.nodes[ns] = a_node({"192.0.2.1"}, {"2001:db8::1"});
    }
    z.nodes["big.example"] = apex;
    zs.zones.push_back(z);
    FakeSteering steering;
    std::vector<std::uint8_t> buf(65535);
    const auto info = respond(zs, steering, q("big.example", type::ns).build(),
                              make_address("192.0.2.1"), Transport::udp, {}, buf);
    REQUIRE(info.size > 0);
    CHECK(info.size <= 512);
    CHECK_FALSE(info.truncated);
    const auto m = cdn::geodns::test::decode(std::span(buf.data(), info.size));
    REQUIRE(m);
    CHECK(m->answer.size() == 20);
    CHECK(m->additional.size() < 40);
    CHECK_FALSE(m->has(flag::tc));
}

TEST_CASE("responder: mutated queries never crash or overflow", "[geodns][responder]") {
    FakeSteering steering;
    std::vector<std::vector<std::uint8_t>> seeds = {
        q("www.cdn.example").build(),
        q("alias2.cdn.example", type::aaaa).with_ecs({1, 24, 0, {192, 0, 2}}).build(),
        q("cdn.example", type::ns).edns(1232).build(),
        q("many.cdn.example").with_ecs({2, 56, 0, {0x20, 1, 0xd, 0xb8, 0, 1, 2}}).build(),
        q("nothere.cdn.example", type::any).build(),
        q("loop1.cdn.example").build(),
    };
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&state]() {  // splitmix64: deterministic
        state += 0x9E3779B97F4A7C15ull;
        std::uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    std::vector<std::uint8_t> out(65535);
    int answered = 0;
    for (int i = 0; i < 5000; ++i) {
        std::vector<std::uint8_t> p = seeds[next() % seeds.size()];
        const int edits = 1 + static_cast<int>(next() % 4);
        for (int e = 0; e < edits; ++e) {
            switch (next() % 4) {
                case 0:
                    if (!p.empty()) p[next() % p.size()] = static_cast<std::uint8_t>(next());
                    break;
                case 1:
                    if (!p.empty()) p.resize(next() % p.size());
                    break;
                case 2:
                    p.insert(p.begin() + static_cast<std::ptrdiff_t>(next() % (p.size() + 1)),
                             static_cast<std::uint8_t>(next()));
                    break;
                default:
                    if (p.size() > 12)
                        p[2 + next() % 10] ^= static_cast<std::uint8_t>(1u << (next() % 8));
                    break;
            }
        }
        const Transport t = (i % 3 == 0) ? Transport::tcp : Transport::udp;
        const auto info = respond(zones(), steering, p, make_address("192.0.2.1"), t, {}, out);
        const std::size_t limit = t == Transport::tcp ? 65535 : 1232;
        REQUIRE(info.size <= limit);
        if (info.size > 0) {
            ++answered;
            REQUIRE(p.size() >= 12);
            REQUIRE(out[0] == p[0]);
            REQUIRE(out[1] == p[1]);
            REQUIRE((out[2] & 0x80) != 0);
            REQUIRE(cdn::geodns::test::decode(std::span(out.data(), info.size)));
        }
    }
    CHECK(answered > 1000);
}

TEST_CASE("responder: queries captured from dig and kdig", "[geodns][responder]") {
    // Made by sending each command to a Python UDP socket on 127.0.0.1 that saved the datagram
    // (tests/fuzz/README.md; the same bytes are the fuzz seeds). dig sets AD and a COOKIE option.
    auto bytes = [](std::string_view hex) {
        std::vector<std::uint8_t> b;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
            b.push_back(
                static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
        return b;
    };
    struct Case {
        const char* command;
        const char* hex;
        std::uint16_t rcode;
        std::size_t answers;
        const char* opt;  // nullptr: no OPT expected
    };
    const std::vector<Case> cases = {
        {"dig www.cdn.example A",
         "e95c01200001000000000001037777770363646e076578616d706c65000001000100002904d000000000000c"
         "000a00082c8f1e2144d863d2",
         rcode::noerror, 2, "ext=0 ver=0 do=0"},
        {"dig +subnet=192.0.2.0/24 alias.cdn.example AAAA",
         "21c80120000100000000000105616c6961730363646e076578616d706c6500001c000100002904d000000000"
         "00170008000700011800c00002000a0008f0db3097363496b1",
         rcode::noerror, 2, "ext=0 ver=0 do=0 ecs=1/24/24/192.0.2"},
        {"kdig +noedns CdN.ExAmPlE NS",
         "76f1012000010000000000000363646e076578616d706c650000020001", rcode::noerror, 2, nullptr},
        {"kdig +subnet=2001:db8:1::/56 +dnssec many.cdn.example ANY",
         "55d701200001000000000001046d616e790363646e076578616d706c650000ff000100002910000000800000"
         "0f0008000b0002380020010db8000100",
         rcode::noerror, 1, "ext=0 ver=0 do=1 ecs=2/56/0/32.1.13.184.0.1.0"},
        {"dig +norec nothere.cdn.example TXT",
         "93c500200001000000000001076e6f74686572650363646e076578616d706c65000010000100002904d00000"
         "0000000c000a0008c5386ded3b994678",
         rcode::nxdomain, 0, "ext=0 ver=0 do=0"},
    };
    for (const Case& c : cases) {
        INFO(c.command);
        FakeSteering steering;
        const auto query = bytes(c.hex);
        const Exchange x = ask(query, steering);
        REQUIRE(x.msg);
        CHECK(x.msg->id == codec::load_u16(query, 0));
        CHECK(x.msg->rcode() == c.rcode);
        CHECK_FALSE(x.msg->has(flag::ad));
        CHECK(x.msg->answer.size() == c.answers);
        if (c.opt == nullptr) {
            CHECK(x.msg->opt() == nullptr);
        } else {
            REQUIRE(x.msg->opt());
            CHECK(x.msg->opt()->data == c.opt);
        }
    }
}

TEST_CASE("responder: the name each answer is about, for rate limiting", "[geodns][responder]") {
    FakeSteering steering;
    ResponderOptions on;
    on.name_hash = true;
    auto hash = [&](const char* name, std::uint16_t qtype) {
        return ask(q(name, qtype).build(), steering, Transport::udp, "203.0.113.7", on)
            .info.name_hash;
    };
    CHECK(ask(q("www.cdn.example"), steering).info.name_hash == 0);  // off unless asked for
    const std::uint64_t www = hash("www.cdn.example", type::a);
    CHECK(www != 0);
    CHECK(hash("WwW.CDN.example", type::a) == www);     // case makes no other answer
    CHECK(hash("www.cdn.example", type::aaaa) == www);  // the type is the limiter's to add
    CHECK(hash("static.cdn.example", type::a) != www);
    CHECK(hash("static.cdn.example", 15) == hash("static.cdn.example", type::a));  // MX: NODATA
    // Every nonexistent name of a zone is one answer: the zone's.
    CHECK(hash("nope1.cdn.example", type::a) == hash("nope2.cdn.example", type::txt));
    CHECK(hash("nope1.cdn.example", type::a) != hash("nope.sub.cdn.example", type::a));
    CHECK(hash("nope1.cdn.example", type::a) != www);
    CHECK(hash("example.org", type::a) == 0);  // REFUSED: no name
}
