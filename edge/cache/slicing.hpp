#pragma once
// Large objects in slices (nginx slice module style): with [origin.slice] size = S, a miss asks
// the origin for the slice of S bytes that holds the first byte it needs; a 206 for a larger
// object is stored as one cache object per slice plus, under the URL's key, a "manifest": the
// object's 200 head with no body, marked with S and the total length. The pure parts live here:
// slice arithmetic, Content-Range parsing, the manifest marker and the version checks that keep
// two versions of an object from being spliced into one body.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::cache {

// Allowed [origin.slice] size values.
constexpr std::uint64_t kMinSliceSize = 64 * 1024;
constexpr std::uint64_t kMaxSliceSize = 64 * 1024 * 1024;

// A parsed "Content-Range: bytes FIRST-LAST/TOTAL" (RFC 9110 section 14.4): FIRST <= LAST < TOTAL.
struct ContentRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t total = 0;
    bool operator==(const ContentRange&) const = default;
};
// nullopt for anything else ("bytes */N", an unknown total "*", another unit, garbage).
std::optional<ContentRange> parse_content_range(std::string_view value) noexcept;

// Slice arithmetic. Slice k holds bytes [k*S, min((k+1)*S, total) - 1].
constexpr std::uint64_t slice_of(std::uint64_t offset, std::uint64_t size) noexcept {
    return offset / size;
}
constexpr std::uint64_t slice_count(std::uint64_t total, std::uint64_t size) noexcept {
    return total / size + (total % size ? 1 : 0);
}
// The Range request field for slice k: "bytes=k*S-((k+1)*S-1)".
std::string slice_range_field(std::uint64_t k, std::uint64_t size);
// Whether a 206 answering slice k's request is what was asked: it starts at k*S and ends at the
// slice's end (or the object's), and its body has that length.
bool is_slice_response(const ContentRange& cr, std::uint64_t k, std::uint64_t size,
                       std::optional<std::uint64_t> content_length) noexcept;

// The first byte a client's Range asks for, for choosing the slice to fetch first: the lowest
// FIRST of a "bytes=" range set; 0 for a suffix range (its place depends on the unknown total),
// a missing or unusable field.
std::uint64_t first_wanted_byte(std::string_view range) noexcept;

// The key a slice is stored under: the URL's key and a suffix with '#', which no request target
// has (the edge refuses targets with a fragment), so it cannot collide with a real URL's key.
// Prefix, host and tag purges match it as they match the URL's own key.
std::string slice_key(std::string_view url_key, std::uint64_t k);

// The marker field a manifest carries in its stored head (never sent to clients).
inline constexpr std::string_view kManifestField = "CDN-Slice-Manifest";
struct ManifestMarker {
    std::uint64_t slice_size = 0;
    std::uint64_t total = 0;
};
std::string format_manifest_marker(ManifestMarker m);  // "S/TOTAL"
std::optional<ManifestMarker> parse_manifest_marker(std::string_view value) noexcept;

// Which version of the object a response is: its strong ETag, else its Last-Modified.
struct SliceVersion {
    std::string_view etag;           // strong only; a weak one is ignored
    std::string_view last_modified;  // used when there is no strong ETag
    std::uint64_t total = 0;
};
// Whether a response with these validators can be sliced at all: a strong ETag or a
// Last-Modified date (weak or missing ETag and no Last-Modified: fetch it whole, as without
// slicing).
bool sliceable(std::string_view etag, std::string_view last_modified) noexcept;
// Whether a slice (or a new response) is of the same version as the manifest: the same strong
// ETag (or, when the manifest has none, the same Last-Modified) and the same total length.
bool same_version(std::string_view manifest_etag, std::string_view manifest_last_modified,
                  std::uint64_t manifest_total, std::string_view etag,
                  std::string_view last_modified, std::uint64_t total) noexcept;

}  // namespace cdn::edge::cache
