#include "geodns/codec/response_writer.hpp"

#include <algorithm>
#include <cstring>

namespace cdn::geodns::codec {

namespace {
constexpr std::size_t max_pointer_target = 0x3FFF;
constexpr int max_jumps = 127;
}  // namespace

ResponseWriter::ResponseWriter(std::span<std::uint8_t> out, std::size_t limit)
    : out_(out), max_limit_(std::min({limit, out.size(), tcp_limit})), limit_(max_limit_) {}

// Through a local pointer: stores through out_ (bytes) may alias size_, so put8 twice would
// reload and store size_ twice.
void ResponseWriter::put16(std::uint16_t v) {
    std::uint8_t* p = out_.data() + size_;
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
    size_ += 2;
}

void ResponseWriter::put32(std::uint32_t v) {
    std::uint8_t* p = out_.data() + size_;
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
    size_ += 4;
}

WriteStatus ResponseWriter::header(std::uint16_t id, std::uint16_t flags) {
    size_ = 0;
    counts_ = {};
    table_size_ = 0;
    question_text_ = {};
    if (!room(header_size)) return WriteStatus::no_space;
    put16(id);
    put16(flags);
    std::memset(out_.data() + size_, 0, 8);
    size_ += 8;
    return WriteStatus::ok;
}

void ResponseWriter::set_flags(std::uint16_t flags) {
    if (out_.size() >= header_size && size_ >= header_size) {
        out_[2] = static_cast<std::uint8_t>(flags >> 8);
        out_[3] = static_cast<std::uint8_t>(flags);
    }
}

std::uint16_t ResponseWriter::flags() const {
    if (size_ < header_size) return 0;
    return static_cast<std::uint16_t>((out_[2] << 8) | out_[3]);
}

void ResponseWriter::remember(std::size_t offset) {
    if (offset <= max_pointer_target && table_size_ < table_.size()) {
        table_[table_size_++] = static_cast<std::uint16_t>(offset);
    }
}

WriteStatus ResponseWriter::question(const WireName& qname, std::uint16_t qtype,
                                     std::uint16_t qclass, std::string_view canonical) {
    if (size_ < header_size) return WriteStatus::no_space;
    if (!room(std::size_t{qname.size} + 4)) return WriteStatus::no_space;
    const std::size_t start = size_;
    std::size_t i = 0;
    while (i < qname.size && qname.bytes[i] != 0) {
        remember(start + i);
        i += 1 + std::size_t{qname.bytes[i]};
    }
    // A pointer reaches the question only at the header's end (the first question written).
    if (start == header_size && !canonical.empty()) question_text_ = canonical;
    std::memcpy(out_.data() + size_, qname.bytes.data(), qname.size);
    size_ += qname.size;
    put16(qtype);
    put16(qclass);
    ++counts_[0];
    return WriteStatus::ok;
}

bool ResponseWriter::matches_at(std::size_t offset, const TextLabels& labels,
                                std::size_t first) const {
    // Everything followed here was written by this writer: labels inside size_, pointers
    // backward to remembered offsets. The jump bound is belt and braces.
    std::size_t p = offset;
    int jumps = 0;
    auto follow = [&]() {
        while ((out_[p] & 0xC0) == 0xC0) {
            p = (std::size_t{out_[p] & 0x3Fu} << 8) | out_[p + 1];
            if (++jumps > max_jumps) return false;
        }
        return true;
    };
    for (std::size_t j = first; j < labels.count; ++j) {
        if (!follow()) return false;
        const std::size_t len = out_[p];
        if (len == 0 || !labels_equal(out_.subspan(p + 1, len), labels.labels[j])) return false;
        p += 1 + len;
    }
    return follow() && out_[p] == 0;
}

std::size_t ResponseWriter::find_suffix(const TextLabels& labels, std::size_t first) const {
    for (std::size_t k = 0; k < table_size_; ++k) {
        if (matches_at(table_[k], labels, first)) return table_[k];
    }
    return 0;  // never a valid target: offset 0 is the header
}

WriteStatus ResponseWriter::name(std::string_view text) {
    if (!question_text_.empty() && text == question_text_) {
        if (!room(2)) return WriteStatus::no_space;
        put16(static_cast<std::uint16_t>(0xC000u | header_size));
        return WriteStatus::ok;
    }
    TextLabels labels;
    if (!split_text_name(text, labels)) return WriteStatus::bad_name;
    for (std::size_t i = 0; i < labels.count; ++i) {
        if (const std::size_t target = find_suffix(labels, i); target != 0) {
            if (!room(2)) return WriteStatus::no_space;
            put16(static_cast<std::uint16_t>(0xC000u | target));
            return WriteStatus::ok;
        }
        const std::string_view label = labels.labels[i];
        if (!room(1 + label.size())) return WriteStatus::no_space;
        remember(size_);
        put8(static_cast<std::uint8_t>(label.size()));
        std::memcpy(out_.data() + size_, label.data(), label.size());
        size_ += label.size();
    }
    if (!room(1)) return WriteStatus::no_space;
    put8(0);
    return WriteStatus::ok;
}

WriteStatus ResponseWriter::character_string(std::string_view s) {
    if (s.size() > 255 || !room(1 + s.size())) return WriteStatus::no_space;
    put8(static_cast<std::uint8_t>(s.size()));
    std::memcpy(out_.data() + size_, s.data(), s.size());
    size_ += s.size();
    return WriteStatus::ok;
}

WriteStatus ResponseWriter::begin(std::string_view owner, std::uint16_t rtype, std::uint16_t rclass,
                                  std::uint32_t ttl, std::size_t& rdlength_at) {
    if (size_ < header_size) return WriteStatus::no_space;
    if (const WriteStatus s = name(owner); s != WriteStatus::ok) return s;
    if (!room(10)) return WriteStatus::no_space;
    put16(rtype);
    put16(rclass);
    put32(ttl);
    rdlength_at = size_;
    put16(0);
    return WriteStatus::ok;
}

void ResponseWriter::end(std::size_t rdlength_at) {
    const std::size_t len = size_ - rdlength_at - 2;
    out_[rdlength_at] = static_cast<std::uint8_t>(len >> 8);
    out_[rdlength_at + 1] = static_cast<std::uint8_t>(len);
    ++counts_[static_cast<std::size_t>(section_)];
}

template <typename F>
WriteStatus ResponseWriter::record(F&& body) {
    const Mark m = mark();
    const WriteStatus s = body();
    if (s != WriteStatus::ok) rollback(m);
    return s;
}

WriteStatus ResponseWriter::a(std::string_view owner, std::uint32_t ttl,
                              const std::array<std::uint8_t, 4>& ip) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::a, qclass::in, ttl, at); s != WriteStatus::ok)
            return s;
        if (!room(ip.size())) return WriteStatus::no_space;
        std::memcpy(out_.data() + size_, ip.data(), ip.size());
        size_ += ip.size();
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::aaaa(std::string_view owner, std::uint32_t ttl,
                                 const std::array<std::uint8_t, 16>& ip) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::aaaa, qclass::in, ttl, at);
            s != WriteStatus::ok)
            return s;
        if (!room(ip.size())) return WriteStatus::no_space;
        std::memcpy(out_.data() + size_, ip.data(), ip.size());
        size_ += ip.size();
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::ns(std::string_view owner, std::uint32_t ttl, std::string_view target) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::ns, qclass::in, ttl, at); s != WriteStatus::ok)
            return s;
        if (const WriteStatus s = name(target); s != WriteStatus::ok) return s;
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::cname(std::string_view owner, std::uint32_t ttl,
                                  std::string_view target) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::cname, qclass::in, ttl, at);
            s != WriteStatus::ok)
            return s;
        if (const WriteStatus s = name(target); s != WriteStatus::ok) return s;
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::soa(std::string_view owner, std::uint32_t ttl, const SoaFields& soa) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::soa, qclass::in, ttl, at);
            s != WriteStatus::ok)
            return s;
        if (const WriteStatus s = name(soa.mname); s != WriteStatus::ok) return s;
        if (const WriteStatus s = name(soa.rname); s != WriteStatus::ok) return s;
        if (!room(20)) return WriteStatus::no_space;
        put32(soa.serial);
        put32(soa.refresh);
        put32(soa.retry);
        put32(soa.expire);
        put32(soa.minimum);
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::txt(std::string_view owner, std::uint32_t ttl, std::string_view text) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::txt, qclass::in, ttl, at);
            s != WriteStatus::ok)
            return s;
        do {
            const std::string_view chunk = text.substr(0, 255);
            if (const WriteStatus s = character_string(chunk); s != WriteStatus::ok) return s;
            text.remove_prefix(chunk.size());
        } while (!text.empty());
        if (size_ - at - 2 > 0xFFFF) return WriteStatus::no_space;
        end(at);
        return WriteStatus::ok;
    });
}

