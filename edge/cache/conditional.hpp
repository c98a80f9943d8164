#pragma once
// Evaluating a client's conditional GET/HEAD against a stored response (RFC 9110 section 13.2.2):
// If-None-Match first (weak comparison), and If-Modified-Since only when there is no
// If-None-Match. Entity-tags are parsed as RFC 9110 section 8.8.3 writes them (opaque-tag is a
// quoted string of etagc: commas and obs-text are part of a tag; there is no escaping). Pure.
#include "common/clock.hpp"

#include <optional>
#include <string_view>

namespace cdn::edge::cache {

struct EntityTag {
    bool weak = false;
    std::string_view opaque;  // with its quotes
};
// One entity-tag (surrounding whitespace allowed), or nullopt when it is not one.
std::optional<EntityTag> parse_entity_tag(std::string_view value) noexcept;
// Section 8.8.3.2: strong comparison needs both strong and the same opaque-tag; weak comparison
// only the same opaque-tag.
inline bool strong_match(const EntityTag& a, const EntityTag& b) noexcept {
    return !a.weak && !b.weak && a.opaque == b.opaque;
}
inline bool weak_match(const EntityTag& a, const EntityTag& b) noexcept {
    return a.opaque == b.opaque;
}

// True when an entity-tag in the If-None-Match list matches etag by weak comparison ("*" matches
// any stored response). A malformed list matches nothing (the full response is sent), and so
// does a stored ETag that is not an entity-tag.
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) noexcept;

// True when the client's copy is current: the stored response can be answered with 304.
// Empty strings mean the field is absent.
bool not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                  std::string_view etag, std::string_view last_modified) noexcept;

}  // namespace cdn::edge::cache
