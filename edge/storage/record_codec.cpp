#include "edge/storage/record_codec.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <bit>
#include <chrono>
#include <cstring>

namespace cdn::edge::storage {

static_assert(std::endian::native == std::endian::little,
              "the record layout is little-endian and written as a struct");

namespace {

constexpr std::uint64_t kMaxPart = std::uint64_t{1} << 40;  // 1 TiB: anything larger is garbage
constexpr std::uint32_t kMaxVariants = 1024;

enum Flags : std::uint8_t {
    kHeuristic = 1,
    kNoCache = 2,
    kMustRevalidate = 4,
    kLengthKnown = 8,
    kHasBody = 16,
    kHasVariants = 32,
    kCdnFields = 64,
};

class Writer {
  public:
    explicit Writer(std::string& out) : out_(out) {}
    template <class T>
    void num(T v) {
        char b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));
        out_.append(b, sizeof(T));
    }
    void str(std::string_view s) {
        num(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }

  private:
    std::string& out_;
};

class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    template <class T>
    bool num(T& v) {
        if (in_.size() < sizeof(T)) return false;
        std::memcpy(&v, in_.data(), sizeof(T));
        in_.remove_prefix(sizeof(T));
        return true;
    }
    bool str(std::string_view& s) {
        std::uint32_t n = 0;
        if (!num(n) || in_.size() < n) return false;
        s = in_.substr(0, n);
        in_.remove_prefix(n);
        return true;
    }
    bool done() const { return in_.empty(); }

  private:
    std::string_view in_;
};

std::int64_t to_us(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

void encode_meta(Writer& w, const CachedObject& obj) {
    const ObjectMeta& m = obj.meta;
    std::uint8_t flags = 0;
    if (m.heuristic) flags |= kHeuristic;
    if (m.no_cache) flags |= kNoCache;
    if (m.must_revalidate) flags |= kMustRevalidate;
    if (m.content_length_known) flags |= kLengthKnown;
    if (obj.body) flags |= kHasBody;
    if (obj.variants) flags |= kHasVariants;
    if (m.cdn_fields) flags |= kCdnFields;
    w.num(static_cast<std::uint16_t>(obj.status));
    w.num(flags);
    w.num(to_us(m.response_time));
    w.num(static_cast<std::int64_t>(m.initial_age.count()));
    w.num(static_cast<std::int64_t>(m.lifetime.count()));
    w.num(static_cast<std::int64_t>(m.stale_while_revalidate.count()));
    w.num(static_cast<std::int64_t>(m.stale_if_error.count()));
    if (!obj.variants) return;
    const VariantSet& set = *obj.variants;
    w.num(static_cast<std::uint32_t>(set.fields.size()));
    for (const auto& f : set.fields)
        w.str(f);
    w.num(static_cast<std::uint32_t>(set.variants.size()));
    for (const auto& [id, v] : set.variants) {
        std::string nested;
        Writer nw(nested);
        encode_meta(nw, *v);
        w.str(id);
        w.str(v->key());
        w.num(v->seq);
        w.str(nested);
        w.str(v->head());
        w.str(v->body ? std::string_view(*v->body) : std::string_view{});
    }
}

bool decode_meta(Reader& r, CachedObject& obj, bool& has_body, int depth) {
    std::uint16_t status = 0;
    std::uint8_t flags = 0;
    std::int64_t rt = 0, age = 0, life = 0, swr = 0, sie = 0;
    if (!r.num(status) || !r.num(flags) || !r.num(rt) || !r.num(age) || !r.num(life) ||
        !r.num(swr) || !r.num(sie))
        return false;
    obj.status = status;
    ObjectMeta& m = obj.meta;
    m.response_time =
        TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(rt)));
    m.initial_age = to_secs32(Seconds(age));
    m.lifetime = to_secs32(Seconds(life));
    m.stale_while_revalidate = to_secs32(Seconds(swr));
    m.stale_if_error = to_secs32(Seconds(sie));
    m.heuristic = flags & kHeuristic;
    m.no_cache = flags & kNoCache;
    m.must_revalidate = flags & kMustRevalidate;
    m.content_length_known = flags & kLengthKnown;
    m.cdn_fields = flags & kCdnFields;
    has_body = flags & kHasBody;
    if (!(flags & kHasVariants)) return true;
    if (depth > 0) return false;  // variants do not nest
    auto set = make_variant_set();
    std::uint32_t nfields = 0, nvariants = 0;
    if (!r.num(nfields) || nfields > kMaxVariants) return false;
    for (std::uint32_t i = 0; i < nfields; ++i) {
        std::string_view f;
        if (!r.str(f)) return false;
        set->fields.emplace_back(f);
    }
    if (!r.num(nvariants) || nvariants > kMaxVariants) return false;
    for (std::uint32_t i = 0; i < nvariants; ++i) {
        std::string_view id, key, nested, head, body;
        std::uint64_t seq = 0;
        if (!r.str(id) || !r.str(key) || !r.num(seq) || !r.str(nested) || !r.str(head) ||
            !r.str(body))
            return false;
        auto v = CachedObject::make(key, head);
        v->seq = seq;
        Reader nr(nested);
        bool nested_body = false;
        if (!decode_meta(nr, *v, nested_body, depth + 1) || !nr.done()) return false;
        if (nested_body) v->body = new_body(body);
        set->variants.emplace_back(std::string(id), std::move(v));
    }
    obj.variants = std::move(set);
    return true;
}

}  // namespace

