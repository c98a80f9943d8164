#pragma once
// The steering's precomputed table (issue 19): every client address -> its answer class (the
// order in which regions are preferred, which is all an answer depends on apart from health) and
// the widest prefix around the address over which that class holds: the ECS scope, with
// neighbouring and sibling networks of the same class merged, as gdnsd does. Built at (re)load
// from the geo database's ranges and the configured nets; one binary search per lookup, no
// allocation. Immutable once built: lookups are safe from any number of threads.
#include "geodns/geo/geo_database.hpp"
#include "geodns/geo/nets.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace cdn::geodns {

// The widest prefix length p (0..bits) such that the block of `address`/p lies within
// [first, last] (first <= address <= last). Pure; exposed for tests.
unsigned widest_prefix(std::uint32_t address, std::uint32_t first, std::uint32_t last) noexcept;
unsigned widest_prefix(U128 address, U128 first, U128 last) noexcept;

class ClassTable {
  public:
    // What placed the client (the metrics' result label). `mixed`: a merged range whose parts
    // were placed differently; lookup() resolves it.
    enum class Source : std::uint8_t { nets, db, fallback, mixed };
    // A class id for the addresses that need the per-query path (GeoNetworks::kAlias).
    static constexpr std::uint32_t kSlow = 0xffffffffu;

    struct Hit {
        std::uint32_t cls = kSlow;
        Source source = Source::fallback;
        std::uint8_t scope = 0;  // in the family looked up
    };

    // classify(nets region or none, database location id) -> class id, called once per
    // distinct pair. `db` may be null (every address has no location).
    using Classify = std::function<std::uint32_t(std::optional<std::size_t>, std::uint32_t)>;
    ClassTable(const GeoNetworks* db, const Nets& nets, const Classify& classify);

    Hit lookup_v4(std::uint32_t address) const noexcept;
    Hit lookup_v6(U128 address) const noexcept;

    std::size_t ranges_v4() const noexcept { return v4_.start.size(); }
    std::size_t ranges_v6() const noexcept { return v6_.start.size(); }

  private:
    template <class Key>
    struct Family {
        std::vector<Key> start;          // merged by class; start[0] == 0
        std::vector<std::uint32_t> cls;  // per range
        std::vector<Source> source;      // per range
        std::vector<Key> source_start;   // merged by source: for Source::mixed ranges
        std::vector<Source> source_of;
    };
    template <class Key>
    static void build(Family<Key>& out, const std::vector<Key>& db_start,
                      const std::vector<std::uint32_t>& db_loc, const Nets& nets, bool v4,
                      const std::function<std::uint32_t(std::optional<std::size_t>, std::uint32_t,
                                                        Source&)>& classify);
    template <class Key>
    static Hit lookup(const Family<Key>& f, Key address) noexcept;

    Family<std::uint32_t> v4_;
    Family<U128> v6_;
};

}  // namespace cdn::geodns
