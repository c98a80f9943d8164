#pragma once
// Parsing a DNS query (RFC 1035 4.1) with its EDNS(0) OPT record (RFC 6891) and EDNS Client
// Subnet option (RFC 7871) into fixed-size values. Pure: never reads outside `packet`, never
// allocates; thread-safe.
//
// Policy:
// - Shorter than 12 bytes, or QR=1 (a response): dropped (no answer; avoids reflection loops).
// - Opcode other than QUERY: not_implemented (the question is filled in when it parses).
// - QDCOUNT != 1, a truncated or malformed record, a compression pointer in the QNAME, a bad
//   pointer elsewhere (forward, looping, into the header), counts claiming more records than the
//   bytes hold, OPT twice, OPT not owned by the root or outside the additional section, a malformed
//   option list, a bad ECS option: FORMERR.
// - Bytes after the last counted record are tolerated and ignored (Postel: they cannot change the
//   meaning of the query, and rejecting them would gain nothing).
// - EDNS version > 0: BADVERS (the rest of the message must still parse).
// - Unknown EDNS options are ignored.
#include "geodns/codec/name.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace cdn::geodns::codec {

struct Header {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;
    std::uint16_t qdcount = 0;
    std::uint16_t ancount = 0;
    std::uint16_t nscount = 0;
    std::uint16_t arcount = 0;
    std::uint8_t opcode() const { return static_cast<std::uint8_t>((flags >> 11) & 0x0F); }
    bool qr() const { return (flags & flag::qr) != 0; }
    bool rd() const { return (flags & flag::rd) != 0; }
    bool cd() const { return (flags & flag::cd) != 0; }
};

// EDNS Client Subnet (RFC 7871 6). `address` holds ceil(source_prefix / 8) meaningful bytes, the
// rest zero; bits past source_prefix are zero (checked by the parser).
struct Ecs {
    std::uint16_t family = 0;  // ecs_family_ipv4 or ecs_family_ipv6
    std::uint8_t source_prefix = 0;
    std::uint8_t scope_prefix = 0;  // 0 in queries; the answer's scope in responses
    std::array<std::uint8_t, 16> address{};
    std::size_t address_bytes() const { return (std::size_t{source_prefix} + 7) / 8; }
};

struct Edns {
    std::uint16_t udp_payload = 0;  // requestor's payload size, as sent (may be < 512)
    std::uint8_t extended_rcode = 0;
    std::uint8_t version = 0;
    bool dnssec_ok = false;
    std::optional<Ecs> ecs;
};

struct Question {
    WireName name;       // as sent (case preserved): echoed in the response
    NameText canonical;  // lowercase text for zone lookups
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
};

struct Query {
    Header header;
    bool has_question = false;  // set as soon as the question parsed, even if a later part failed
    Question question;
    // Set when an OPT record owned by the root was seen in the additional section (cleared again
    // when a second one follows); `edns->ecs` only when that option was valid.
    std::optional<Edns> edns;
};

enum class ParseError : std::uint8_t {
    none,
    too_short,        // < 12 bytes: drop
    is_response,      // QR=1: drop
    not_implemented,  // opcode != QUERY: NOTIMP
    bad_version,      // EDNS version > 0: BADVERS
    bad_qdcount,
    truncated,  // a section or record runs past the end (includes counts that lie)
    bad_label,
    name_too_long,
    pointer_in_qname,
    bad_pointer,
    opt_twice,
    opt_bad_owner,
    opt_wrong_section,
    bad_options,  // option list does not add up to RDLENGTH
    bad_ecs,      // family, prefix lengths, address length or non-zero bits past the prefix
};

enum class ParseOutcome : std::uint8_t { ok, drop, formerr, notimp, badvers };

constexpr ParseOutcome outcome_of(ParseError e) {
    switch (e) {
        case ParseError::none: return ParseOutcome::ok;
        case ParseError::too_short:
        case ParseError::is_response: return ParseOutcome::drop;
        case ParseError::not_implemented: return ParseOutcome::notimp;
        case ParseError::bad_version: return ParseOutcome::badvers;
        default: return ParseOutcome::formerr;
    }
}

// Parses `packet` into `out` (whose previous contents are overwritten). On error `out` holds what
// parsed before the error: the header always (unless too_short), the question when
// out.has_question, the OPT when out.edns.
ParseError parse_query(std::span<const std::uint8_t> packet, Query& out);

}  // namespace cdn::geodns::codec
