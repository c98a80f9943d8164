#include "geodns/codec/query.hpp"

namespace cdn::geodns::codec {

namespace {

ParseError from_name_error(NameError e) {
    switch (e) {
        case NameError::none: return ParseError::none;
        case NameError::truncated: return ParseError::truncated;
        case NameError::bad_label: return ParseError::bad_label;
        case NameError::name_too_long: return ParseError::name_too_long;
        case NameError::pointer_not_allowed: return ParseError::pointer_in_qname;
        case NameError::bad_pointer: return ParseError::bad_pointer;
    }
    return ParseError::truncated;
}

ParseError parse_question(std::span<const std::uint8_t> packet, std::size_t& pos, Query& out) {
    if (const NameError e = read_name(packet, pos, false, &out.question.name);
        e != NameError::none) {
        return from_name_error(e);
    }
    if (packet.size() - pos < 4) return ParseError::truncated;
    out.question.qtype = load_u16(packet, pos);
    out.question.qclass = load_u16(packet, pos + 2);
    pos += 4;
    canonical_text(out.question.name, out.question.canonical);
    out.has_question = true;
    return ParseError::none;
}

ParseError parse_ecs(std::span<const std::uint8_t> data, Ecs& ecs) {
    if (data.size() < 4) return ParseError::bad_ecs;
    ecs.family = load_u16(data, 0);
    ecs.source_prefix = data[2];
    ecs.scope_prefix = data[3];
    const std::size_t max_prefix = ecs.family == ecs_family_ipv4   ? 32
                                   : ecs.family == ecs_family_ipv6 ? 128
                                                                   : 0;
    if (max_prefix == 0 || ecs.source_prefix > max_prefix) return ParseError::bad_ecs;
    if (ecs.scope_prefix != 0) return ParseError::bad_ecs;  // RFC 7871 6: 0 in queries
    const std::size_t n = ecs.address_bytes();
    if (data.size() - 4 != n) return ParseError::bad_ecs;
    for (std::size_t i = 0; i < n; ++i)
        ecs.address[i] = data[4 + i];
    if (const unsigned rest = ecs.source_prefix % 8; rest != 0) {
        const auto mask = static_cast<std::uint8_t>(0xFFu >> rest);
        if ((ecs.address[n - 1] & mask) != 0) return ParseError::bad_ecs;
    }
    return ParseError::none;
}

ParseError parse_options(std::span<const std::uint8_t> rdata, Edns& edns) {
    std::size_t pos = 0;
    bool seen_ecs = false;
    while (pos < rdata.size()) {
        if (rdata.size() - pos < 4) return ParseError::bad_options;
        const std::uint16_t code = load_u16(rdata, pos);
        const std::uint16_t len = load_u16(rdata, pos + 2);
        pos += 4;
        if (rdata.size() - pos < len) return ParseError::bad_options;
        if (code == edns_option_ecs) {
            if (seen_ecs) return ParseError::bad_ecs;
            seen_ecs = true;
            Ecs ecs;
            if (const ParseError e = parse_ecs(rdata.subspan(pos, len), ecs);
                e != ParseError::none) {
                return e;
            }
            edns.ecs = ecs;
        }
        pos += len;
    }
    return ParseError::none;
}

// One resource record of the answer/authority (additional = false) or additional section.
ParseError parse_record(std::span<const std::uint8_t> packet, std::size_t& pos, bool additional,
                        Query& out, bool& seen_opt, bool& bad_version) {
    // Only whether the owner is the root matters (OPT): no copy of the name, unless it starts
    // with a compression pointer (which may lead to the root).
    bool root_owner = pos < packet.size() && packet[pos] == 0;
    if (pos < packet.size() && (packet[pos] & 0xC0) == 0xC0) {
        WireName owner;
        if (const NameError e = read_name(packet, pos, true, &owner); e != NameError::none)
            return from_name_error(e);
        root_owner = owner.labels == 0;
    } else if (const NameError e = read_name(packet, pos, true, nullptr); e != NameError::none) {
        return from_name_error(e);
    }
    if (packet.size() - pos < 10) return ParseError::truncated;
    const std::uint16_t rtype = load_u16(packet, pos);
    const std::uint16_t rclass = load_u16(packet, pos + 2);
    const std::uint32_t ttl = load_u32(packet, pos + 4);
    const std::uint16_t rdlength = load_u16(packet, pos + 8);
    pos += 10;
    if (packet.size() - pos < rdlength) return ParseError::truncated;
    const auto rdata = packet.subspan(pos, rdlength);
    pos += rdlength;
    if (rtype != type::opt) return ParseError::none;
    if (!additional) return ParseError::opt_wrong_section;
    if (seen_opt) {
        out.edns.reset();
        return ParseError::opt_twice;
    }
    seen_opt = true;
    if (!root_owner) return ParseError::opt_bad_owner;
    Edns edns;
    edns.udp_payload = rclass;
    edns.extended_rcode = static_cast<std::uint8_t>(ttl >> 24);
    edns.version = static_cast<std::uint8_t>(ttl >> 16);
    edns.dnssec_ok = (ttl & edns_do_bit) != 0;
    out.edns = edns;
    if (edns.version != 0) {
        bad_version = true;  // options of another version are not ours to judge
        return ParseError::none;
    }
    const ParseError e = parse_options(rdata, *out.edns);
    if (e != ParseError::none) out.edns->ecs.reset();
    return e;
}

}  // namespace

ParseError parse_query(std::span<const std::uint8_t> packet, Query& out) {
    out.has_question = false;
    out.edns.reset();
    out.question.qtype = 0;
    out.question.qclass = 0;
    if (packet.size() < header_size) return ParseError::too_short;
    out.header.id = load_u16(packet, 0);
    out.header.flags = load_u16(packet, 2);
    out.header.qdcount = load_u16(packet, 4);
    out.header.ancount = load_u16(packet, 6);
    out.header.nscount = load_u16(packet, 8);
    out.header.arcount = load_u16(packet, 10);
    if (out.header.qr()) return ParseError::is_response;
    std::size_t pos = header_size;
    if (out.header.opcode() != opcode::query) {
        if (out.header.qdcount == 1) (void)parse_question(packet, pos, out);
        return ParseError::not_implemented;
    }
    if (out.header.qdcount != 1) return ParseError::bad_qdcount;
    if (const ParseError e = parse_question(packet, pos, out); e != ParseError::none) return e;
    bool seen_opt = false;
    bool bad_version = false;
    const std::size_t non_additional =
        std::size_t{out.header.ancount} + std::size_t{out.header.nscount};
    const std::size_t records = non_additional + out.header.arcount;
    for (std::size_t i = 0; i < records; ++i) {
        if (pos >= packet.size()) return ParseError::truncated;  // counts that lie
        if (const ParseError e =
                parse_record(packet, pos, i >= non_additional, out, seen_opt, bad_version);
            e != ParseError::none) {
            return e;
        }
    }
    // Anything after the last counted record is ignored (see the header).
    return bad_version ? ParseError::bad_version : ParseError::none;
}

}  // namespace cdn::geodns::codec
