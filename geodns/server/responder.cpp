#include "geodns/server/responder.hpp"

#include "geodns/codec/query.hpp"
#include "geodns/codec/response_writer.hpp"
#include "geodns/codec/wire.hpp"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <string_view>

namespace cdn::geodns {

namespace {

using codec::ParseOutcome;
using codec::ResponseWriter;
using codec::Section;
using codec::WriteStatus;
namespace type = codec::type;
namespace rcode = codec::rcode;

constexpr int max_cname_chain = 8;             // CNAMEs followed inside our zones per answer
constexpr std::uint32_t fail_open_ttl = 5;     // steering.hpp: all edges down, come back soon
constexpr std::uint32_t any_hinfo_ttl = 3600;  // RFC 8482 4.2: a long TTL for the HINFO

// A fast hash of a canonical name, 8 bytes at a time (the limiter mixes it with a secret seed).
std::uint64_t hash_name(std::string_view s) {
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = std::rotl(h ^ w, 29) * 0xff51afd7ed558ccdULL;
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    return std::rotl(h ^ tail, 29) * 0xc4ceb9fe1a85ec53ULL;
}

// `name` is `origin` or below it, on a label boundary ("" is the root: everything is below it).
bool at_or_below(std::string_view name, std::string_view origin) {
    if (origin.empty()) return true;
    if (!name.ends_with(origin)) return false;
    return name.size() == origin.size() || name[name.size() - origin.size() - 1] == '.';
}

// The zone with the longest origin that is a suffix of `name`, or null.
const Zone* find_zone(const ZoneSet& zones, std::string_view name) {
    const Zone* best = nullptr;
    for (const Zone& z : zones.zones) {
        if (at_or_below(name, z.origin) &&
            (best == nullptr || z.origin.size() > best->origin.size()))
            best = &z;
    }
    return best;
}

// Whether `name` (inside `zone`) exists: a node, the apex, or an empty non-terminal (some node
// below it). Sets `node` when there is one. The non-terminal check scans the zone's nodes: zones
// come from an operator's config and are small.
bool name_exists(const Zone& zone, std::string_view name, const Node*& node) {
    node = nullptr;
    if (const auto it = zone.nodes.find(name); it != zone.nodes.end()) {
        node = &it->second;
        return true;
    }
    if (name == zone.origin) return true;
    for (const auto& entry : zone.nodes) {
        if (entry.first.size() > name.size() && at_or_below(entry.first, name)) return true;
    }
    return false;
}

codec::SoaFields soa_fields(const Soa& soa) {
    return codec::SoaFields{soa.mname, soa.rname,  soa.serial, soa.refresh,
                            soa.retry, soa.expire, soa.minimum};
}

// The client as the Steering sees it (steering.hpp).
ClientAddress client_address(const codec::Query& q, const boost::asio::ip::address& source) {
    ClientAddress client;
    if (q.edns && q.edns->ecs && q.edns->ecs->source_prefix > 0) {
        const codec::Ecs& ecs = *q.edns->ecs;
        if (ecs.family == codec::ecs_family_ipv4) {
            boost::asio::ip::address_v4::bytes_type b{};
            std::copy_n(ecs.address.begin(), b.size(), b.begin());
            client.address = boost::asio::ip::address_v4(b);
        } else {
            boost::asio::ip::address_v6::bytes_type b{};
            std::copy_n(ecs.address.begin(), b.size(), b.begin());
            client.address = boost::asio::ip::address_v6(b);
        }
        client.source_prefix = ecs.source_prefix;
        client.from_ecs = true;
        return client;
    }
    client.address = source;
    if (source.is_v6() && source.to_v6().is_v4_mapped()) {
        client.address =
            boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, source.to_v6());
    }
    client.source_prefix = client.address.is_v4() ? 32 : 128;
    return client;
}

// Writes the answer for one query into the writer (answer, authority, additional sections).
class Answerer {
  public:
    Answerer(const ZoneSet& zones, const Steering& steering, ResponseWriter& w,
             const ClientAddress& client)
        : zones_(zones), steering_(steering), w_(w), client_(client) {}

