#include "common/http_util.hpp"

#include <array>

namespace cdn::http_util {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool list_has_token(std::string_view list, std::string_view token) noexcept {
    bool found = false;
    for_each_element(list, [&](std::string_view e) {
        found = iequals(e, token);
        return !found;
    });
    return found;
}

bool is_hop_by_hop(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 9> kHop = {
        "connection",        "keep-alive",         "proxy-connection",   "te", "trailer", "upgrade",
        "transfer-encoding", "proxy-authenticate", "proxy-authorization"};
    for (std::string_view h : kHop)
        if (iequals(name, h)) return true;
    return false;
}

}  // namespace cdn::http_util
