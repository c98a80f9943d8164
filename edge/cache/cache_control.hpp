#pragma once
// Cache-Control parsing (RFC 9111 section 5.2). Pure. Several header lines are joined with ", "
// before parsing. For a directive given twice the first value is used (section 4.2.1); a
// malformed delta-seconds value is recorded as invalid, which freshness treats as "stale now".
#include <cstdint>
#include <optional>
#include <string_view>

namespace cdn::edge::cache {

struct CacheControl {
    // Delta-seconds directives; values over 2^31 are capped at 2147483648 (section 1.2.2).
    std::optional<std::int64_t> max_age;
    std::optional<std::int64_t> s_maxage;
    std::optional<std::int64_t> stale_while_revalidate;
    std::optional<std::int64_t> stale_if_error;
    std::optional<std::int64_t> min_fresh;
    std::optional<std::int64_t> max_stale;  // request; bare "max-stale" is INT64_MAX
    bool invalid_max_age = false;           // max-age or s-maxage present but malformed
    bool no_store = false;
    bool no_cache = false;  // also set by the qualified form no-cache="field"
    bool private_ = false;  // also set by the qualified form private="field"
    bool public_ = false;
    bool must_revalidate = false;
    bool proxy_revalidate = false;
    bool immutable = false;
    bool no_transform = false;
    bool only_if_cached = false;
};

CacheControl parse_cache_control(std::string_view value) noexcept;

}  // namespace cdn::edge::cache
