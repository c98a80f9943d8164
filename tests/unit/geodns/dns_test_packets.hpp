#pragma once
// Test helpers for the geodns codec tests: build query packets from a few fields, and decode a
// response into readable values (names as text with their case, records as text). Test-only.
#include "geodns/codec/name.hpp"
#include "geodns/codec/wire.hpp"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::geodns::test {

inline void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    put16(b, static_cast<std::uint16_t>(v >> 16));
    put16(b, static_cast<std::uint16_t>(v));
}

// "www.cdn.example" -> 3www3cdn7example0 (no escapes; "" is the root).
inline std::vector<std::uint8_t> wire_name(std::string_view text) {
    std::vector<std::uint8_t> out;
    while (!text.empty()) {
        const auto dot = text.find('.');
        const std::string_view label = text.substr(0, dot);
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        if (dot == std::string_view::npos) break;
        text.remove_prefix(dot + 1);
    }
    out.push_back(0);
    return out;
}

struct EcsSpec {
    std::uint16_t family = 1;
    std::uint8_t source = 24;
    std::uint8_t scope = 0;
    std::vector<std::uint8_t> address{192, 0, 2};
};

struct QueryBuilder {
    std::uint16_t id = 0x1234;
    std::uint16_t flags = codec::flag::rd;
    std::string qname = "www.cdn.example";
    std::uint16_t qtype = codec::type::a;
    std::uint16_t qclass = codec::qclass::in;
    std::optional<std::uint16_t> edns_payload;  // set: add an OPT record
    std::uint8_t edns_version = 0;
    bool dnssec_ok = false;
    std::optional<EcsSpec> ecs;
    std::vector<std::uint8_t> extra_options;  // raw option bytes appended after ECS

    QueryBuilder& edns(std::uint16_t payload = 4096) {
        edns_payload = payload;
        return *this;
    }
    QueryBuilder& with_ecs(EcsSpec e) {
        if (!edns_payload) edns_payload = 4096;
        ecs = std::move(e);
        return *this;
    }

    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> b;
        put16(b, id);
        put16(b, flags);
        put16(b, 1);
        put16(b, 0);
        put16(b, 0);
        put16(b, edns_payload ? 1 : 0);
        const auto n = wire_name(qname);
        b.insert(b.end(), n.begin(), n.end());
        put16(b, qtype);
        put16(b, qclass);
        if (edns_payload) {
            b.push_back(0);
            put16(b, codec::type::opt);
            put16(b, *edns_payload);
            put32(b, (std::uint32_t{edns_version} << 16) | (dnssec_ok ? 0x8000u : 0u));
            std::vector<std::uint8_t> rdata;
            if (ecs) {
                put16(rdata, codec::edns_option_ecs);
                put16(rdata, static_cast<std::uint16_t>(4 + ecs->address.size()));
                put16(rdata, ecs->family);
                rdata.push_back(ecs->source);
                rdata.push_back(ecs->scope);
                rdata.insert(rdata.end(), ecs->address.begin(), ecs->address.end());
            }
            rdata.insert(rdata.end(), extra_options.begin(), extra_options.end());
            put16(b, static_cast<std::uint16_t>(rdata.size()));
            b.insert(b.end(), rdata.begin(), rdata.end());
        }
        return b;
    }
};

// ---- decoding responses -------------------------------------------------------------------

inline std::string name_text(const codec::WireName& n) {
    std::string s;
    std::size_t i = 0;
    while (i < n.size && n.bytes[i] != 0) {
        if (!s.empty()) s += '.';
        s.append(reinterpret_cast<const char*>(n.bytes.data() + i + 1), n.bytes[i]);
        i += 1 + std::size_t{n.bytes[i]};
    }
    return s;
}

struct Rr {
    std::string name;  // case as on the wire
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::uint32_t ttl = 0;
    std::string data;  // "192.0.2.1", "ns1.cdn.example", "ns1... hostmaster... 1 3600 ...", ...
};

struct Message {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;
    std::uint16_t qdcount = 0;
    std::string qname;
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    std::vector<Rr> answer, authority, additional;
    std::uint16_t rcode() const { return flags & 0x0F; }
    bool has(std::uint16_t f) const { return (flags & f) != 0; }
    const Rr* opt() const {
        for (const Rr& r : additional)
            if (r.type == codec::type::opt) return &r;
        return nullptr;
    }
};

inline bool read_name_text(std::span<const std::uint8_t> m, std::size_t& pos, std::string& out) {
    codec::WireName n;
    if (codec::read_name(m, pos, true, &n) != codec::NameError::none) return false;
    out = name_text(n);
    return true;
}

