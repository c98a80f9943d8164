#include "geodns/geo/geo_database.hpp"

#include "common/log.hpp"

#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace cdn::geodns {

namespace {

namespace ip = boost::asio::ip;

// How much of the tree validate() walks, and how many distinct records it reads.
constexpr std::size_t kSampleNodes = 20000;
constexpr std::size_t kSampleRecords = 256;

const char* type_name(std::uint32_t type) {
    switch (type) {
        case MMDB_DATA_TYPE_UTF8_STRING: return "utf8_string";
        case MMDB_DATA_TYPE_DOUBLE: return "double";
        case MMDB_DATA_TYPE_BYTES: return "bytes";
        case MMDB_DATA_TYPE_UINT16: return "uint16";
        case MMDB_DATA_TYPE_UINT32: return "uint32";
        case MMDB_DATA_TYPE_MAP: return "map";
        case MMDB_DATA_TYPE_INT32: return "int32";
        case MMDB_DATA_TYPE_UINT64: return "uint64";
        case MMDB_DATA_TYPE_UINT128: return "uint128";
        case MMDB_DATA_TYPE_ARRAY: return "array";
        case MMDB_DATA_TYPE_BOOLEAN: return "boolean";
        case MMDB_DATA_TYPE_FLOAT: return "float";
        default: return "unknown";
    }
}

// The value at `argv` in `entry`: has_data false when the path is absent or does not fit.
MMDB_entry_data_s get(MMDB_entry_s entry, const std::vector<const char*>& argv, int* status) {
    MMDB_entry_data_s data{};
    *status = MMDB_aget_value(&entry, &data, argv.data());
    if (*status != MMDB_SUCCESS) data.has_data = false;
    return data;
}

std::optional<double> number(const MMDB_entry_data_s& d) {
    if (!d.has_data) return std::nullopt;
    double v;
    if (d.type == MMDB_DATA_TYPE_DOUBLE) {
        v = d.double_value;
    } else if (d.type == MMDB_DATA_TYPE_FLOAT) {
        v = static_cast<double>(d.float_value);
    } else {
        return std::nullopt;
    }
    if (!std::isfinite(v)) return std::nullopt;
    return v;
}

}  // namespace

struct GeoDatabase::Raw {
    bool error = false;
    bool found = false;
    MMDB_entry_s entry{};
    std::uint8_t prefix = 0;
};

GeoDatabase::GeoDatabase(const std::string& file, FieldPaths paths)
    : file_(file), paths_(std::move(paths)), mmdb_(std::make_unique<MMDB_s>()) {
    const int status = MMDB_open(file_.c_str(), MMDB_MODE_MMAP, mmdb_.get());
    if (status != MMDB_SUCCESS) {
        std::string msg = "geo database " + file_ + ": cannot open: " + MMDB_strerror(status);
        if (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR) {
            msg += std::string(" (") + std::strerror(errno) + ")";
        }
        mmdb_.reset();  // MMDB_open cleans up after itself on failure
        throw std::runtime_error(msg);
    }
    try {
        auto init = [this](Path& p, const std::string& dotted, const char* field) {
            if (dotted.empty()) return;
            std::size_t start = 0;
            while (true) {
                const auto dot = dotted.find('.', start);
                p.parts.push_back(dotted.substr(start, dot - start));
                if (p.parts.back().empty()) {
                    throw std::runtime_error("geo database " + file_ + ": " + field + " path \"" +
                                             dotted + "\" has an empty component");
                }
                if (dot == std::string::npos) break;
                start = dot + 1;
            }
            for (const auto& s : p.parts)
                p.argv.push_back(s.c_str());
            p.argv.push_back(nullptr);
        };
        init(lat_, paths_.latitude, "latitude");
        init(lon_, paths_.longitude, "longitude");
        init(country_, paths_.country, "country");
        init(continent_, paths_.continent, "continent");
        std::size_t common = 0;
        while (common + 1 < lat_.parts.size() && common + 1 < lon_.parts.size() &&
               lat_.parts[common] == lon_.parts[common]) {
            ++common;
        }
        if (common > 0) {
            auto take = [](Path& to, const Path& from, std::size_t begin, std::size_t end) {
                to.parts.assign(from.parts.begin() + static_cast<long>(begin),
                                from.parts.begin() + static_cast<long>(end));
                for (const auto& s : to.parts)
                    to.argv.push_back(s.c_str());
                to.argv.push_back(nullptr);
            };
            take(coord_head_, lat_, 0, common);
            take(lat_tail_, lat_, common, lat_.parts.size());
            take(lon_tail_, lon_, common, lon_.parts.size());
        }
        if (lat_.argv.empty() != lon_.argv.empty()) {
            throw std::runtime_error("geo database " + file_ +
                                     ": set both latitude and longitude paths, or neither");
        }
        validate();
        networks_ = walk();
    } catch (...) {
        MMDB_close(mmdb_.get());
        throw;
    }
}

