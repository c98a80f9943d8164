#pragma once
// A Structured Field Dictionary parser (RFC 8941 sections 3.2 and 4.2), for the targeted cache
// fields of RFC 9213 (CDN-Cache-Control). Strict, as section 4.2 asks: any syntax error fails the
// whole field. Parameters are parsed (so their syntax is checked) and dropped; inner lists are
// parsed and kept as a marker only. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::edge::cache::sf {

enum class ItemType { integer, decimal, string, token, bytes, boolean, inner_list };

struct Item {
    ItemType type = ItemType::boolean;
    std::int64_t integer = 0;  // integer; boolean: 0 or 1
    double decimal = 0;
    std::string text;  // string (unescaped), token, bytes (still base64)
};

// Members in order; a key given twice keeps its last value, in the position of its first
// (section 3.2: "all but the last instance are ignored"). Several field lines are joined with
// ", " by the caller. nullopt on any parse error (the field is then ignored as a whole).
using Dictionary = std::vector<std::pair<std::string, Item>>;
std::optional<Dictionary> parse_dictionary(std::string_view input);

}  // namespace cdn::edge::cache::sf
