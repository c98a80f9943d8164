#include "geodns/geo/geo_database.hpp"

#include "geo_test_data.hpp"

#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

using cdn::geodns::FieldPaths;
using cdn::geodns::GeoDatabase;
using cdn::geodns::GeoNetworks;
using cdn::geodns::GeoPoint;
using cdn::geodns::GeoRecord;
using cdn::geodns::U128;
using cdn::geodns::test::data_path;
using cdn::geodns::test::read_tsv;
namespace ip = boost::asio::ip;

namespace {

const FieldPaths kFlat{"latitude", "longitude", "country_code", ""};

std::string dash(const std::string& s) {
    return s == "-" ? std::string() : s;
}

std::uint8_t net_len(const std::string& network) {
    return static_cast<std::uint8_t>(std::stoi(network.substr(network.find('/') + 1)));
}

// A file under the system temp dir, removed at scope exit.
struct TempFile {
    std::filesystem::path path;
    explicit TempFile(const std::string& content) {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("geodns-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".mmdb");
        std::ofstream(path, std::ios::binary) << content;
    }
    ~TempFile() { std::filesystem::remove(path); }
};

std::string error_of(const std::string& file, FieldPaths paths = {}) {
    try {
        GeoDatabase db(file, std::move(paths));
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("GeoDatabase: every expected.tsv line through the GeoIP2 and flat schemas") {
    const auto rows = read_tsv(data_path("geodns-test.expected.tsv"));
    REQUIRE(rows.size() >= 40);
    const bool flat = GENERATE(false, true);
    const auto db =
        GeoDatabase::open(data_path(flat ? "geodns-test-flat.mmdb" : "geodns-test.mmdb"),
                          flat ? kFlat : FieldPaths{});
    CHECK(db->ip_version() == 6);
    CHECK(db->build_epoch() == 1700000000);
    for (const auto& row : rows) {
        INFO((flat ? "flat " : "geoip2 ") << row["sample_ip"] << " (" << row["note"] << ")");
        const GeoRecord r = db->lookup(ip::make_address(row["sample_ip"]));
        CHECK(r.found == (row["found"] == "1"));
        CHECK(r.prefix == std::stoi(row["prefix"]));
        CHECK(r.country == dash(row["country"]));
        CHECK(r.continent == (flat ? "" : dash(row["continent"])));
        if (row["latitude"] == "-") {
            CHECK_FALSE(r.latitude);
            CHECK_FALSE(r.longitude);
        } else {
            REQUIRE(r.latitude);
            REQUIRE(r.longitude);
            // float in the flat schema: ~7 significant digits
            CHECK(*r.latitude == Approx(std::stod(row["latitude"])).margin(1e-4));
            CHECK(*r.longitude == Approx(std::stod(row["longitude"])).margin(1e-4));
        }
    }
}

TEST_CASE("GeoDatabase: IPv4 prefixes in the IPv6 tree are IPv4 prefixes") {
    const auto db = GeoDatabase::open(data_path("geodns-test.mmdb"));
    // IPv4-mapped IPv6 is looked up (and its prefix reported) as IPv4.
    auto r = db->lookup(ip::make_address("::ffff:127.2.1.9"));
    CHECK(r.found);
    CHECK(r.country == "GB");
    CHECK(r.prefix == 24);
    // The unmapped 127.0/16 is a miss whose block is reported, not a /32 (nor /112).
    r = db->lookup(ip::make_address("127.0.0.1"));
    CHECK_FALSE(r.found);
    CHECK(r.prefix == 16);
    // Through the IPv4 aliases in IPv6 space the prefix stays in IPv6 terms.
    r = db->lookup(ip::make_address("2002:7f01:1::"));  // 6to4 of 127.1.0.1
    CHECK(r.found);
    CHECK(r.country == "US");
    CHECK(r.prefix == 16 + 16);
    // ::1 is ::0.0.0.1, inside the IPv4 subtree at ::/96, and covered by nothing.
    r = db->lookup(ip::make_address("::1"));
    CHECK_FALSE(r.found);
    CHECK(r.prefix >= 96);
}

TEST_CASE("GeoDatabase: MaxMind's own GeoIP2-City-Test.mmdb") {
    const auto db = GeoDatabase::open(data_path("maxmind/GeoIP2-City-Test.mmdb"));
    CHECK(db->database_type() == "GeoIP2-City");
    const auto rows = read_tsv(data_path("maxmind/GeoIP2-City-Test.expected.tsv"));
    REQUIRE(rows.size() > 50);
    for (const auto& row : rows) {
        INFO(row["sample_ip"] << " in " << row["network"]);
        const GeoRecord r = db->lookup(ip::make_address(row["sample_ip"]));
        CHECK(r.found);
        CHECK(r.prefix == net_len(row["network"]));
        CHECK(r.country == dash(row["country"]));
        CHECK(r.continent == dash(row["continent"]));
        if (row["latitude"] == "-") {
            CHECK_FALSE(r.latitude);
        } else {
            REQUIRE(r.latitude);
            CHECK(*r.latitude == Approx(std::stod(row["latitude"])).margin(1e-3));
            CHECK(*r.longitude == Approx(std::stod(row["longitude"])).margin(1e-3));
        }
    }
    // The trap from the README: a /24 ECS probe arrives as 81.2.69.0, which this DB lacks.
    const auto miss = db->lookup(ip::make_address("81.2.69.0"));
    CHECK_FALSE(miss.found);
    CHECK(miss.prefix > 24);
    CHECK(db->lookup(ip::make_address("81.2.69.142")).country == "GB");
}

TEST_CASE("GeoDatabase: open errors name the file and the problem") {
    const std::string missing = "/nonexistent/geodns-nope.mmdb";
    auto msg = error_of(missing);
    CHECK_THAT(msg, Catch::Contains(missing));
    CHECK_THAT(msg, Catch::Contains("cannot open"));

    TempFile garbage(std::string(4096, '\x5a'));
    msg = error_of(garbage.path.string());
    CHECK_THAT(msg, Catch::Contains(garbage.path.string()));
    CHECK_THAT(msg, Catch::Contains("metadata"));

    TempFile empty("");
    CHECK_THAT(error_of(empty.path.string()), Catch::Contains(empty.path.string()));
}

TEST_CASE("GeoDatabase: field paths are checked against the records") {
    const auto nested = data_path("geodns-test.mmdb");
    const auto flat = data_path("geodns-test-flat.mmdb");
    // The GeoIP2 defaults on the flat layout find no coordinates at all.
    auto msg = error_of(flat);
    CHECK_THAT(msg, Catch::Contains(flat));
    CHECK_THAT(msg, Catch::Contains("coordinates"));
    // A path to a map where a number belongs.
    msg = error_of(nested, FieldPaths{"location", "location.longitude", "", ""});
    CHECK_THAT(msg, Catch::Contains("latitude path \"location\" holds a map"));
    // A string where a number belongs (flat: city is a string).
    msg = error_of(flat, FieldPaths{"city", "longitude", "", ""});
    CHECK_THAT(msg, Catch::Contains("holds a utf8_string"));
    // A number where a string belongs.
    msg = error_of(flat, FieldPaths{"latitude", "longitude", "latitude", ""});
    CHECK_THAT(msg, Catch::Contains("country path \"latitude\" holds a float"));
    // Walking into a string.
    msg = error_of(flat, FieldPaths{"latitude", "longitude", "city.names", ""});
    CHECK_THAT(msg, Catch::Contains("does not match"));
    msg = error_of(nested, FieldPaths{"location.latitude", "", "", ""});
    CHECK_THAT(msg, Catch::Contains("both latitude and longitude"));
    msg = error_of(nested, FieldPaths{"location..latitude", "location.longitude", "", ""});
    CHECK_THAT(msg, Catch::Contains("empty component"));
    // No coordinate paths at all: a country-only reader is fine.
    GeoDatabase countries(nested, FieldPaths{"", "", "country.iso_code", "continent.code"});
    const auto r = countries.lookup(ip::make_address("127.3.0.1"));
    CHECK(r.found);
    CHECK(r.country == "KR");
    CHECK_FALSE(r.latitude);
    // Other string fields.
    GeoDatabase with_names(nested, FieldPaths{"location.latitude", "location.longitude",
                                              "country.names.en", "continent.names.en"});
    CHECK(with_names.lookup(ip::make_address("127.8.0.1")).country == "India");
}

TEST_CASE("GeoDatabase: concurrent lookups") {
    const auto db = GeoDatabase::open(data_path("geodns-test.mmdb"));
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                const auto p =
                    db->locate(ip::make_address(i % 2 ? "127.6.3.4" : "2001:db8:2:1::7"));
                if (!p.has_location || (i % 2 ? p.prefix != 16 : p.prefix != 64)) ++bad;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(bad == 0);
}

TEST_CASE("GeoDatabase: the whole tree as ranges agrees with lookups") {
    // networks() is what the steering's class table is built from (issue 19): the ranges must
    // cover each family in order, and every range's location must be what a lookup of its first
    // and last address gives.
    for (const char* file : {"geodns-test.mmdb", "maxmind/GeoIP2-City-Test.mmdb"}) {
        INFO(file);
        const auto db = GeoDatabase::open(data_path(file));
        const GeoNetworks* n = db->networks();
        REQUIRE(n != nullptr);
        REQUIRE(!n->v4_start.empty());
        REQUIRE(!n->v6_start.empty());
        CHECK(n->v4_start.front() == 0);
        CHECK(n->v6_start.front() == 0);
        CHECK(std::is_sorted(n->v4_start.begin(), n->v4_start.end()));
        CHECK(std::adjacent_find(n->v4_start.begin(), n->v4_start.end()) == n->v4_start.end());
        CHECK(n->v4_loc.size() == n->v4_start.size());
        CHECK(n->v6_loc.size() == n->v6_start.size());
        CHECK(n->locations.size() > 1);
        auto check = [&](const ip::address& a, std::uint32_t loc) {
            INFO(a.to_string());
            const GeoPoint p = db->locate(a);
            if (loc == GeoNetworks::kAlias) return;
            CHECK(p.has_location == (loc != GeoNetworks::kNoLocation));
            if (p.has_location && loc != GeoNetworks::kNoLocation) {
                CHECK(p.latitude == n->locations[loc].latitude);
                CHECK(p.longitude == n->locations[loc].longitude);
            }
        };
        for (std::size_t i = 0; i < n->v4_start.size(); ++i) {
            const std::uint32_t last =
                i + 1 < n->v4_start.size() ? n->v4_start[i + 1] - 1 : 0xffffffffu;
            check(ip::address_v4(n->v4_start[i]), n->v4_loc[i]);
            check(ip::address_v4(last), n->v4_loc[i]);
        }
        auto v6 = [](U128 k) {
            ip::address_v6::bytes_type b;
            for (unsigned i = 0; i < 16; ++i)
                b[i] = static_cast<unsigned char>(k >> (8 * (15 - i)));
            return ip::address_v6(b);
        };
        for (std::size_t i = 0; i < n->v6_start.size(); ++i) {
            const U128 last = i + 1 < n->v6_start.size() ? n->v6_start[i + 1] - 1 : ~U128{0};
            if (v6(n->v6_start[i]).is_v4_mapped() || v6(last).is_v4_mapped()) continue;
            check(v6(n->v6_start[i]), n->v6_loc[i]);
            check(v6(last), n->v6_loc[i]);
        }
    }
}