std::shared_ptr<const GeoDatabase> GeoDatabase::open(const std::string& file, FieldPaths paths) {
    return std::make_shared<const GeoDatabase>(file, std::move(paths));
}

GeoDatabase::~GeoDatabase() {
    if (mmdb_) MMDB_close(mmdb_.get());
}

std::string GeoDatabase::database_type() const {
    const char* t = mmdb_->metadata.database_type;
    return t ? t : "";
}
unsigned GeoDatabase::ip_version() const noexcept {
    return mmdb_->metadata.ip_version;
}
std::uint64_t GeoDatabase::build_epoch() const noexcept {
    return mmdb_->metadata.build_epoch;
}

void GeoDatabase::validate() {
    const auto& md = mmdb_->metadata;
    const std::string where = "geo database " + file_ + " (type \"" + database_type() + "\")";
    if (md.ip_version != 4 && md.ip_version != 6) {
        throw std::runtime_error(where + ": unsupported ip_version " +
                                 std::to_string(md.ip_version));
    }
    // Walk the start of the search tree (depth first, lowest addresses first) and read a sample
    // of distinct records. Lookups are cheap, but the tree gives records without guessing
    // which addresses a database covers.
    std::vector<std::uint32_t> stack{0};
    std::unordered_set<std::uint32_t> seen_nodes, seen_records;
    std::size_t records = 0, with_coordinates = 0, with_country = 0;
    auto check = [&](MMDB_entry_s entry) {
        ++records;
        struct Field {
            const Path& path;
            const std::string& dotted;
            const char* name;
            bool numeric;
        };
        const Field fields[] = {{lat_, paths_.latitude, "latitude", true},
                                {lon_, paths_.longitude, "longitude", true},
                                {country_, paths_.country, "country", false},
                                {continent_, paths_.continent, "continent", false}};
        bool coords = !lat_.argv.empty();
        for (const auto& f : fields) {
            if (f.path.argv.empty()) continue;
            int status = MMDB_SUCCESS;
            const auto d = get(entry, f.path.argv, &status);
            if (status != MMDB_SUCCESS && status != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
                throw std::runtime_error(where + ": reading " + f.name + " path \"" + f.dotted +
                                         "\": " + MMDB_strerror(status));
            }
            if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
                // A missing key reads the same as walking into a string: tell them apart by
                // the longest prefix of the path that resolves.
                for (std::size_t k = f.path.parts.size() - 1; k > 0; --k) {
                    std::vector<const char*> head(f.path.argv.begin(),
                                                  f.path.argv.begin() + static_cast<long>(k));
                    head.push_back(nullptr);
                    int st = MMDB_SUCCESS;
                    const auto h = get(entry, head, &st);
                    if (!h.has_data) continue;
                    if (h.type != MMDB_DATA_TYPE_MAP && h.type != MMDB_DATA_TYPE_ARRAY) {
                        throw std::runtime_error(where + ": " + f.name + " path \"" + f.dotted +
                                                 "\" does not match the records' structure (" +
                                                 f.path.parts[k - 1] + " is a " +
                                                 type_name(h.type) + ")");
                    }
                    break;
                }
            }
            if (!d.has_data) {
                if (f.numeric) coords = false;
                continue;
            }
            const bool ok =
                f.numeric ? (d.type == MMDB_DATA_TYPE_DOUBLE || d.type == MMDB_DATA_TYPE_FLOAT)
                          : d.type == MMDB_DATA_TYPE_UTF8_STRING;
            if (!ok) {
                throw std::runtime_error(where + ": " + f.name + " path \"" + f.dotted +
                                         "\" holds a " + type_name(d.type) + ", expected " +
                                         (f.numeric ? "a double or float" : "a string"));
            }
            if (&f.path == &country_) ++with_country;
        }
        if (coords) ++with_coordinates;
    };
    while (!stack.empty() && seen_nodes.size() < kSampleNodes && records < kSampleRecords) {
        const std::uint32_t node = stack.back();
        stack.pop_back();
        if (!seen_nodes.insert(node).second) continue;
        MMDB_search_node_s n{};
        const int status = MMDB_read_node(mmdb_.get(), node, &n);
        if (status != MMDB_SUCCESS) {
            throw std::runtime_error(where + ": reading search tree node " + std::to_string(node) +
                                     ": " + MMDB_strerror(status));
        }
        // Push right first so the left (lower addresses) is visited first.
        const std::pair<std::uint8_t, std::pair<std::uint64_t, MMDB_entry_s>> sides[] = {
            {n.right_record_type, {n.right_record, n.right_record_entry}},
            {n.left_record_type, {n.left_record, n.left_record_entry}}};
        for (const auto& [type, rec] : sides) {
            if (type == MMDB_RECORD_TYPE_SEARCH_NODE) {
                stack.push_back(static_cast<std::uint32_t>(rec.first));
            } else if (type == MMDB_RECORD_TYPE_INVALID) {
                throw std::runtime_error(where + ": corrupt search tree at node " +
                                         std::to_string(node));
            }
        }
        // Records in address order: left then right.
        for (auto it = std::rbegin(sides); it != std::rend(sides); ++it) {
            if (it->first == MMDB_RECORD_TYPE_DATA &&
                seen_records.insert(it->second.second.offset).second) {
                check(it->second.second);
            }
        }
    }
    if (records == 0) {
        log_warn("{}: no records found in the first {} search tree nodes", where,
                 seen_nodes.size());
        return;
    }
    if (!lat_.argv.empty() && with_coordinates == 0) {
        throw std::runtime_error(
            where + ": none of the first " + std::to_string(records) +
            " records has coordinates at \"" + paths_.latitude + "\" / \"" + paths_.longitude +
            "\" (wrong field paths for this database? the flat ip-location-db layout uses "
            "\"latitude\", \"longitude\", \"country_code\", \"\")");
    }
    if (!country_.argv.empty() && with_country == 0) {
        log_warn("{}: none of the first {} records has a country at \"{}\"", where, records,
                 paths_.country);
    }
}

