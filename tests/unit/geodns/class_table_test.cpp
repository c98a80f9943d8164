// The steering's precomputed class table (issue 19): the widest-prefix maths, merging of
// sibling, adjacent and non-adjacent networks, IPv6, IPv4-mapped and unknown clients, nets over
// the database; and GeoSteering's table against a per-address oracle on the test database.
#include "geodns/policy/class_table.hpp"
#include "geo_test_data.hpp"
#include "geodns/policy/geo_steering.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <random>

using namespace cdn::geodns;
using namespace cdn::geodns::test;
namespace ip = boost::asio::ip;

namespace {

std::uint32_t v4(const char* a) {
    return ip::make_address_v4(a).to_uint();
}
U128 v6(const char* a) {
    U128 k = 0;
    for (const unsigned char c : ip::make_address_v6(a).to_bytes())
        k = k << 8 | c;
    return k;
}

// The obvious loop: the smallest p whose block around `a` fits in [first, last].
template <class Key>
unsigned brute_widest(Key a, Key first, Key last, unsigned bits) {
    for (unsigned p = 0; p <= bits; ++p) {
        const Key host = p == bits ? Key{0}
                         : p == 0  ? static_cast<Key>(~Key{0})
                                   : static_cast<Key>((Key{1} << (bits - p)) - 1);
        const Key lo = static_cast<Key>(a & ~host), hi = static_cast<Key>(a | host);
        if (lo >= first && hi <= last) return p;
    }
    return bits + 1;
}

// A database of ranges with locations 1..3 and a classify() that maps location -> class
// through `cls_of_loc` (so two locations can share a class), nets region r -> class 10 + r.
struct Synthetic {
    GeoNetworks db;
    std::vector<std::uint32_t> cls_of_loc{0, 1, 1, 2};
    ClassTable::Classify classify = [this](std::optional<std::size_t> region,
                                           std::uint32_t loc) -> std::uint32_t {
        return region ? 10 + static_cast<std::uint32_t>(*region) : cls_of_loc.at(loc);
    };
    Synthetic() {
        db.locations.resize(4);
        // 10.0.0.0/25 loc 1, 10.0.0.128/25 loc 2 (siblings, same class 1); 10.0.1.0/24 loc 3
        // (class 2); 10.0.2.0/24 loc 1 (class 1 again, not adjacent to the first /24);
        // 10.0.3.0/24 loc 2, 10.0.4.0/24 loc 1 (adjacent, same class, not siblings).
        db.v4_start = {0,
                       v4("10.0.0.0"),
                       v4("10.0.0.128"),
                       v4("10.0.1.0"),
                       v4("10.0.2.0"),
                       v4("10.0.3.0"),
                       v4("10.0.4.0"),
                       v4("10.0.5.0")};
        db.v4_loc = {0, 1, 2, 3, 1, 2, 1, 0};
        // 2001:db8::/33 loc 1 and 2001:db8:8000::/33 loc 2: siblings of one class.
        db.v6_start = {0, v6("2001:db8::"), v6("2001:db9::")};
        db.v6_loc = {0, 1, 0};
        db.v6_start.insert(db.v6_start.begin() + 2, v6("2001:db8:8000::"));
        db.v6_loc.insert(db.v6_loc.begin() + 2, 2);
    }
};

}  // namespace

