#pragma once
// A MaxMind DB (.mmdb) opened read-only (mmap) behind RAII: client address -> coordinates,
// country, continent and the width of the database network that answered. Opening throws (with
// the file name in the message); lookups never throw, and any number of threads may look up
// concurrently on one GeoDatabase (libmaxminddb only reads the mapping).
#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct MMDB_s;

namespace cdn::geodns {

// Where the fields live in a record, as dotted paths ("location.latitude"; an array element is
// a number: "subdivisions.0.iso_code"). An empty path means the field is not read. The defaults
// fit MaxMind GeoIP2/GeoLite2 City; the flat ip-location-db layout is
// {"latitude", "longitude", "country_code", ""}.
struct FieldPaths {
    std::string latitude = "location.latitude";
    std::string longitude = "location.longitude";
    std::string country = "country.iso_code";
    std::string continent = "continent.code";
};

// What the database says about one address.
struct GeoRecord {
    bool found = false;  // the address is in a network that has a record
    // Both set or both empty: a record with only one of them (or a non-number there) has none.
    std::optional<double> latitude, longitude;
    std::string country;    // "" when absent
    std::string continent;  // "" when absent
    // Prefix length, in the address's own family (IPv4: 0..32, IPv6: 0..128), of the block
    // around the address for which every address gets this same answer: the database network
    // when found, the empty block when not. 0 when not known (lookup error).
    std::uint8_t prefix = 0;
};

// Just the part steering needs, without strings (no allocation).
struct GeoPoint {
    bool found = false;
    bool has_location = false;  // latitude/longitude valid
    double latitude = 0;
    double longitude = 0;
    std::uint8_t prefix = 0;  // as GeoRecord::prefix
    bool error = false;       // the lookup failed (corrupt tree or data); prefix is 0
};

// The whole database as address ranges, built once when the database is opened: what the
// precomputed steering table (policy/class_table.hpp) is made from. Each family's ranges cover
// its whole address space in order; range i runs from start[i] to start[i + 1] - 1 (the last to
// the end of the space) and has location loc[i], an index into `locations`. Location 0 is "no
// coordinates" (not in the database, or a record without them); the others are distinct points.
// In an IPv6 database the IPv6 ranges that lead to the IPv4 subtree (::/96 and its aliases such
// as ::ffff:0:0/96 and 2002::/16) get kAlias instead of being listed twice: look such an address
// up directly (IPv4-mapped addresses are looked up as IPv4 anyway).
__extension__ typedef unsigned __int128 U128;
struct GeoNetworks {
    static constexpr std::uint32_t kNoLocation = 0;
    static constexpr std::uint32_t kAlias = 0xffffffffu;
    struct Point {
        double latitude = 0, longitude = 0;
    };
    std::vector<Point> locations{Point{}};  // [0]: no coordinates (unused)
    std::vector<std::uint32_t> v4_start, v4_loc;
    std::vector<U128> v6_start;
    std::vector<std::uint32_t> v6_loc;
};

class GeoDatabase {
  public:
    // Opens and validates `file` (metadata: ip_version 4 or 6; a sample of records: each
    // configured path that resolves holds the right type: double/float for coordinates, a string
    // for country/continent; and, when coordinate paths are set, at least one sampled record
    // has coordinates). Throws std::runtime_error naming the file and the problem.
    explicit GeoDatabase(const std::string& file, FieldPaths paths = {});
    static std::shared_ptr<const GeoDatabase> open(const std::string& file, FieldPaths paths = {});
    ~GeoDatabase();
    GeoDatabase(const GeoDatabase&) = delete;
    GeoDatabase& operator=(const GeoDatabase&) = delete;

    // IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4 and their prefix is
    // reported as IPv4 (0..32). IPv6 in an IPv4-only database: not found, prefix 0.
    GeoRecord lookup(const boost::asio::ip::address& address) const;
    GeoPoint locate(const boost::asio::ip::address& address) const noexcept;

    const std::string& file() const noexcept { return file_; }
    const FieldPaths& paths() const noexcept { return paths_; }
    std::string database_type() const;
    unsigned ip_version() const noexcept;
    std::uint64_t build_epoch() const noexcept;
    // The ranges, walked at open; null when the walk failed (a corrupt tree: then only lookup()
    // and locate() answer, and the steering falls back on them).
    const GeoNetworks* networks() const noexcept { return networks_.get(); }

  private:
    struct Path {
        std::vector<std::string> parts;
        std::vector<const char*> argv;  // parts' c_str() then nullptr; empty when unused
    };
    struct Raw;  // one lookup's result before reading fields
    Raw raw_lookup(const boost::asio::ip::address& address) const noexcept;
    GeoPoint point(const Raw& raw) const noexcept;
    void validate();
    std::unique_ptr<GeoNetworks> walk() const;

    std::string file_;
    FieldPaths paths_;
    std::unique_ptr<MMDB_s> mmdb_;
    Path lat_, lon_, country_, continent_;
    // The coordinates' common parent ("location"), read once per lookup, and the rest of each
    // path below it: one walk of the record instead of two. Empty head: no common parent.
    Path coord_head_, lat_tail_, lon_tail_;
    std::unique_ptr<const GeoNetworks> networks_;
};

}  // namespace cdn::geodns