namespace {

// One side of a search tree node.
struct Record {
    std::uint8_t type = MMDB_RECORD_TYPE_INVALID;
    std::uint64_t value = 0;
    MMDB_entry_s entry{};
};

std::pair<Record, Record> read_node(const MMDB_s* db, std::uint64_t node) {
    MMDB_search_node_s n{};
    const int status =
        MMDB_read_node(const_cast<MMDB_s*>(db), static_cast<std::uint32_t>(node), &n);
    if (status != MMDB_SUCCESS) {
        throw std::runtime_error("reading search tree node " + std::to_string(node) + ": " +
                                 MMDB_strerror(status));
    }
    return {Record{n.left_record_type, n.left_record, n.left_record_entry},
            Record{n.right_record_type, n.right_record, n.right_record_entry}};
}

// Depth-first, lowest addresses first, from `root` (at depth 0 of a `bits`-bit space): appends
// each leaf's start and location, merging neighbours with the same location. A search node
// numbered `alias` is not entered (it is the IPv4 subtree seen from IPv6).
template <class Key, class Locate>
void walk_family(const MMDB_s* db, Record root, unsigned bits, std::uint64_t alias, Locate&& locate,
                 std::vector<Key>& start, std::vector<std::uint32_t>& loc) {
    struct Item {
        Record rec;
        unsigned depth;
        Key base;
    };
    std::vector<Item> stack{Item{root, 0, Key{0}}};
    auto emit = [&](Key base, std::uint32_t l) {
        if (!loc.empty() && loc.back() == l) return;
        start.push_back(base);
        loc.push_back(l);
    };
    while (!stack.empty()) {
        const Item it = stack.back();
        stack.pop_back();
        switch (it.rec.type) {
            case MMDB_RECORD_TYPE_SEARCH_NODE: {
                if (it.rec.value == alias) {
                    emit(it.base, GeoNetworks::kAlias);
                    break;
                }
                if (it.depth >= bits)
                    throw std::runtime_error("search tree deeper than the address");
                const auto [left, right] = read_node(db, it.rec.value);
                stack.push_back(
                    Item{right, it.depth + 1, it.base | (Key{1} << (bits - 1 - it.depth))});
                stack.push_back(Item{left, it.depth + 1, it.base});
                break;
            }
            case MMDB_RECORD_TYPE_EMPTY: emit(it.base, GeoNetworks::kNoLocation); break;
            case MMDB_RECORD_TYPE_DATA: emit(it.base, locate(it.rec.entry)); break;
            default: throw std::runtime_error("corrupt search tree");
        }
    }
}

}  // namespace

