#pragma once
// Evaluating a client's conditional GET/HEAD against a stored response (RFC 9110 section 13.2.2):
// If-None-Match first (weak comparison), and If-Modified-Since only when there is no
// If-None-Match. Pure.
#include "common/clock.hpp"

#include <optional>
#include <string_view>

namespace cdn::edge::cache {

// True when an entity-tag in the If-None-Match list matches etag by weak comparison ("*" matches
// any stored response).
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) noexcept;

// True when the client's copy is current: the stored response can be answered with 304.
// Empty strings mean the field is absent.
bool not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                  std::string_view etag, std::string_view last_modified) noexcept;

}  // namespace cdn::edge::cache
