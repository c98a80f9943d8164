#include "edge/cache/cache_key.hpp"

#include "common/http_util.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace cdn::edge::cache {
namespace {

bool param_dropped(std::string_view param, const KeyPolicy& policy) {
    const std::string_view name = param.substr(0, param.find('='));
    for (const std::string& rule : policy.drop_query_params) {
        if (!rule.empty() && rule.back() == '*') {
            if (name.substr(0, rule.size() - 1) ==
                std::string_view(rule).substr(0, rule.size() - 1))
                return true;
        } else if (name == rule) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool is_unkeyed_override(std::string_view field_name) {
    static constexpr std::array<std::string_view, 15> kFields = {
        "forwarded",         "x-forwarded-host",       "x-forwarded-server", "x-forwarded-port",
        "x-forwarded-proto", "x-forwarded-scheme",     "x-forwarded-prefix", "x-forwarded-ssl",
        "x-original-url",    "x-rewrite-url",          "x-original-host",    "x-host",
        "x-http-method",     "x-http-method-override", "x-method-override"};
    // Cheap reject for the usual fields: every listed name starts with 'f' or 'x'.
    if (field_name.empty()) return false;
    const char c = field_name.front();
    if (c != 'f' && c != 'F' && c != 'x' && c != 'X') return false;
    return std::any_of(kFields.begin(), kFields.end(),
                       [&](std::string_view f) { return http_util::iequals(f, field_name); });
}

namespace {

// What each byte may be in a reg-name: 0 never, 1 as it is (a-z 0-9 - _), 2 upper case (A-Z),
// 3 a dot.
constexpr std::array<std::uint8_t, 256> kNameChar = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 'a'; c <= 'z'; ++c)
        t[static_cast<std::size_t>(c)] = 1;
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<std::size_t>(c)] = 1;
    t['-'] = t['_'] = 1;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[static_cast<std::size_t>(c)] = 2;
    t['.'] = 3;
    return t;
}();

}  // namespace

std::optional<std::string> parse_authority(std::string_view scheme, std::string_view authority) {
    if (authority.empty() || authority.size() > 300) return std::nullopt;
    std::string_view name;
    std::string_view port;
    bool has_port = false;
    bool upper = false;
    if (authority.front() == '[') {
        // IP-literal: "[" IPv6address "]"; zone ids and IPvFuture are not for a site's name.
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close < 3) return std::nullopt;
        for (char c : authority.substr(1, close - 1)) {
            const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                            (c >= 'A' && c <= 'F') || c == ':' || c == '.';
            if (!ok) return std::nullopt;
            upper = upper || (c >= 'A' && c <= 'F');
        }
        name = authority.substr(0, close + 1);
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            has_port = true;
            port = rest.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        name = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port = authority.substr(colon + 1);
        }
        if (name.ends_with('.')) name.remove_suffix(1);  // the root label: same site
        if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.')
            return std::nullopt;
        std::uint8_t prev = 0;
        for (char c : name) {
            const std::uint8_t k = kNameChar[static_cast<unsigned char>(c)];
            if (k == 0 || (k == 3 && prev == 3)) return std::nullopt;  // no empty labels
            upper = upper || k == 2;
            prev = k;
        }
    }
    // The port: digits, 1-65535; dropped when empty or the scheme's default; leading zeros go.
    std::string_view keep_port;
    if (has_port && !port.empty()) {
        unsigned number = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return std::nullopt;
            number = number * 10 + static_cast<unsigned>(c - '0');
            if (number > 65535) return std::nullopt;
        }
        if (number == 0) return std::nullopt;
        if (number != (scheme == "https" ? 443u : 80u))
            keep_port = port.substr(port.find_first_not_of('0'));
    }
    std::string out;
    out.reserve(name.size() + 1 + keep_port.size());
    out.append(name);
    if (upper)
        for (char& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (!keep_port.empty()) out.append(1, ':').append(keep_port);
    return out;
}

std::string normalize_host(std::string_view scheme, std::string_view host) {
    if (auto a = parse_authority(scheme, host)) return std::move(*a);
    std::string h(host);
    for (char& c : h)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return h;
}

std::string make_cache_key(std::string_view scheme, std::string_view host, std::string_view target,
                           const KeyPolicy& policy) {
    std::string key;
    key.reserve(scheme.size() + 3 + host.size() + target.size());
    key.append(scheme).append("://").append(host);
    const auto q = target.find('?');
    key.append(target.substr(0, q));
    if (q == std::string_view::npos) return key;
    const std::string_view query = target.substr(q + 1);
    if (!policy.sort_query && policy.drop_query_params.empty()) {
        key.append(target.substr(q));
        return key;
    }
    std::vector<std::string_view> params;
    std::size_t start = 0;
    while (start <= query.size()) {
        const auto amp = query.find('&', start);
        const std::string_view p = query.substr(
            start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!p.empty() && !param_dropped(p, policy)) params.push_back(p);
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    if (policy.sort_query) std::stable_sort(params.begin(), params.end());
    for (std::size_t i = 0; i < params.size(); ++i)
        key.append(i == 0 ? "?" : "&").append(params[i]);
    return key;
}

}  // namespace cdn::edge::cache