std::unique_ptr<GeoNetworks> GeoDatabase::walk() const {
    auto out = std::make_unique<GeoNetworks>();
    try {
        std::unordered_map<std::uint32_t, std::uint32_t> by_offset;  // record -> location
        std::map<std::pair<double, double>, std::uint32_t> by_point;
        auto locate = [&](const MMDB_entry_s& entry) -> std::uint32_t {
            const auto found = by_offset.find(entry.offset);
            if (found != by_offset.end()) return found->second;
            Raw r;
            r.found = true;
            r.entry = entry;
            const GeoPoint p = point(r);
            std::uint32_t id = GeoNetworks::kNoLocation;
            if (p.has_location) {
                const auto [it, fresh] = by_point.try_emplace(
                    {p.latitude, p.longitude}, static_cast<std::uint32_t>(out->locations.size()));
                if (fresh) out->locations.push_back(GeoNetworks::Point{p.latitude, p.longitude});
                id = it->second;
            }
            by_offset.emplace(entry.offset, id);
            return id;
        };
        const MMDB_s* db = mmdb_.get();
        const Record root{MMDB_RECORD_TYPE_SEARCH_NODE, 0, {}};
        constexpr std::uint64_t kNoAlias = ~std::uint64_t{0};
        if (db->metadata.ip_version == 6) {
            // IPv4 lives at ::/96: follow 96 zero bits (a leaf on the way holds all of IPv4).
            Record v4 = root;
            for (unsigned i = 0; i < 96 && v4.type == MMDB_RECORD_TYPE_SEARCH_NODE; ++i)
                v4 = read_node(db, v4.value).first;
            walk_family<std::uint32_t>(db, v4, 32, kNoAlias, locate, out->v4_start, out->v4_loc);
            const std::uint64_t alias =
                v4.type == MMDB_RECORD_TYPE_SEARCH_NODE ? v4.value : kNoAlias;
            walk_family<U128>(db, root, 128, alias, locate, out->v6_start, out->v6_loc);
        } else {
            walk_family<std::uint32_t>(db, root, 32, kNoAlias, locate, out->v4_start, out->v4_loc);
            out->v6_start.push_back(0);  // IPv6 in an IPv4 database: never found
            out->v6_loc.push_back(GeoNetworks::kNoLocation);
        }
    } catch (const std::exception& e) {
        log_warn("geo database {}: cannot index it ({}): looking up every query instead", file_,
                 e.what());
        return nullptr;
    }
    return out;
}