    // Precondition: `zone` is find_zone(zones, qname), not null. Returns the RCODE (RFC 6604:
    // that of the last name in a CNAME chain).
    std::uint16_t resolve(std::string_view qname, std::uint16_t qtype, const Zone* zone) {
        std::array<std::string_view, max_cname_chain> seen{};
        std::size_t n_seen = 0;
        std::string_view current = qname;
        while (zone != nullptr && !overflow_) {
            const Node* node = nullptr;
            if (!name_exists(*zone, current, node)) {
                negative(*zone);
                return rcode::nxdomain;
            }
            if (node != nullptr && node->cname && qtype != type::cname) {
                w_.section(Section::answer);
                add(w_.cname(current, node->cname_ttl, *node->cname));
                if (qtype == type::any) break;  // RFC 8482: one RRset is enough
                seen[n_seen++] = current;
                const std::string_view target = *node->cname;
                // Chain too long, or a loop: answer what we have.
                if (n_seen == seen.size() ||
                    std::find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(n_seen),
                              target) != seen.begin() + static_cast<std::ptrdiff_t>(n_seen))
                    break;
                current = target;
                zone = find_zone(zones_, current);  // null: out of our zones, CNAME only
                continue;
            }
            if (!answer_node(*zone, node, current, qtype)) negative(*zone);  // NODATA
            break;
        }
        return rcode::noerror;
    }

    // NS targets inside the zone get their static A/AAAA in the additional section, as many as
    // fit (no TC for glue: RFC 2181 9).
    void glue() {
        if (glue_node_ == nullptr || overflow_) return;
        w_.section(Section::additional);
        for (const std::string& target : glue_node_->ns) {
            if (!at_or_below(target, glue_zone_->origin)) continue;
            const auto it = glue_zone_->nodes.find(target);
            if (it == glue_zone_->nodes.end()) continue;
            for (const auto& ip : it->second.a) {
                if (w_.a(target, it->second.a_ttl, ip.to_bytes()) == WriteStatus::no_space) return;
            }
            for (const auto& ip : it->second.aaaa) {
                if (w_.aaaa(target, it->second.aaaa_ttl, ip.to_bytes()) == WriteStatus::no_space)
                    return;
            }
        }
    }

    bool overflow() const { return overflow_; }
    bool steered() const { return steered_; }
    std::uint8_t scope() const { return scope_; }

  private:
    // A record that does not fit marks the answer truncated; one with a bad name (zone data
    // the config let through) is skipped.
    void add(WriteStatus s) {
        if (s == WriteStatus::no_space) overflow_ = true;
    }

    // SOA in the authority section for NXDOMAIN/NODATA, TTL min(SOA TTL, MINIMUM) (RFC 2308 3).
    void negative(const Zone& zone) {
        w_.section(Section::authority);
        add(w_.soa(zone.origin, std::min(zone.soa.ttl, zone.soa.minimum), soa_fields(zone.soa)));
    }

    void steer(const Steered& steered, std::uint16_t qtype) {
        const SteeringAnswer answer = steering_.steer_only(
            steered, client_, qtype == type::a ? Steering::Families::v4 : Steering::Families::v6);
        steered_ = true;
        scope_ = std::max(scope_, answer.scope_prefix);
        const std::uint32_t ttl =
            answer.fail_open ? std::min(steered.ttl, fail_open_ttl) : steered.ttl;
        // owner_ is set by answer_node before calling.
        if (qtype == type::a) {
            for (const auto& ip : answer.v4) {
                if (overflow_) return;
                add(w_.a(owner_, ttl, ip.to_bytes()));
            }
        } else {
            for (const auto& ip : answer.v6) {
                if (overflow_) return;
                add(w_.aaaa(owner_, ttl, ip.to_bytes()));
            }
        }
    }

    // Answers `qtype` at an existing name; false when there is nothing to answer (NODATA).
    bool answer_node(const Zone& zone, const Node* node, std::string_view owner,
                     std::uint16_t qtype) {
        w_.section(Section::answer);
        owner_ = owner;
        const std::uint16_t before = w_.count(Section::answer);
        const bool apex = owner == zone.origin;
        switch (qtype) {
            case type::a:
                if (node == nullptr) break;
                if (node->steered) {
                    steer(*node->steered, qtype);
                } else {
                    for (const auto& ip : node->a)
                        add(w_.a(owner, node->a_ttl, ip.to_bytes()));
                }
                break;
            case type::aaaa:
                if (node == nullptr) break;
                if (node->steered) {
                    steer(*node->steered, qtype);
                } else {
                    for (const auto& ip : node->aaaa)
                        add(w_.aaaa(owner, node->aaaa_ttl, ip.to_bytes()));
                }
                break;
            case type::ns:
                if (!apex || node == nullptr) break;
                for (const std::string& target : node->ns)
                    add(w_.ns(owner, node->ns_ttl, target));
                glue_zone_ = &zone;
                glue_node_ = node;
                break;
            case type::soa:
                if (apex) add(w_.soa(owner, zone.soa.ttl, soa_fields(zone.soa)));
                break;
            case type::cname:
                if (node != nullptr && node->cname)
                    add(w_.cname(owner, node->cname_ttl, *node->cname));
                break;
            case type::txt:
                if (node == nullptr) break;
                for (const std::string& text : node->txt)
                    add(w_.txt(owner, node->txt_ttl, text));
                break;
            case type::any: add(w_.hinfo(owner, any_hinfo_ttl, "RFC8482", "")); break;
            default: break;
        }
        return overflow_ || w_.count(Section::answer) != before;
    }

