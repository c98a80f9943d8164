#include "edge/cache/conditional.hpp"

#include "common/http_date.hpp"
#include "common/http_util.hpp"

namespace cdn::edge::cache {
namespace {

std::string_view opaque(std::string_view tag) {
    tag = http_util::trim(tag);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
}

}  // namespace

bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) noexcept {
    if (etag.empty()) return http_util::trim(if_none_match) == "*";
    bool match = false;
    const std::string_view stored = opaque(etag);
    http_util::for_each_element(if_none_match, [&](std::string_view tag) {
        match = tag == "*" || opaque(tag) == stored;
        return !match;
    });
    return match;
}

bool not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                  std::string_view etag, std::string_view last_modified) noexcept {
    if (!http_util::trim(if_none_match).empty()) return if_none_match_matches(if_none_match, etag);
    if (if_modified_since.empty() || last_modified.empty()) return false;
    const auto ims = parse_http_date(if_modified_since);
    const auto lm = parse_http_date(last_modified);
    return ims && lm && *lm <= *ims;
}

}  // namespace cdn::edge::cache
