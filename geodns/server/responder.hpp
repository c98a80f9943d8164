#pragma once
// The pure DNS responder: query bytes + source address in, response bytes out, plus what the
// server needs for metrics and logs. No I/O, no clock, no locks; safe to call from any number of
// threads at once as long as `zones` is not modified meanwhile and `steering` is thread-safe.
//
// Decisions (RFC references in responder.cpp):
// - Malformed queries: FORMERR (question echoed when it parsed); responses (QR=1) and packets
//   under 12 bytes: nothing sent. Opcode other than QUERY: NOTIMP. EDNS version > 0: BADVERS.
// - QCLASS other than IN (CH, HS, ANY, ...): REFUSED. AXFR and IXFR: REFUSED (no transfers).
// - ANY: a minimal answer per RFC 8482 (a synthesized HINFO "RFC8482" ""; the CNAME at a CNAME
//   node), never the whole node (no amplification).
// - No zone holds the name: REFUSED without AA. Otherwise AA; RD and CD copied; RA never set.
// - Answers that do not fit: TC=1 with the question and OPT only. Glue that does not fit is
//   omitted without TC (RFC 2181 9).
#include "geodns/policy/steering.hpp"
#include "geodns/zone/zone.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace cdn::geodns {

enum class Transport { udp, tcp };

struct ResponderOptions {
    // Our EDNS UDP payload size: advertised in OPT and the cap on what a requestor may ask for.
    std::uint16_t max_udp_payload = 1232;
    // Fill ResponseInfo::name_hash (for response rate limiting; costs a pass over the name).
    bool name_hash = false;
};

struct ResponseInfo {
    std::size_t size = 0;     // bytes written to `out`; 0: send nothing
    std::uint16_t qtype = 0;  // 0 when no question parsed
    std::uint16_t rcode = 0;  // full (extended) RCODE, e.g. 16 for BADVERS
    bool truncated = false;   // TC set
    bool edns = false;        // response carries OPT
    bool ecs = false;         // response echoes an ECS option
    bool steered = false;     // the Steering chose (part of) the answer
    // With options.name_hash: a hash of the name the answer is about, for rate limiting
    // (server/rrl.hpp): the question's name (canonical) for NOERROR, the zone's origin for
    // NXDOMAIN (every nonexistent name of a zone is one answer), 0 otherwise.
    std::uint64_t name_hash = 0;
};

// Answers `query` (one DNS message without the TCP length prefix) received from `source`.
// The response goes to the front of `out` and never exceeds the transport's limit: UDP without
// EDNS 512 bytes, UDP with EDNS max(512, min(requestor's payload, options.max_udp_payload)),
// TCP 65535; nor out.size() (give 65535 bytes for TCP, options.max_udp_payload for UDP).
ResponseInfo respond(const ZoneSet& zones, const Steering& steering,
                     std::span<const std::uint8_t> query, const boost::asio::ip::address& source,
                     Transport transport, const ResponderOptions& options,
                     std::span<std::uint8_t> out);

}  // namespace cdn::geodns
