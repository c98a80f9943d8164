#pragma once
// The authoritative data geodns serves, as plain values: zones (SOA, NS, static records) and the
// names whose A/AAAA answers are steered to the nearest healthy edges. Built from the TOML config
// (geodns/config.hpp) and swapped whole on reload; immutable once built, so any number of threads
// may read one Zone at a time without locks.
//
// Names are kept in canonical text form: lowercase ASCII, labels joined by '.', no trailing dot,
// the root being "". Example: "www.cdn.example".
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cdn::geodns {

struct Soa {
    std::string mname;  // primary name server, canonical form
    std::string rname;  // responsible mailbox as a name ("hostmaster.cdn.example")
    std::uint32_t serial = 1;
    std::uint32_t refresh = 3600;
    std::uint32_t retry = 600;
    std::uint32_t expire = 604800;
    std::uint32_t minimum = 30;  // negative-caching TTL (RFC 2308): also the SOA's TTL in
                                 // NXDOMAIN/NODATA authority sections
    std::uint32_t ttl = 3600;    // TTL of the SOA record when asked for directly
};

// A steered name: A/AAAA answers come from the Steering (nearest healthy edges), not from the
// node's static records.
struct Steered {
    std::string name;                // the owner name, canonical (for log lines)
    std::uint32_t ttl = 20;          // TTL of steered answers
    unsigned count = 2;              // how many edge addresses to answer with (per address family)
    std::vector<std::string> edges;  // edge ids this name may use; empty = every edge
    std::size_t index = 0;           // this name's position in Zone::steered (for Steering)
    // After the nearest region's edges, one more address from the next-nearest region with a
    // healthy edge (per address family), for clients that try every address of an answer.
    bool last_resort = false;
};

// Everything stored at one owner name.
struct Node {
    std::vector<boost::asio::ip::address_v4> a;
    std::uint32_t a_ttl = 300;
    std::vector<boost::asio::ip::address_v6> aaaa;
    std::uint32_t aaaa_ttl = 300;
    std::vector<std::string> ns;  // NS targets (apex only; no delegations below the apex)
    std::uint32_t ns_ttl = 3600;
    std::optional<std::string> cname;  // when set, the node holds nothing else
    std::uint32_t cname_ttl = 300;
    std::vector<std::string> txt;  // each string <= 255 bytes
    std::uint32_t txt_ttl = 300;
    std::optional<Steered> steered;
};

struct Zone {
    std::string origin;  // the apex, canonical form, e.g. "cdn.example"
    Soa soa;
    // Owner name (canonical, absolute) -> data. The apex is always present (SOA + NS live in
    // soa/ns). Names between the apex and a node ("b.cdn.example" for "a.b.cdn.example") are
    // empty non-terminals: they exist (NODATA, not NXDOMAIN) without a node of their own.
    std::map<std::string, Node, std::less<>> nodes;
};

// All zones served; the responder picks the zone with the longest origin that is a suffix of the
// query name (on label boundaries). No zone matches: REFUSED.
struct ZoneSet {
    std::vector<Zone> zones;
};

}  // namespace cdn::geodns
