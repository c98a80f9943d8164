#pragma once
// HTTP field helpers shared by every component: case-insensitive comparison, comma-separated
// lists, and the hop-by-hop fields a proxy must not forward (RFC 9110 section 7.6.1).
#include <string_view>

namespace cdn::http_util {

bool iequals(std::string_view a, std::string_view b) noexcept;
std::string_view trim(std::string_view s) noexcept;

// Calls f(element) for each non-empty, trimmed element of a comma-separated list; ignores commas
// inside quoted strings. f returns false to stop early.
template <class F>
void for_each_element(std::string_view list, F&& f) {
    std::size_t start = 0;
    bool quoted = false;
    for (std::size_t i = 0; i <= list.size(); ++i) {
        if (i < list.size()) {
            const char c = list[i];
            if (c == '"')
                quoted = !quoted;
            else if (c == '\\' && quoted && i + 1 < list.size())
                ++i;
            if (quoted || c != ',') continue;
        }
        const std::string_view e = trim(list.substr(start, i - start));
        if (!e.empty() && !f(e)) return;
        start = i + 1;
    }
}

// True when the comma-separated list contains token (case-insensitive).
bool list_has_token(std::string_view list, std::string_view token) noexcept;

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and the
// Proxy-Authenticate/-Authorization pair.
bool is_hop_by_hop(std::string_view field_name) noexcept;

}  // namespace cdn::http_util
