#pragma once
// Range requests answered from a stored full response (RFC 9110 section 14): 206 with one range
// (the stored body is shared, the reply sends a slice of it), 206 multipart/byteranges for
// several, 416 when none is satisfiable. If-Range decides whether the range applies at all.
#include "common/http_range.hpp"
#include "edge/storage/cached_object.hpp"

#include <string_view>
#include <vector>

namespace cdn::edge::proxy {

// If-Range (section 13.1.5): an entity-tag matches only by strong comparison; a date only when
// it equals the stored Last-Modified. An empty If-Range always matches.
bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::string_view last_modified) noexcept;

// 206 for one range; the caller sends body bytes [range.first, range.last] of the shared body.
storage::ObjectPtr partial_object(const storage::CachedObject& full, http_range::ByteRange range);
// 206 multipart/byteranges with each range as a part.
storage::ObjectPtr multipart_object(const storage::CachedObject& full,
                                    const std::vector<http_range::ByteRange>& ranges);
// 416 with "Content-Range: bytes */SIZE".
storage::ObjectPtr unsatisfiable_object(const storage::CachedObject& full);

}  // namespace cdn::edge::proxy
