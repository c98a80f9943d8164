#include "edge/cache/conditional.hpp"

#include "common/http_date.hpp"
#include "common/http_util.hpp"

namespace cdn::edge::cache {
namespace {

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}
// etagc = %x21 / %x23-7E / obs-text
bool is_etagc(unsigned char c) {
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

// Reads one entity-tag at the front of `in`, advancing past it.
std::optional<EntityTag> take_entity_tag(std::string_view& in) noexcept {
    EntityTag tag;
    if (in.starts_with("W/")) {
        tag.weak = true;
        in.remove_prefix(2);
    }
    if (in.empty() || in.front() != '"') return std::nullopt;
    std::size_t i = 1;
    while (i < in.size() && is_etagc(static_cast<unsigned char>(in[i])))
        ++i;
    if (i >= in.size() || in[i] != '"') return std::nullopt;
    tag.opaque = in.substr(0, i + 1);
    in.remove_prefix(i + 1);
    return tag;
}

}  // namespace

std::optional<EntityTag> parse_entity_tag(std::string_view value) noexcept {
    value = http_util::trim(value);
    auto tag = take_entity_tag(value);
    if (!tag || !value.empty()) return std::nullopt;
    return tag;
}

bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) noexcept {
    std::string_view in = http_util::trim(if_none_match);
    if (in == "*") return true;
    const auto stored = parse_entity_tag(etag);
    if (!stored) return false;
    // #entity-tag: empty elements and whitespace around commas are allowed (RFC 9110 5.6.1).
    bool match = false;
    while (!in.empty()) {
        if (in.front() == ',' || is_ows(in.front())) {
            in.remove_prefix(1);
            continue;
        }
        auto tag = take_entity_tag(in);
        if (!tag) return false;  // malformed: the condition is not evaluated
        match = match || weak_match(*tag, *stored);
        while (!in.empty() && is_ows(in.front()))
            in.remove_prefix(1);
        if (!in.empty() && in.front() != ',') return false;
    }
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