TEST_CASE("widest_prefix: the widest aligned block inside a range, as a loop finds it") {
    std::mt19937 gen(19);
    for (int i = 0; i < 20000; ++i) {
        std::uint32_t a = static_cast<std::uint32_t>(gen()), b = static_cast<std::uint32_t>(gen());
        const int shape = i % 4;  // short ranges, aligned edges, one address, the whole space
        if (shape == 0) b = a + (gen() % 4096);
        if (shape == 1) {
            a &= 0xffff0000u;
            b = a | 0x0000ffffu;
        }
        if (shape == 2) b = a;
        if (a > b) std::swap(a, b);
        const std::uint32_t x = a + static_cast<std::uint32_t>(gen() % (std::uint64_t{b} - a + 1));
        INFO(a << " " << x << " " << b);
        REQUIRE(widest_prefix(x, a, b) == brute_widest<std::uint32_t>(x, a, b, 32));
    }
    CHECK(widest_prefix(v4("1.2.3.4"), 0, 0xffffffffu) == 0);
    CHECK(widest_prefix(v4("1.2.3.4"), v4("1.2.3.4"), v4("1.2.3.4")) == 32);
    const U128 all = ~U128{0};
    CHECK(widest_prefix(v6("2001:db8::1"), U128{0}, all) == 0);
    CHECK(widest_prefix(v6("2001:db8::1"), v6("2001:db8::"),
                        v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")) == 32);
    CHECK(widest_prefix(v6("2001:db8::1"), v6("2001:db8::1"), v6("2001:db8::1")) == 128);
    for (int i = 0; i < 2000; ++i) {
        const U128 lo = (U128{gen()} << 96) | (U128{gen()} << 32);
        const U128 hi = lo + (U128{gen() % 5000} << 20) + gen() % 7;
        const U128 x = lo + (hi - lo) / 3;
        REQUIRE(widest_prefix(x, lo, hi) == brute_widest<U128>(x, lo, hi, 128));
    }
}

TEST_CASE("ClassTable: siblings merge, adjacent non-siblings and non-adjacent networks do not") {
    Synthetic s;
    const ClassTable t(&s.db, Nets{}, s.classify);
    // The two /25 siblings share class 1: one /24.
    auto h = t.lookup_v4(v4("10.0.0.5"));
    CHECK(h.cls == 1);
    CHECK(int{h.scope} == 24);
    CHECK(int{t.lookup_v4(v4("10.0.0.200")).scope} == 24);
    CHECK(t.lookup_v4(v4("10.0.0.200")).source == ClassTable::Source::db);
    // Class 2 between them: 10.0.2/24 is class 1 too, but not adjacent, so never merged with
    // 10.0.0/24 into 10.0.0.0/22.
    h = t.lookup_v4(v4("10.0.1.7"));
    CHECK(h.cls == 2);
    CHECK(int{h.scope} == 24);
    CHECK(int{t.lookup_v4(v4("10.0.0.1")).scope} == 24);
    // 10.0.2/24, 10.0.3/24 and 10.0.4/24 are class 1 in a row (locations 1, 2, 1): the
    // siblings 10.0.2.0/23 merge, 10.0.4.0/24 is adjacent but not their sibling.
    CHECK(int{t.lookup_v4(v4("10.0.3.9")).scope} == 23);
    CHECK(int{t.lookup_v4(v4("10.0.2.9")).scope} == 23);
    CHECK(int{t.lookup_v4(v4("10.0.4.9")).scope} == 24);
    // Unknown clients (location 0, class 0): the widest block of unknowns around them.
    h = t.lookup_v4(v4("192.0.2.1"));
    CHECK(h.cls == 0);
    CHECK(h.source == ClassTable::Source::fallback);
    CHECK(int{h.scope} == 1);  // 128.0.0.0/1 holds no network
    CHECK(int{t.lookup_v4(v4("10.0.5.1")).scope} == 24);
    CHECK(int{t.lookup_v4(v4("10.0.8.1")).scope} == 21);
    // IPv6 siblings merge into the /32.
    CHECK(int{t.lookup_v6(v6("2001:db8:1::1")).scope} == 32);
    CHECK(int{t.lookup_v6(v6("2001:db8:9000::1")).scope} == 32);
    CHECK(t.lookup_v6(v6("2001:db8:9000::1")).cls == 1);
    CHECK(t.lookup_v6(v6("2001:db9::1")).cls == 0);
    CHECK(int{t.lookup_v6(v6("2001:db9::1")).scope} == 32);
    // Every answer agrees with a brute force over the table's own ranges: the block fits.
    for (const char* a : {"10.0.0.0", "10.0.0.127", "10.0.0.128", "10.0.1.255", "9.255.255.255",
                          "10.0.5.0", "255.255.255.255", "0.0.0.0"}) {
        INFO(a);
        const auto hit = t.lookup_v4(v4(a));
        const unsigned p = hit.scope;
        const std::uint32_t host = p == 32 ? 0 : (p == 0 ? ~0u : (1u << (32 - p)) - 1);
        const auto lo = t.lookup_v4(v4(a) & ~host), hi = t.lookup_v4(v4(a) | host);
        CHECK(lo.cls == hit.cls);
        CHECK(hi.cls == hit.cls);
    }
}

TEST_CASE("ClassTable: nets cut into database ranges and keep their own source") {
    Synthetic s;
    Nets nets;
    nets.add("10.0.0.64/26", 0);  // inside the merged /24 of class 1
    nets.add("10.0.4.0/24", 5);   // a whole database network: class 15 replaces class 1
    nets.add("2001:db8:8000::/33", 7);
    const ClassTable t(&s.db, nets, s.classify);
    auto h = t.lookup_v4(v4("10.0.0.70"));
    CHECK(h.cls == 10);
    CHECK(h.source == ClassTable::Source::nets);
    CHECK(int{h.scope} == 26);
    // The /24 is no longer one class: 10.0.0.0/26 and 10.0.0.128/25 stand apart.
    CHECK(int{t.lookup_v4(v4("10.0.0.5")).scope} == 26);
    CHECK(int{t.lookup_v4(v4("10.0.0.200")).scope} == 25);
    CHECK(t.lookup_v4(v4("10.0.4.1")).cls == 15);
    CHECK(int{t.lookup_v4(v4("10.0.2.1")).scope} == 23);
    CHECK(t.lookup_v6(v6("2001:db8:9000::1")).cls == 17);
    CHECK(int{t.lookup_v6(v6("2001:db8:1::1")).scope} == 33);
    // A net with the same class as the database around it merges with it, and the merged
    // range reports each part's own source.
    s.cls_of_loc[3] = 10;  // 10.0.1.0/24 now gets the same class as nets region 0
    Nets same;
    same.add("10.0.0.0/24", 0);
    const ClassTable m(&s.db, same, s.classify);
    CHECK(int{m.lookup_v4(v4("10.0.0.1")).scope} == 23);
    CHECK(m.lookup_v4(v4("10.0.0.1")).source == ClassTable::Source::nets);
    CHECK(m.lookup_v4(v4("10.0.1.1")).source == ClassTable::Source::db);
}

TEST_CASE("ClassTable: no database, no nets: one class, scope 0") {
    const ClassTable t(nullptr, Nets{},
                       [](std::optional<std::size_t>, std::uint32_t) { return std::uint32_t{4}; });
    CHECK(t.lookup_v4(v4("1.2.3.4")).cls == 4);
    CHECK(int{t.lookup_v4(v4("1.2.3.4")).scope} == 0);
    CHECK(int{t.lookup_v6(v6("2001:db8::1")).scope} == 0);
    CHECK(t.ranges_v4() == 1);
}