std::int64_t inserted_ms_of(const CachedObject& obj) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               obj.meta.response_time.time_since_epoch())
        .count();
}

std::uint64_t key_hash(std::string_view key) noexcept {
    return XXH3_64bits(key.data(), key.size());
}

std::uint64_t checksum(std::span<const std::string_view> parts) noexcept {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    for (std::string_view p : parts)
        XXH3_64bits_update(&state, p.data(), p.size());
    return XXH3_64bits_digest(&state);
}

void seal(RecordHeader& h) noexcept {
    h.header_sum = XXH3_64bits(&h, offsetof(RecordHeader, header_sum));
}

bool read_header(std::string_view bytes, RecordHeader& out) noexcept {
    if (bytes.size() < sizeof(RecordHeader)) return false;
    std::memcpy(&out, bytes.data(), sizeof(RecordHeader));
    if (out.magic != RecordHeader::kMagic || out.version != RecordHeader::kVersion) return false;
    if (out.header_sum != XXH3_64bits(&out, offsetof(RecordHeader, header_sum))) return false;
    if (out.kind != static_cast<std::uint8_t>(RecordKind::object) &&
        out.kind != static_cast<std::uint8_t>(RecordKind::tombstone))
        return false;
    return out.body_len < kMaxPart;
}

EncodedRecord encode_object(const CachedObject& obj, std::uint64_t generation) {
    EncodedRecord rec;
    std::string meta;
    Writer w(meta);
    encode_meta(w, obj);
    rec.head = obj.head();
    rec.body = obj.body ? std::string_view(*obj.body) : std::string_view{};
    RecordHeader& h = rec.header;
    h.kind = static_cast<std::uint8_t>(RecordKind::object);
    h.key_len = static_cast<std::uint32_t>(obj.key().size());
    h.meta_len = static_cast<std::uint32_t>(meta.size());
    h.head_len = static_cast<std::uint32_t>(obj.head().size());
    h.body_len = rec.body.size();
    h.generation = generation;
    h.key_hash = key_hash(obj.key());
    h.seq = obj.seq;
    h.inserted_ms = inserted_ms_of(obj);
    const std::string_view parts[] = {obj.key(), meta, rec.head, rec.body};
    h.data_sum = checksum(parts);
    seal(h);
    rec.prefix.reserve(sizeof(RecordHeader) + obj.key().size() + meta.size());
    rec.prefix.append(reinterpret_cast<const char*>(&h), sizeof(RecordHeader));
    rec.prefix += obj.key();
    rec.prefix += meta;
    rec.padding = h.record_size() - sizeof(RecordHeader) - h.data_size();
    return rec;
}

std::string encode_tombstone(std::string_view key, std::uint64_t hash, std::uint64_t seq,
                             std::int64_t now_ms, std::uint64_t generation) {
    RecordHeader h;
    h.kind = static_cast<std::uint8_t>(RecordKind::tombstone);
    h.key_len = static_cast<std::uint32_t>(key.size());
    h.generation = generation;
    h.key_hash = hash;
    h.seq = seq;
    h.inserted_ms = now_ms;
    const std::string_view parts[] = {key};
    h.data_sum = checksum(parts);
    seal(h);
    std::string out(reinterpret_cast<const char*>(&h), sizeof(RecordHeader));
    out += key;
    out.resize(h.record_size(), '\0');
    return out;
}

ObjectPtr decode_object(const RecordHeader& h, std::string_view key, std::string_view meta,
                        std::string_view head, BodyPtr body) {
    auto obj = CachedObject::make(key, head);
    Reader r(meta);
    bool has_body = false;
    if (!decode_meta(r, *obj, has_body, 0) || !r.done()) return nullptr;
    obj->seq = h.seq;
    if (has_body) obj->body = std::move(body);
    return obj;
}

}  // namespace cdn::edge::storage
