#pragma once
// Writes a DNS response into a caller-provided buffer, never past a byte limit: header, the
// echoed question, resource records (A, AAAA, NS, CNAME, SOA, TXT, HINFO, OPT with an ECS option)
// with name compression against every name already written (a fixed table of 64 label offsets).
// Each record is written whole or not at all; mark()/rollback() undo several (used to drop the
// sections that did not fit and set TC). No allocation. One writer per response; not thread-safe.
#include "geodns/codec/name.hpp"
#include "geodns/codec/query.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace cdn::geodns::codec {

enum class WriteStatus : std::uint8_t {
    ok,
    no_space,  // nothing was written: the record does not fit under the limit
    bad_name,  // nothing was written: a text name is not a valid domain name
};

enum class Section : std::uint8_t { answer = 1, authority = 2, additional = 3 };

struct SoaFields {
    std::string_view mname;
    std::string_view rname;
    std::uint32_t serial = 0;
    std::uint32_t refresh = 0;
    std::uint32_t retry = 0;
    std::uint32_t expire = 0;
    std::uint32_t minimum = 0;
};

class ResponseWriter {
  public:
    struct Mark {
        std::size_t size = 0;
        std::array<std::uint16_t, 4> counts{};
        std::size_t table_size = 0;
    };

    // Uses at most min(limit, out.size(), 65535) bytes of `out`, which must outlive the writer.
    ResponseWriter(std::span<std::uint8_t> out, std::size_t limit);

    // Call first: the 12-byte header with zero counts (finish() fills them in).
    WriteStatus header(std::uint16_t id, std::uint16_t flags);
    void set_flags(std::uint16_t flags);
    std::uint16_t flags() const;

    // The question, with the name's bytes as received (case preserved); counts in QDCOUNT.
    // `canonical`, when given, is the name's canonical text (codec::canonical_text; it must
    // outlive the writer): an owner name equal to it is then written as a pointer to the
    // question at once, without the suffix search (the usual answer: issue 19).
    WriteStatus question(const WireName& name, std::uint16_t qtype, std::uint16_t qclass,
                         std::string_view canonical = {});

    // Records written from now on count in `s`. Sections must be visited in order.
    void section(Section s) { section_ = s; }

    // Owner and target names are canonical text (zone.hpp), "" being the root.
    WriteStatus a(std::string_view owner, std::uint32_t ttl, const std::array<std::uint8_t, 4>& ip);
    WriteStatus aaaa(std::string_view owner, std::uint32_t ttl,
                     const std::array<std::uint8_t, 16>& ip);
    WriteStatus ns(std::string_view owner, std::uint32_t ttl, std::string_view target);
    WriteStatus cname(std::string_view owner, std::uint32_t ttl, std::string_view target);
    WriteStatus soa(std::string_view owner, std::uint32_t ttl, const SoaFields& soa);
    // One TXT record; text longer than 255 bytes is split into several character-strings.
    WriteStatus txt(std::string_view owner, std::uint32_t ttl, std::string_view text);
    WriteStatus hinfo(std::string_view owner, std::uint32_t ttl, std::string_view cpu,
                      std::string_view os);
    // The OPT pseudo-record (RFC 6891 6.1.2), with an ECS option when `ecs` is non-null (echoing
    // its family, source prefix and address; scope as given).
    WriteStatus opt(std::uint16_t udp_payload, std::uint8_t extended_rcode, std::uint8_t version,
                    bool dnssec_ok, const Ecs* ecs);
    // Bytes opt() will take.
    static std::size_t opt_size(const Ecs* ecs);

    // Lower (or restore) the limit, e.g. to keep room for the OPT record. Clamped to the
    // constructor's limit.
    void set_limit(std::size_t limit);
    std::size_t limit() const { return limit_; }

    Mark mark() const;
    void rollback(const Mark& m);

    std::uint16_t count(Section s) const { return counts_[static_cast<std::size_t>(s)]; }
    std::size_t size() const { return size_; }

    // Writes the section counts into the header; returns the message size (0 when the header
    // never fit).
    std::size_t finish();

  private:
    bool room(std::size_t n) const { return size_ <= limit_ && limit_ - size_ >= n; }
    void put8(std::uint8_t v) { out_[size_++] = v; }
    void put16(std::uint16_t v);
    void put32(std::uint32_t v);
    void remember(std::size_t offset);
    std::size_t find_suffix(const TextLabels& labels, std::size_t first) const;
    bool matches_at(std::size_t offset, const TextLabels& labels, std::size_t first) const;
    WriteStatus name(std::string_view text);
    WriteStatus character_string(std::string_view s);
    // Owner, type, class IN, TTL and a placeholder RDLENGTH; `rdlength_at` receives its offset.
    WriteStatus begin(std::string_view owner, std::uint16_t rtype, std::uint16_t rclass,
                      std::uint32_t ttl, std::size_t& rdlength_at);
    void end(std::size_t rdlength_at);
    template <typename F>
    WriteStatus record(F&& body);

    std::span<std::uint8_t> out_;
    std::size_t max_limit_;
    std::size_t limit_;
    std::size_t size_ = 0;
    std::array<std::uint16_t, 4> counts_{};  // question, answer, authority, additional
    Section section_ = Section::answer;
    std::array<std::uint16_t, 64> table_{};  // offsets of labels written uncompressed
    std::size_t table_size_ = 0;
    std::string_view question_text_;  // the question's canonical name; empty: not known
};

}  // namespace cdn::geodns::codec
