#pragma once
// Request targets: splitting path and query, percent-decoding, query parameters. Pure, no throws
// besides allocation.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::origin_sim {

struct QueryParam {
    std::string_view raw;  // "key=value" exactly as in the target (points into it)
    std::string key;       // decoded
    std::string value;     // decoded; empty when there is no '='
    bool has_value = false;
};

// "/a/b?x=1" -> {"/a/b", "x=1"}; the fragment, if any, is dropped.
struct SplitTarget {
    std::string_view path;
    std::string_view query;  // without the '?'
};
SplitTarget split_target(std::string_view target) noexcept;

// Percent-decoding; '+' becomes a space when plus_is_space. nullopt on a bad escape.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space = true);
// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
std::string url_encode(std::string_view s);

// Splits a query on '&' (empty pieces skipped). Pieces with a bad escape keep their raw text as
// key and value.
std::vector<QueryParam> parse_query(std::string_view query);

}  // namespace cdn::origin_sim
