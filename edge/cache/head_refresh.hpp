#pragma once
// Whether a response to a HEAD describes the stored GET response it was asked about (RFC 9111
// section 4.3.5, with the selection rules of 4.3.4): only then may its fields and freshness
// update the stored response. Pure.
#include <cstdint>
#include <optional>
#include <string_view>

namespace cdn::edge::cache {

struct Validators {
    std::string_view etag;           // "" when absent
    std::string_view last_modified;  // "" when absent
    std::optional<std::uint64_t> content_length;
};

// A strong ETag on the stored response decides (the HEAD's must be the same, byte for byte);
// otherwise Last-Modified (the same date); otherwise a weak ETag (the same); a stored response
// with no validator matches a HEAD response with none. When both carry Content-Length, it must
// be the same too.
bool head_matches_stored(const Validators& stored, const Validators& head) noexcept;

}  // namespace cdn::edge::cache
