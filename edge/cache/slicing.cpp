#include "edge/cache/slicing.hpp"

#include "common/http_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace cdn::edge::cache {

namespace {

using http_util::trim;

// Digits only, no sign, no overflow.
std::optional<std::uint64_t> number(std::string_view s) noexcept {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

bool is_strong(std::string_view etag) noexcept {
    return etag.size() >= 2 && etag.front() == '"' && etag.back() == '"';
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view value) noexcept {
    value = trim(value);
    constexpr std::string_view unit = "bytes";
    if (value.size() <= unit.size()) return std::nullopt;
    for (std::size_t i = 0; i < unit.size(); ++i)
        if ((value[i] | 0x20) != unit[i]) return std::nullopt;
    if (value[unit.size()] != ' ') return std::nullopt;
    value = trim(value.substr(unit.size()));
    const auto dash = value.find('-');
    const auto slash = value.find('/');
    if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash)
        return std::nullopt;
    auto first = number(value.substr(0, dash));
    auto last = number(value.substr(dash + 1, slash - dash - 1));
    auto total = number(value.substr(slash + 1));
    if (!first || !last || !total || *first > *last || *last >= *total) return std::nullopt;
    return ContentRange{*first, *last, *total};
}

std::string slice_range_field(std::uint64_t k, std::uint64_t size) {
    return fmt::format("bytes={}-{}", k * size, (k + 1) * size - 1);
}

bool is_slice_response(const ContentRange& cr, std::uint64_t k, std::uint64_t size,
                       std::optional<std::uint64_t> content_length) noexcept {
    const std::uint64_t start = k * size;
    if (cr.first != start || start >= cr.total) return false;
    const std::uint64_t end = std::min(start + size, cr.total) - 1;
    return cr.last == end && content_length && *content_length == end - start + 1;
}

std::uint64_t first_wanted_byte(std::string_view range) noexcept {
    range = trim(range);
    constexpr std::string_view unit = "bytes=";
    if (range.size() < unit.size()) return 0;
    for (std::size_t i = 0; i < unit.size(); ++i)
        if ((range[i] | 0x20) != unit[i]) return 0;
    range.remove_prefix(unit.size());
    std::optional<std::uint64_t> lowest;
    while (!range.empty()) {
        const auto comma = range.find(',');
        std::string_view spec = trim(range.substr(0, comma));
        range = comma == std::string_view::npos ? std::string_view() : range.substr(comma + 1);
        if (spec.empty()) continue;
        const auto dash = spec.find('-');
        if (dash == std::string_view::npos) return 0;
        if (dash == 0) return 0;  // a suffix range: wherever the end is
        auto first = number(trim(spec.substr(0, dash)));
        if (!first) return 0;
        lowest = lowest ? std::min(*lowest, *first) : *first;
    }
    return lowest.value_or(0);
}

std::string slice_key(std::string_view url_key, std::uint64_t k) {
    return fmt::format("{}#slice={}", url_key, k);
}

std::string format_manifest_marker(ManifestMarker m) {
    return fmt::format("{}/{}", m.slice_size, m.total);
}

std::optional<ManifestMarker> parse_manifest_marker(std::string_view value) noexcept {
    const auto slash = value.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto size = number(value.substr(0, slash));
    auto total = number(value.substr(slash + 1));
    if (!size || !total || *size == 0) return std::nullopt;
    return ManifestMarker{*size, *total};
}

bool sliceable(std::string_view etag, std::string_view last_modified) noexcept {
    return is_strong(etag) || !last_modified.empty();
}

bool same_version(std::string_view manifest_etag, std::string_view manifest_last_modified,
                  std::uint64_t manifest_total, std::string_view etag,
                  std::string_view last_modified, std::uint64_t total) noexcept {
    if (total != manifest_total) return false;
    if (is_strong(manifest_etag)) return etag == manifest_etag;
    // No strong ETag when the manifest was made: Last-Modified decides, and a response that now
    // has a strong ETag is another version too.
    return !manifest_last_modified.empty() && !is_strong(etag) &&
           last_modified == manifest_last_modified;
}

}  // namespace cdn::edge::cache