inline std::optional<Message> decode(std::span<const std::uint8_t> m) {
    using codec::load_u16;
    using codec::load_u32;
    if (m.size() < 12) return std::nullopt;
    Message msg;
    msg.id = load_u16(m, 0);
    msg.flags = load_u16(m, 2);
    msg.qdcount = load_u16(m, 4);
    const std::uint16_t counts[3] = {load_u16(m, 6), load_u16(m, 8), load_u16(m, 10)};
    std::size_t pos = 12;
    if (msg.qdcount > 1) return std::nullopt;
    if (msg.qdcount == 1) {
        if (!read_name_text(m, pos, msg.qname) || m.size() - pos < 4) return std::nullopt;
        msg.qtype = load_u16(m, pos);
        msg.qclass = load_u16(m, pos + 2);
        pos += 4;
    }
    std::vector<Rr>* sections[3] = {&msg.answer, &msg.authority, &msg.additional};
    for (int s = 0; s < 3; ++s) {
        for (std::uint16_t i = 0; i < counts[s]; ++i) {
            Rr r;
            if (!read_name_text(m, pos, r.name) || m.size() - pos < 10) return std::nullopt;
            r.type = load_u16(m, pos);
            r.klass = load_u16(m, pos + 2);
            r.ttl = load_u32(m, pos + 4);
            const std::uint16_t len = load_u16(m, pos + 8);
            pos += 10;
            if (m.size() - pos < len) return std::nullopt;
            const auto rd = m.subspan(pos, len);
            std::size_t p = pos;
            std::string t;
            switch (r.type) {
                case codec::type::a:
                    if (len != 4) return std::nullopt;
                    r.data = boost::asio::ip::address_v4({rd[0], rd[1], rd[2], rd[3]}).to_string();
                    break;
                case codec::type::aaaa: {
                    if (len != 16) return std::nullopt;
                    boost::asio::ip::address_v6::bytes_type b{};
                    std::copy(rd.begin(), rd.end(), b.begin());
                    r.data = boost::asio::ip::address_v6(b).to_string();
                    break;
                }
                case codec::type::ns:
                case codec::type::cname:
                    if (!read_name_text(m, p, r.data) || p != pos + len) return std::nullopt;
                    break;
                case codec::type::soa: {
                    std::string rname;
                    if (!read_name_text(m, p, r.data) || !read_name_text(m, p, rname) ||
                        pos + len - p != 20)
                        return std::nullopt;
                    r.data += " " + rname;
                    for (int k = 0; k < 5; ++k)
                        r.data += " " + std::to_string(load_u32(m, p + 4 * k));
                    break;
                }
                case codec::type::txt:
                case codec::type::hinfo:
                    while (p < pos + len) {
                        const std::size_t l = m[p];
                        if (p + 1 + l > pos + len) return std::nullopt;
                        if (p != pos) r.data += "|";
                        r.data.append(reinterpret_cast<const char*>(m.data() + p + 1), l);
                        p += 1 + l;
                    }
                    break;
                case codec::type::opt: {
                    r.data = "ext=" + std::to_string(r.ttl >> 24) +
                             " ver=" + std::to_string((r.ttl >> 16) & 0xFF) +
                             " do=" + std::to_string((r.ttl >> 15) & 1);
                    std::size_t o = 0;
                    while (o + 4 <= rd.size()) {
                        const std::uint16_t code = load_u16(rd, o);
                        const std::uint16_t olen = load_u16(rd, o + 2);
                        if (o + 4 + olen > rd.size()) return std::nullopt;
                        if (code == codec::edns_option_ecs && olen >= 4) {
                            r.data += " ecs=" + std::to_string(load_u16(rd, o + 4)) + "/" +
                                      std::to_string(rd[o + 6]) + "/" + std::to_string(rd[o + 7]) +
                                      "/";
                            for (std::size_t k = 8; k < 4u + olen; ++k) {
                                if (k != 8) r.data += ".";
                                r.data += std::to_string(rd[o + k]);
                            }
                        }
                        o += 4 + std::size_t{olen};
                    }
                    if (o != rd.size()) return std::nullopt;
                    break;
                }
                default: r.data = std::to_string(len) + " bytes"; break;
            }
            pos += len;
            sections[s]->push_back(std::move(r));
        }
    }
    if (pos != m.size()) return std::nullopt;  // our responses have no trailing bytes
    return msg;
}

}  // namespace cdn::geodns::test
