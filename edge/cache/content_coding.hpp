#pragma once
// Content codings the edge makes itself (gzip, brotli) for stored responses: the client's
// Accept-Encoding negotiated against the codings a host allows (RFC 9110 section 12.5.3), which
// stored responses may be compressed (type, size, no-transform, identity from the origin), the
// ETag of a compressed variant, and the pseudo Vary name that keys the edge's own variants on
// the SELECTED coding (br / gzip / identity), not on the raw header. Pure.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

enum class Coding : std::uint8_t { identity, gzip, br };

std::string_view coding_name(Coding c) noexcept;  // "identity", "gzip", "br"

// Per-host compression settings ([origin.compression]).
struct CompressionPolicy {
    bool enabled = true;
    // Media types (lower-case, no parameters) that are compressed.
    std::vector<std::string> types = {"text/html",
                                      "text/css",
                                      "text/plain",
                                      "text/javascript",
                                      "text/xml",
                                      "text/markdown",
                                      "text/csv",
                                      "application/javascript",
                                      "application/x-javascript",
                                      "application/json",
                                      "application/ld+json",
                                      "application/manifest+json",
                                      "application/xml",
                                      "application/rss+xml",
                                      "application/atom+xml",
                                      "application/xhtml+xml",
                                      "image/svg+xml"};
    // In order of preference on equal q-values.
    std::vector<Coding> codings = {Coding::br, Coding::gzip};
    std::uint64_t min_size = 256;              // smaller bodies are not worth a variant
    std::uint64_t max_size = 8 * 1024 * 1024;  // larger ones cost too much CPU on a worker
    int gzip_level = 6;                        // zlib 1..9
    int brotli_quality = 5;                    // 0..11
};

// The coding to send: the allowed coding with the highest q-value in accept_encoding (ties go
// to the earlier in `allowed`, so br before gzip), or identity when none is acceptable, when
// identity is named with a higher q, or when the field is absent or empty. Codings and "q" are
// case-insensitive; "*" covers codings not named; "x-gzip" is gzip; an element with a
// malformed q-value is ignored. identity;q=0 with nothing else acceptable still gets identity
// (the edge never answers 415).
Coding select_coding(std::string_view accept_encoding, const std::vector<Coding>& allowed);

// Whether a stored 200 with these fields may be compressed: a listed media type (parameters
// ignored, case-insensitive), no Content-Encoding other than identity, no
// Cache-Control: no-transform, no Vary: *. Size is checked apart (may_compress_size).
bool may_compress(const CompressionPolicy& p, std::string_view content_type,
                  std::string_view content_encoding, std::string_view cache_control,
                  std::string_view vary);
inline bool may_compress_size(const CompressionPolicy& p, std::uint64_t size) {
    return size >= p.min_size && size <= p.max_size;
}

// The ETag of a compressed variant: the coding appended inside the quotes ("abc" -> "abc-br",
// W/"abc" -> W/"abc-br"); empty stays empty.
std::string suffixed_etag(std::string_view etag, Coding c);

// Vary after adding Accept-Encoding (not duplicated, case-insensitive); "" -> "Accept-Encoding".
std::string vary_with_accept_encoding(std::string_view vary);

// The pseudo Vary name of a URL whose variants the edge compresses: "accept-encoding;edge=br/gzip"
// (its variant id is the selected coding among those listed). Not a field name (';' is not a
// token character), so it never meets a real one.
std::string coding_variant_name(const std::vector<Coding>& allowed);
bool is_coding_variant_name(std::string_view name) noexcept;
// The codings listed in such a name.
std::vector<Coding> codings_of_variant_name(std::string_view name);

}  // namespace cdn::edge::cache
