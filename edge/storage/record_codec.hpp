#pragma once
// The on-disk form of a CachedObject: one record in a segment file. Pure code (no I/O) so that
// the codec is tested byte by byte and the disk store only moves bytes.
//
//   RecordHeader (80 bytes, little-endian, fixed layout)
//   key        key_len bytes
//   meta       meta_len bytes: status, ObjectMeta, validators, and (for a URL whose response
//              varies) the whole VariantSet, each variant a nested record body
//   head       head_len bytes: the pre-serialised HTTP/1.1 head, as stored in memory
//   body       body_len bytes
//   padding    to a multiple of 8, so the next header is aligned
//
// header_sum (xxh3 of the header's first 72 bytes) lets start-up trust a header, and so skip
// the record, without reading the rest; data_sum (xxh3 of key, meta, head and body) is checked
// on every read, so a torn or corrupted record is dropped, never served.
#include "edge/storage/cached_object.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cdn::edge::storage {

enum class RecordKind : std::uint8_t { object = 1, tombstone = 2 };

struct RecordHeader {
    static constexpr std::uint32_t kMagic = 0x52'4e'44'43;  // "CDNR"
    static constexpr std::uint16_t kVersion = 1;

    std::uint32_t magic = kMagic;
    std::uint16_t version = kVersion;
    std::uint8_t kind = static_cast<std::uint8_t>(RecordKind::object);
    std::uint8_t reserved = 0;
    std::uint32_t key_len = 0;
    std::uint32_t meta_len = 0;
    std::uint32_t head_len = 0;
    std::uint32_t reserved2 = 0;
    std::uint64_t body_len = 0;
    std::uint64_t generation = 0;  // of the segment the record was written into
    std::uint64_t key_hash = 0;    // the index key, so start-up need not read the key
    std::uint64_t seq = 0;         // CachedObject::seq (a tombstone's own sequence)
    std::int64_t inserted_ms = 0;  // insertion time, Unix milliseconds
    std::uint64_t data_sum = 0;
    std::uint64_t header_sum = 0;

    RecordKind record_kind() const { return static_cast<RecordKind>(kind); }
    // Bytes of key, meta, head and body.
    std::uint64_t data_size() const {
        return std::uint64_t{key_len} + meta_len + head_len + body_len;
    }
    // The whole record on disk, header and padding included.
    std::uint64_t record_size() const { return padded(sizeof(RecordHeader) + data_size()); }
    static std::uint64_t padded(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
};
static_assert(sizeof(RecordHeader) == 80);

std::uint64_t key_hash(std::string_view key) noexcept;
std::uint64_t checksum(std::span<const std::string_view> parts) noexcept;

// Seals a header: fills header_sum.
void seal(RecordHeader& h) noexcept;
// True when `bytes` (at least sizeof(RecordHeader)) holds a sealed header of a known version
// and kind whose lengths are sane; fills `out`.
bool read_header(std::string_view bytes, RecordHeader& out) noexcept;

// An object's record, ready to be written with one gathered write: `prefix` is header + key +
// meta; head and body are the object's own strings (not copied); then `padding` zero bytes.
struct EncodedRecord {
    std::string prefix;
    std::string_view head;
    std::string_view body;
    std::size_t padding = 0;
    RecordHeader header;
};
EncodedRecord encode_object(const CachedObject& obj, std::uint64_t generation);
// An object's insertion time as records store it: meta.response_time in Unix milliseconds.
std::int64_t inserted_ms_of(const CachedObject& obj) noexcept;
// A tombstone: the key (whose hash is `hash`; the key itself may be unknown, then empty) is
// gone as of `seq`.
std::string encode_tombstone(std::string_view key, std::uint64_t hash, std::uint64_t seq,
                             std::int64_t now_ms, std::uint64_t generation);

// Rebuilds an object from a record's parts (after header and data_sum were checked); nullopt
// when the meta area does not parse. `body` (read from the record) becomes the object's, not
// copied; it is dropped when the meta says the object has none.
ObjectPtr decode_object(const RecordHeader& h, std::string_view key, std::string_view meta,
                        std::string_view head, BodyPtr body);

}  // namespace cdn::edge::storage
