#include "edge/cache/targeted_cache_control.hpp"

#include "common/http_util.hpp"
#include "edge/cache/structured_fields.hpp"

namespace cdn::edge::cache {
namespace {

constexpr std::int64_t kMaxDelta = 2147483648;  // RFC 9111 section 1.2.2

}  // namespace

std::optional<CacheControl> parse_targeted_cache_control(std::string_view value) {
    if (http_util::trim(value).empty()) return std::nullopt;
    auto dict = sf::parse_dictionary(value);
    if (!dict || dict->empty()) return std::nullopt;
    CacheControl cc;
    for (const auto& member : *dict) {
        // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
        const std::string& key = member.first;
        const sf::Item& item = member.second;
        const bool is_true = item.type == sf::ItemType::boolean && item.integer == 1;
        auto delta = [&](std::optional<std::int64_t>& field) {
            if (item.type == sf::ItemType::integer && item.integer >= 0)
                field = std::min(item.integer, kMaxDelta);
        };
        if (key == "max-age")
            delta(cc.max_age);
        else if (key == "s-maxage")
            delta(cc.s_maxage);
        else if (key == "stale-while-revalidate")
            delta(cc.stale_while_revalidate);
        else if (key == "stale-if-error")
            delta(cc.stale_if_error);
        else if (key == "no-store")
            cc.no_store |= is_true;
        else if (key == "no-cache")  // true, or a String of field names (treated as true)
            cc.no_cache |= is_true || item.type == sf::ItemType::string;
        else if (key == "private")
            cc.private_ |= is_true || item.type == sf::ItemType::string;
        else if (key == "public")
            cc.public_ |= is_true;
        else if (key == "must-revalidate")
            cc.must_revalidate |= is_true;
        else if (key == "proxy-revalidate")
            cc.proxy_revalidate |= is_true;
        else if (key == "immutable")
            cc.immutable |= is_true;
        else if (key == "no-transform")
            cc.no_transform |= is_true;
        // Anything else (e.g. "none", RFC 9213 section 3.1) is an unknown directive: ignored,
        // but the field still counts as present and valid.
    }
    return cc;
}

std::optional<CacheControl> parse_surrogate_control(std::string_view value,
                                                    std::string_view device) {
    CacheControl cc;
    bool any = false;
    http_util::for_each_element(value, [&](std::string_view directive) {
        // "name[=value][;device]"
        if (const auto semi = directive.find(';'); semi != std::string_view::npos) {
            const std::string_view target = http_util::trim(directive.substr(semi + 1));
            directive = http_util::trim(directive.substr(0, semi));
            if (target != device) return true;
        }
        std::string_view name = directive, arg;
        if (const auto eq = directive.find('='); eq != std::string_view::npos) {
            name = http_util::trim(directive.substr(0, eq));
            arg = http_util::trim(directive.substr(eq + 1));
        }
        auto delta = [&](std::optional<std::int64_t>& field) {
            if (field) return;  // first occurrence wins, as in Cache-Control
            const std::string_view n = arg.substr(0, arg.find('+'));
            if (n.empty() || n.size() > 12) return;
            std::int64_t v = 0;
            for (char c : n) {
                if (c < '0' || c > '9') return;
                v = v * 10 + (c - '0');
            }
            field = std::min(v, kMaxDelta);
            any = true;
        };
        if (http_util::iequals(name, "max-age")) {
            delta(cc.max_age);
        } else if (http_util::iequals(name, "stale-while-revalidate")) {
            delta(cc.stale_while_revalidate);
        } else if (http_util::iequals(name, "stale-if-error")) {
            delta(cc.stale_if_error);
        } else if (http_util::iequals(name, "no-store")) {
            cc.no_store = true;
            any = true;
        }
        return true;
    });
    if (!any) return std::nullopt;
    return cc;
}

}  // namespace cdn::edge::cache
