#include "geodns/geo/nets.hpp"

#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using cdn::geodns::Nets;
using cdn::geodns::NetsMatch;
namespace ip = boost::asio::ip;

namespace {

NetsMatch find(const Nets& nets, const char* addr) {
    return nets.lookup(ip::make_address(addr));
}

std::string add_error(const std::string& cidr) {
    Nets nets;
    nets.add("10.0.0.0/8", 0);
    try {
        nets.add(cidr, 1);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("Nets: parse errors name the bad text") {
    for (const char* bad :
         {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/8x", "10.0.0.0/-1", "abc/8", "10.0.0/8",
          "2001:db8::/129", "10.1.0.0/8", "2001:db8::1/32", "10.0.0.0/8", "10.0.0.0 /8"}) {
        INFO(bad);
        const auto msg = add_error(bad);
        CHECK_THAT(msg, Catch::StartsWith("bad CIDR \"" + std::string(bad) + "\""));
    }
    CHECK_THAT(add_error("10.1.0.0/8"), Catch::Contains("host bits"));
    CHECK_THAT(add_error("10.0.0.0/8"), Catch::Contains("twice"));
    CHECK_THAT(add_error("10.0.0.0/33"), Catch::Contains("0 to 32"));
    CHECK(add_error("10.0.0.0/16").empty());
    CHECK(add_error("::ffff:10.0.0.0/104").find("twice") != std::string::npos);  // = 10/8
}

TEST_CASE("Nets: longest prefix wins, IPv4 and IPv6") {
    Nets nets;
    CHECK(nets.empty());
    nets.add("127.21.0.0/16", 0);
    nets.add("127.21.5.0/24", 1);
    nets.add("127.21.5.128/25", 2);
    nets.add("0.0.0.0/0", 3);
    nets.add("2001:db8::/32", 4);
    nets.add("2001:db8:1::/48", 5);
    nets.add("192.0.2.7", 6);  // a bare address is a /32
    CHECK(nets.size() == 7);

    auto m = find(nets, "127.21.9.9");
    CHECK(m.matched);
    CHECK(m.region == 0);
    CHECK(m.prefix == 16);
    m = find(nets, "127.21.5.1");
    CHECK(m.region == 1);
    CHECK(m.prefix == 24);
    CHECK(find(nets, "127.21.5.200").region == 2);
    CHECK(find(nets, "127.21.5.200").prefix == 25);
    m = find(nets, "8.8.8.8");
    CHECK(m.region == 3);
    CHECK(m.prefix == 0);
    CHECK(find(nets, "192.0.2.7").region == 6);
    CHECK(find(nets, "192.0.2.7").prefix == 32);
    CHECK(find(nets, "192.0.2.8").region == 3);
    // IPv4-mapped IPv6 is matched as IPv4.
    m = find(nets, "::ffff:127.21.5.1");
    CHECK(m.region == 1);
    CHECK(m.prefix == 24);
    m = find(nets, "2001:db8:1:2::3");
    CHECK(m.region == 5);
    CHECK(m.prefix == 48);
    CHECK(find(nets, "2001:db8:2::1").region == 4);
    CHECK_FALSE(find(nets, "2001:db9::1").matched);
    CHECK_FALSE(find(nets, "::1").matched);  // IPv6: 0.0.0.0/0 is IPv4 only
}

TEST_CASE("Nets: scope is the block that shares the result") {
    Nets nets;
    nets.add("127.2.0.0/16", 0);
    nets.add("127.2.1.0/24", 1);
    // Outside the /24 but inside the /16: the /16 answer only holds for the /24 next to it.
    auto m = find(nets, "127.2.0.9");
    CHECK(m.region == 0);
    CHECK(m.prefix == 16);
    CHECK(m.scope == 24);
    m = find(nets, "127.2.200.1");
    CHECK(m.scope == 17);
    m = find(nets, "127.2.1.1");
    CHECK(m.region == 1);
    CHECK(m.scope == 24);
    // A miss: the block around the address holding no configured block.
    m = find(nets, "127.3.0.1");
    CHECK_FALSE(m.matched);
    CHECK(m.scope == 16);
    m = find(nets, "10.0.0.1");  // 00001010 vs 01111111: one bit in common
    CHECK_FALSE(m.matched);
    CHECK(m.scope == 2);
    CHECK(find(nets, "2001:db8::1").scope == 0);  // no IPv6 blocks at all
    CHECK(Nets{}.lookup(ip::make_address("10.0.0.1")).scope == 0);
}

TEST_CASE("Nets: thousands of blocks stay fast") {
    Nets nets;
    for (unsigned i = 0; i < 4096; ++i) {
        nets.add("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24", i % 3);
        nets.add("2001:db8:" + std::to_string(i) + "::/48", i % 3);
    }
    const auto start = std::chrono::steady_clock::now();
    std::size_t hits = 0;
    for (unsigned i = 0; i < 200000; ++i) {
        const auto v4 = ip::make_address_v4(0x0a000000u + (i * 2654435761u) % 0x00100000u);
        hits += nets.lookup(v4).matched;
    }
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(hits == 200000);
    // Generous even under sanitizers: a linear scan would take seconds.
    CHECK(took < std::chrono::seconds(2));
    auto m = find(nets, "2001:db8:4095::1");
    CHECK(m.matched);
    CHECK(m.prefix == 48);
    CHECK(m.region == 4095 % 3);
}