WriteStatus ResponseWriter::hinfo(std::string_view owner, std::uint32_t ttl, std::string_view cpu,
                                  std::string_view os) {
    return record([&] {
        std::size_t at = 0;
        if (const WriteStatus s = begin(owner, type::hinfo, qclass::in, ttl, at);
            s != WriteStatus::ok)
            return s;
        if (const WriteStatus s = character_string(cpu); s != WriteStatus::ok) return s;
        if (const WriteStatus s = character_string(os); s != WriteStatus::ok) return s;
        end(at);
        return WriteStatus::ok;
    });
}

std::size_t ResponseWriter::opt_size(const Ecs* ecs) {
    return 11 + (ecs != nullptr ? 8 + ecs->address_bytes() : 0);
}

WriteStatus ResponseWriter::opt(std::uint16_t udp_payload, std::uint8_t extended_rcode,
                                std::uint8_t version, bool dnssec_ok, const Ecs* ecs) {
    if (size_ < header_size) return WriteStatus::no_space;
    if (!room(opt_size(ecs))) return WriteStatus::no_space;
    put8(0);  // root owner
    put16(type::opt);
    put16(udp_payload);
    put32((std::uint32_t{extended_rcode} << 24) | (std::uint32_t{version} << 16) |
          (dnssec_ok ? edns_do_bit : 0u));
    if (ecs == nullptr) {
        put16(0);
    } else {
        const std::size_t n = ecs->address_bytes();
        put16(static_cast<std::uint16_t>(8 + n));
        put16(edns_option_ecs);
        put16(static_cast<std::uint16_t>(4 + n));
        put16(ecs->family);
        put8(ecs->source_prefix);
        put8(ecs->scope_prefix);
        std::memcpy(out_.data() + size_, ecs->address.data(), n);
        size_ += n;
    }
    ++counts_[static_cast<std::size_t>(Section::additional)];
    return WriteStatus::ok;
}

void ResponseWriter::set_limit(std::size_t limit) {
    limit_ = std::min(limit, max_limit_);
}

ResponseWriter::Mark ResponseWriter::mark() const {
    return Mark{size_, counts_, table_size_};
}

void ResponseWriter::rollback(const Mark& m) {
    size_ = m.size;
    counts_ = m.counts;
    table_size_ = m.table_size;
    if (size_ <= header_size) question_text_ = {};  // the question is gone
}

std::size_t ResponseWriter::finish() {
    if (size_ < header_size) return 0;
    for (std::size_t i = 0; i < 4; ++i) {
        out_[4 + 2 * i] = static_cast<std::uint8_t>(counts_[i] >> 8);
        out_[5 + 2 * i] = static_cast<std::uint8_t>(counts_[i]);
    }
    return size_;
}

}  // namespace cdn::geodns::codec
