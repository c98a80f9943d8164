#include "geodns/policy/class_table.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <utility>

namespace cdn::geodns {

namespace {

namespace ip = boost::asio::ip;

unsigned clz(std::uint32_t v) noexcept {
    return static_cast<unsigned>(std::countl_zero(v));
}
unsigned ctz(std::uint32_t v) noexcept {
    return static_cast<unsigned>(std::countr_zero(v));
}
unsigned clz(U128 v) noexcept {
    const auto hi = static_cast<std::uint64_t>(v >> 64), lo = static_cast<std::uint64_t>(v);
    return hi ? static_cast<unsigned>(std::countl_zero(hi))
              : 64 + static_cast<unsigned>(std::countl_zero(lo));
}
unsigned ctz(U128 v) noexcept {
    const auto hi = static_cast<std::uint64_t>(v >> 64), lo = static_cast<std::uint64_t>(v);
    return lo ? static_cast<unsigned>(std::countr_zero(lo))
              : 64 + static_cast<unsigned>(std::countr_zero(hi));
}

// The block a/p starts at or after `first` from p = pl on; it ends at or before `last` from
// p = pu on (the bits after p of `first` must be zeros, of `last` ones, unless a differs from
// them within the first p bits, in the right direction since first <= a <= last).
template <class Key>
unsigned widest(Key a, Key first, Key last, unsigned bits) noexcept {
    const unsigned zeros = bits - ctz(first);                   // ctz(0) = bits
    const unsigned ones = bits - ctz(static_cast<Key>(~last));  // trailing ones of `last`
    const unsigned pl = a == first ? zeros : std::min(clz(static_cast<Key>(a ^ first)) + 1, zeros);
    const unsigned pu = a == last ? ones : std::min(clz(static_cast<Key>(a ^ last)) + 1, ones);
    return std::max(pl, pu);
}

template <class Key>
constexpr unsigned bits_of() {
    return sizeof(Key) * 8;
}

template <class Key>
Key from_bytes(const std::array<unsigned char, 16>& b) {
    Key k = 0;
    for (unsigned i = 0; i < sizeof(Key); ++i)
        k = static_cast<Key>((k << 8) | b[i]);
    return k;
}

}  // namespace

unsigned widest_prefix(std::uint32_t address, std::uint32_t first, std::uint32_t last) noexcept {
    return widest(address, first, last, 32);
}
unsigned widest_prefix(U128 address, U128 first, U128 last) noexcept {
    return widest(address, first, last, 128);
}

ClassTable::ClassTable(const GeoNetworks* db, const Nets& nets, const Classify& classify) {
    std::map<std::pair<std::size_t, std::uint32_t>, std::uint32_t> memo;
    constexpr std::size_t kNoRegion = ~std::size_t{0};
    const auto cached = [&](std::optional<std::size_t> region, std::uint32_t loc,
                            Source& source) -> std::uint32_t {
        source = region                            ? Source::nets
                 : loc == GeoNetworks::kNoLocation ? Source::fallback
                                                   : Source::db;
        if (!region && loc == GeoNetworks::kAlias) return kSlow;
        const auto key = std::make_pair(region.value_or(kNoRegion), loc);
        const auto it = memo.find(key);
        if (it != memo.end()) return it->second;
        const std::uint32_t c =
            classify(region, loc == GeoNetworks::kAlias ? GeoNetworks::kNoLocation : loc);
        memo.emplace(key, c);
        return c;
    };
    static const std::vector<std::uint32_t> none_start4{0}, none_loc{GeoNetworks::kNoLocation};
    static const std::vector<U128> none_start6{0};
    build(v4_, db ? db->v4_start : none_start4, db ? db->v4_loc : none_loc, nets, true, cached);
    build(v6_, db ? db->v6_start : none_start6, db ? db->v6_loc : none_loc, nets, false, cached);
}

template <class Key>
void ClassTable::build(Family<Key>& out, const std::vector<Key>& db_start,
                       const std::vector<std::uint32_t>& db_loc, const Nets& nets, bool v4,
                       const std::function<std::uint32_t(std::optional<std::size_t>, std::uint32_t,
                                                         Source&)>& classify) {
    constexpr unsigned bits = bits_of<Key>();
    // Every point where the database's location or the nets' match may change.
    std::vector<Key> cuts(db_start.begin(), db_start.end());
    for (const auto& b : nets.blocks()) {
        if (b.v4 != v4) continue;
        const Key first = from_bytes<Key>(b.bytes);
        cuts.push_back(first);
        const Key size_minus_1 = b.length == 0
                                     ? static_cast<Key>(~Key{0})
                                     : static_cast<Key>((Key{1} << (bits - b.length)) - 1);
        const Key last = first | size_minus_1;
        if (last != static_cast<Key>(~Key{0})) cuts.push_back(static_cast<Key>(last + 1));
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    std::size_t d = 0;  // the database range holding the current cut
    Source last_source = Source::mixed;
    for (const Key c : cuts) {
        while (d + 1 < db_start.size() && db_start[d + 1] <= c)
            ++d;
        std::optional<std::size_t> region;
        if (!nets.empty()) {
            NetsMatch m;
            if (v4) {
                m = nets.lookup(ip::address_v4(static_cast<std::uint32_t>(c)));
            } else {
                ip::address_v6::bytes_type bytes;
                for (unsigned i = 0; i < 16; ++i)
                    bytes[i] = static_cast<unsigned char>(c >> (8 * (15 - i)));
                // An IPv4-mapped block would be looked up as IPv4: these ranges are never
                // asked for (the steering converts mapped addresses first).
                const ip::address_v6 a6(bytes);
                if (!a6.is_v4_mapped()) m = nets.lookup(a6);
            }
            if (m.matched) region = m.region;
        }
        Source source = Source::fallback;
        const std::uint32_t cls = classify(region, db_loc[d], source);
        if (out.cls.empty() || out.cls.back() != cls) {
            out.start.push_back(c);
            out.cls.push_back(cls);
            out.source.push_back(source);
        } else if (out.source.back() != source) {
            out.source.back() = Source::mixed;
        }
        if (source != last_source) {
            out.source_start.push_back(c);
            out.source_of.push_back(source);
            last_source = source;
        }
    }
}

template <class Key>
ClassTable::Hit ClassTable::lookup(const Family<Key>& f, Key address) noexcept {
    const auto it = std::upper_bound(f.start.begin(), f.start.end(), address);
    const auto i = static_cast<std::size_t>(it - f.start.begin()) - 1;
    const Key last =
        i + 1 < f.start.size() ? static_cast<Key>(f.start[i + 1] - 1) : static_cast<Key>(~Key{0});
    Hit h;
    h.cls = f.cls[i];
    h.scope = static_cast<std::uint8_t>(widest(address, f.start[i], last, bits_of<Key>()));
    h.source = f.source[i];
    if (h.source == Source::mixed) {
        const auto s = std::upper_bound(f.source_start.begin(), f.source_start.end(), address);
        h.source = f.source_of[static_cast<std::size_t>(s - f.source_start.begin()) - 1];
    }
    return h;
}

ClassTable::Hit ClassTable::lookup_v4(std::uint32_t address) const noexcept {
    return lookup(v4_, address);
}
ClassTable::Hit ClassTable::lookup_v6(U128 address) const noexcept {
    return lookup(v6_, address);
}

}  // namespace cdn::geodns
