#pragma once
// Early Hints learned from an origin's Link fields (RFC 8288, RFC 8297): which link-values of a
// response are worth sending ahead of the next response for the same URL (rel=preload,
// preconnect or modulepreload), parsed properly and capped. Pure.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

struct HintLimits {
    std::size_t max_links = 16;    // link-values kept
    std::size_t max_bytes = 4096;  // bytes of the 103's Link fields ("Link: " value CRLF each)
};

struct HintLinks {
    std::vector<std::string> links;  // each link-value as the origin wrote it, trimmed
    std::size_t bytes = 0;           // as the 103's fields: "Link: " + value + CRLF each
    bool capped = false;             // some kept-worthy link did not fit the limits
};

// Whether `rel` (a rel parameter's value, unquoted; space-separated relation types) names
// preload, preconnect or modulepreload (case-insensitive).
bool is_hint_rel(std::string_view rel) noexcept;

// Reads Link field values one after another (call add() per field line) and keeps the
// link-values whose first rel parameter is a hint rel. Separators are top-level commas only
// (not inside <...> or a quoted string); a malformed link-value (no <URI>, a bad parameter, an
// unterminated quoted string, a control character, an empty URI) is dropped; once the limits
// are reached nothing more is copied (a field with hundreds of entries is capped, never copied).
class LinkHintParser {
  public:
    explicit LinkHintParser(HintLimits limits) : limits_(limits) {}
    void add(std::string_view field_value);
    const HintLinks& result() const { return out_; }
    HintLinks take() { return std::move(out_); }

  private:
    HintLimits limits_;
    HintLinks out_;
};

// The fields of a 103 for these links: "Link: <value>\r\n" each.
std::string hint_fields(const std::vector<std::string>& links);

}  // namespace cdn::edge::cache
