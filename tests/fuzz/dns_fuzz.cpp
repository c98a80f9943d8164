// libFuzzer target: every input is a DNS query fed to respond() over UDP (with a buffer of exactly
// the UDP limit, so ASan sees any overrun) and over TCP. Checks the responder's invariants:
// size within the limit, the ID echoed, QR set. Built only with clang (tests/fuzz/CMakeLists.txt).
#include "geodns/server/responder.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace cdn::geodns;
using boost::asio::ip::make_address;
using boost::asio::ip::make_address_v4;
using boost::asio::ip::make_address_v6;

// Answers depend on the client so every branch (scopes, fail open, one family only) is reached.
class FuzzSteering : public Steering {
  public:
    SteeringAnswer steer(const Steered& name, const ClientAddress& client) const override {
        SteeringAnswer a;
        if (name.index % 2 == 0)
            a.v4 = {make_address_v4("198.51.100.1"), make_address_v4("198.51.100.2")};
        a.v6 = {make_address_v6("2001:db8::1")};
        a.scope_prefix = static_cast<std::uint8_t>(client.source_prefix / 2 + 3);  // may exceed it
        a.fail_open = client.source_prefix % 3 == 0;
        return a;
    }
};

ZoneSet make_zones() {
    ZoneSet zs;
    Zone z;
    z.origin = "cdn.example";
    z.soa.mname = "ns1.cdn.example";
    z.soa.rname = "hostmaster.cdn.example";
    Node apex;
    apex.ns = {"ns1.cdn.example", "ns2.elsewhere.net"};
    apex.a = {make_address_v4("192.0.2.1")};
    z.nodes["cdn.example"] = apex;
    Node ns1;
    ns1.a = {make_address_v4("192.0.2.53")};
    ns1.aaaa = {make_address_v6("2001:db8::53")};
    z.nodes["ns1.cdn.example"] = ns1;
    Node www;
    www.steered = Steered{};
    z.nodes["www.cdn.example"] = www;
    Node v6;
    v6.steered = Steered{};
    v6.steered->index = 1;
    z.nodes["v6.cdn.example"] = v6;
    Node alias;
    alias.cname = "www.cdn.example";
    z.nodes["alias.cdn.example"] = alias;
    Node loop1;
    loop1.cname = "loop2.cdn.example";
    z.nodes["loop1.cdn.example"] = loop1;
    Node loop2;
    loop2.cname = "loop1.cdn.example";
    z.nodes["loop2.cdn.example"] = loop2;
    Node ext;
    ext.cname = "elsewhere.net";
    z.nodes["ext.cdn.example"] = ext;
    Node bad;  // config validation should prevent this; the writer must cope anyway
    bad.cname = "a..b";
    z.nodes["bad.cdn.example"] = bad;
    Node many;
    for (int i = 0; i < 200; ++i)
        many.a.push_back(make_address_v4("10.0.0." + std::to_string(i)));
    many.txt = {"hello", std::string(600, 'x'), ""};
    z.nodes["many.cdn.example"] = many;
    Node deep;
    deep.a = {make_address_v4("192.0.2.9")};
    z.nodes["a.b.c.cdn.example"] = deep;
    zs.zones.push_back(z);
    Zone sub;
    sub.origin = "sub.cdn.example";
    sub.nodes["sub.cdn.example"] = Node{};
    zs.zones.push_back(sub);
    Zone root;  // a root zone makes every name ours
    root.origin = "";
    root.nodes[""] = Node{};
    zs.zones.push_back(root);
    return zs;
}

void check(const ResponseInfo& info, std::span<const std::uint8_t> query,
           std::span<const std::uint8_t> out, std::size_t limit) {
    if (info.size > limit || info.size > out.size()) __builtin_trap();
    if (info.size == 0) return;
    if (info.size < 12 || query.size() < 12) __builtin_trap();
    if (out[0] != query[0] || out[1] != query[1] || (out[2] & 0x80) == 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ZoneSet zones = make_zones();
    static const FuzzSteering steering;
    const std::span<const std::uint8_t> query(data, size);
    static const ResponderOptions options = [] {
        ResponderOptions o;  // 1232
        o.name_hash = true;  // as the server asks when rate limiting is on
        return o;
    }();
    static const auto v4 = make_address("192.0.2.77");
    static const auto mapped = make_address("::ffff:192.0.2.77");
    std::vector<std::uint8_t> udp(options.max_udp_payload);
    check(respond(zones, steering, query, v4, Transport::udp, options, udp), query, udp,
          options.max_udp_payload);
    std::vector<std::uint8_t> tcp(65535);
    check(respond(zones, steering, query, mapped, Transport::tcp, options, tcp), query, tcp, 65535);
    return 0;
}
