#include "edge/cache/cache_control.hpp"

#include "common/http_util.hpp"

#include <limits>

namespace cdn::edge::cache {
namespace {

constexpr std::int64_t kMaxDelta = 2147483648;  // RFC 9111 section 1.2.2

// Parses delta-seconds, tolerating a quoted value ("max-age=\"60\"" is seen in the wild).
std::optional<std::int64_t> delta_seconds(std::string_view v) noexcept {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty()) return std::nullopt;
    std::int64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
        if (n > kMaxDelta) n = kMaxDelta;
    }
    return n;
}

}  // namespace

CacheControl parse_cache_control(std::string_view value) noexcept {
    using http_util::iequals;
    CacheControl cc;
    http_util::for_each_element(value, [&](std::string_view directive) {
        std::string_view name = directive, arg;
        bool has_arg = false;
        if (const auto eq = directive.find('='); eq != std::string_view::npos) {
            name = http_util::trim(directive.substr(0, eq));
            arg = http_util::trim(directive.substr(eq + 1));
            has_arg = true;
        }
        auto delta = [&](std::optional<std::int64_t>& field, bool* invalid) {
            if (field) return;  // first occurrence wins
            if (auto d = has_arg ? delta_seconds(arg) : std::nullopt)
                field = d;
            else if (invalid)
                *invalid = true;
        };
        if (iequals(name, "max-age"))
            delta(cc.max_age, &cc.invalid_max_age);
        else if (iequals(name, "s-maxage"))
            delta(cc.s_maxage, &cc.invalid_max_age);
        else if (iequals(name, "stale-while-revalidate"))
            delta(cc.stale_while_revalidate, nullptr);
        else if (iequals(name, "stale-if-error"))
            delta(cc.stale_if_error, nullptr);
        else if (iequals(name, "min-fresh"))
            delta(cc.min_fresh, nullptr);
        else if (iequals(name, "max-stale")) {
            if (!has_arg)
                cc.max_stale = std::numeric_limits<std::int64_t>::max();
            else
                delta(cc.max_stale, nullptr);
        } else if (iequals(name, "no-store"))
            cc.no_store = true;
        else if (iequals(name, "no-cache"))
            cc.no_cache = true;
        else if (iequals(name, "private"))
            cc.private_ = true;
        else if (iequals(name, "public"))
            cc.public_ = true;
        else if (iequals(name, "must-revalidate"))
            cc.must_revalidate = true;
        else if (iequals(name, "proxy-revalidate"))
            cc.proxy_revalidate = true;
        else if (iequals(name, "immutable"))
            cc.immutable = true;
        else if (iequals(name, "no-transform"))
            cc.no_transform = true;
        else if (iequals(name, "only-if-cached"))
            cc.only_if_cached = true;
        return true;  // unknown extensions are ignored (section 5.2.3)
    });
    return cc;
}

}  // namespace cdn::edge::cache