    const ZoneSet& zones_;
    const Steering& steering_;
    ResponseWriter& w_;
    const ClientAddress& client_;
    std::string_view owner_;
    bool overflow_ = false;
    bool steered_ = false;
    std::uint8_t scope_ = 0;
    const Zone* glue_zone_ = nullptr;
    const Node* glue_node_ = nullptr;
};

}  // namespace

ResponseInfo respond(const ZoneSet& zones, const Steering& steering,
                     std::span<const std::uint8_t> query, const boost::asio::ip::address& source,
                     Transport transport, const ResponderOptions& options,
                     std::span<std::uint8_t> out) {
    ResponseInfo info;
    codec::Query q;
    const ParseOutcome outcome = codec::outcome_of(codec::parse_query(query, q));
    if (outcome == ParseOutcome::drop) return info;
    info.qtype = q.has_question ? q.question.qtype : 0;

    std::size_t limit = codec::plain_udp_limit;
    if (transport == Transport::tcp) {
        limit = codec::tcp_limit;
    } else if (q.edns) {
        limit = std::max<std::size_t>(codec::plain_udp_limit,
                                      std::min(q.edns->udp_payload, options.max_udp_payload));
    }
    ResponseWriter w(out, limit);
    std::uint16_t flags = static_cast<std::uint16_t>(
        codec::flag::qr | (q.header.flags & (0x7800 | codec::flag::rd | codec::flag::cd)));
    if (w.header(q.header.id, flags) != WriteStatus::ok) return info;
    bool truncated = false;
    if (q.has_question && w.question(q.question.name, q.question.qtype, q.question.qclass,
                                     q.question.canonical.view()) != WriteStatus::ok)
        truncated = true;  // only with an absurdly small `out`

    // The ECS option we echo (RFC 7871 7.2.1): same family, source prefix and address; scope set
    // below. Only for queries that parsed: errors carry a bare OPT.
    std::optional<codec::Ecs> ecs;
    if (outcome == ParseOutcome::ok && q.edns && q.edns->ecs) ecs = q.edns->ecs;
    const std::size_t opt_reserve = q.edns ? ResponseWriter::opt_size(ecs ? &*ecs : nullptr) : 0;

    std::uint16_t rc = rcode::noerror;
    switch (outcome) {
        case ParseOutcome::drop:  // handled above
        case ParseOutcome::formerr: rc = rcode::formerr; break;
        case ParseOutcome::notimp: rc = rcode::notimp; break;
        case ParseOutcome::badvers: rc = rcode::badvers; break;
        case ParseOutcome::ok: {
            const Zone* zone = find_zone(zones, q.question.canonical.view());
            if (q.question.qclass != codec::qclass::in || q.question.qtype == type::axfr ||
                q.question.qtype == type::ixfr || zone == nullptr) {
                rc = rcode::refused;
                break;
            }
            flags |= codec::flag::aa;
            if (truncated) break;
            const ClientAddress client = client_address(q, source);
            w.set_limit(w.limit() > opt_reserve ? w.limit() - opt_reserve : 0);
            const ResponseWriter::Mark after_question = w.mark();
            Answerer answerer(zones, steering, w, client);
            rc = answerer.resolve(q.question.canonical.view(), q.question.qtype, zone);
            if (options.name_hash) {
                info.name_hash = hash_name(rc == rcode::nxdomain ? std::string_view(zone->origin)
                                                                 : q.question.canonical.view());
            }
            answerer.glue();
            if (answerer.overflow()) {
                w.rollback(after_question);
                truncated = true;
            }
            w.set_limit(limit);
            info.steered = answerer.steered();
            if (ecs) {
                // The steering's scope as it is, wider or narrower than the source (RFC 7871
                // 7.2.1, as gdnsd): a narrower one tells the resolver the source was too short.
                ecs->scope_prefix =
                    answerer.steered() && ecs->source_prefix > 0 ? answerer.scope() : 0;
            }
            break;
        }
    }

    if (truncated) flags |= codec::flag::tc;
    flags = static_cast<std::uint16_t>(flags | (rc & 0x0F));
    w.set_flags(flags);
    if (q.edns) {
        const auto ext = static_cast<std::uint8_t>(rc >> 4);
        if (w.opt(options.max_udp_payload, ext, 0, q.edns->dnssec_ok, ecs ? &*ecs : nullptr) ==
            WriteStatus::ok) {
            info.edns = true;
            info.ecs = ecs.has_value();
        }
    }
    info.size = w.finish();
    info.rcode = rc;
    info.truncated = truncated;
    return info;
}

}  // namespace cdn::geodns