GeoDatabase::Raw GeoDatabase::raw_lookup(const ip::address& address) const noexcept {
    Raw r;
    ip::address a = address;
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
    const bool v6_tree = mmdb_->metadata.ip_version == 6;
    int status = MMDB_SUCCESS;
    MMDB_lookup_result_s res{};
    if (a.is_v4()) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        const auto bytes = a.to_v4().to_bytes();
        std::memcpy(&sin.sin_addr, bytes.data(), bytes.size());
        res = MMDB_lookup_sockaddr(mmdb_.get(), reinterpret_cast<const sockaddr*>(&sin), &status);
    } else {
        if (!v6_tree) return r;  // the answer is the same for every IPv6 address: none, /0
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        const auto bytes = a.to_v6().to_bytes();
        std::memcpy(&sin6.sin6_addr, bytes.data(), bytes.size());
        res = MMDB_lookup_sockaddr(mmdb_.get(), reinterpret_cast<const sockaddr*>(&sin6), &status);
    }
    if (status != MMDB_SUCCESS) {
        r.error = true;
        return r;
    }
    // libmaxminddb counts the bits walked from the root of the tree: an IPv4 address in an IPv6
    // tree starts at ::/96, so its network is netmask - 96 bits of IPv4 (clamped: a tree whose
    // data stops above ::/96 gives less than 96, meaning all of IPv4 shares the answer).
    int bits = res.netmask;
    if (a.is_v4()) {
        if (v6_tree) bits -= 96;
        bits = std::clamp(bits, 0, 32);
    } else {
        bits = std::clamp(bits, 0, 128);
    }
    r.prefix = static_cast<std::uint8_t>(bits);
    r.found = res.found_entry;
    r.entry = res.entry;
    return r;
}

GeoPoint GeoDatabase::locate(const ip::address& address) const noexcept {
    return point(raw_lookup(address));
}

GeoPoint GeoDatabase::point(const Raw& r) const noexcept {
    GeoPoint p;
    p.error = r.error;
    p.found = r.found;
    p.prefix = r.prefix;
    if (!r.found || lat_.argv.empty()) return p;
    int status = MMDB_SUCCESS;
    std::optional<double> lat, lon;
    if (!coord_head_.argv.empty()) {
        const auto head = get(r.entry, coord_head_.argv, &status);
        if (!head.has_data ||
            (head.type != MMDB_DATA_TYPE_MAP && head.type != MMDB_DATA_TYPE_ARRAY)) {
            return p;
        }
        const MMDB_entry_s sub{r.entry.mmdb, head.offset};
        lat = number(get(sub, lat_tail_.argv, &status));
        lon = number(get(sub, lon_tail_.argv, &status));
    } else {
        lat = number(get(r.entry, lat_.argv, &status));
        lon = number(get(r.entry, lon_.argv, &status));
    }
    if (lat && lon && std::abs(*lat) <= 90 && std::abs(*lon) <= 180) {
        p.has_location = true;
        p.latitude = *lat;
        p.longitude = *lon;
    }
    return p;
}

GeoRecord GeoDatabase::lookup(const ip::address& address) const {
    GeoRecord rec;
    const Raw r = raw_lookup(address);
    const GeoPoint p = point(r);
    rec.found = p.found;
    rec.prefix = p.prefix;
    if (p.has_location) {
        rec.latitude = p.latitude;
        rec.longitude = p.longitude;
    }
    if (!p.found) return rec;
    auto text = [&](const Path& path) -> std::string {
        if (path.argv.empty() || !r.found) return {};
        int status = MMDB_SUCCESS;
        const auto d = get(r.entry, path.argv, &status);
        if (!d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING) return {};
        return std::string(d.utf8_string, d.data_size);
    };
    rec.country = text(country_);
    rec.continent = text(continent_);
    return rec;
}

}  // namespace cdn::geodns
