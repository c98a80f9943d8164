#include "common/bearer_auth.hpp"

#include <algorithm>

namespace cdn {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    // Walks the longer of the two in full; a length difference also makes it unequal.
    const std::size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(x ^ y);
    }
    // Keep the compiler from turning the loop into an early exit.
    volatile unsigned sink = diff;
    return sink == 0;
}

std::optional<std::string_view> bearer_token(std::string_view h) noexcept {
    constexpr std::string_view kScheme = "bearer";
    if (h.size() <= kScheme.size() + 1) return std::nullopt;
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        char c = h[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != kScheme[i]) return std::nullopt;
    }
    h.remove_prefix(kScheme.size());
    if (h.front() != ' ') return std::nullopt;
    while (!h.empty() && h.front() == ' ')
        h.remove_prefix(1);
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.remove_suffix(1);
    if (h.empty()) return std::nullopt;
    return h;
}

}  // namespace cdn
