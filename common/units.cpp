#include "common/units.hpp"

#include <charconv>
#include <limits>

namespace cdn {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool mul_overflows(std::uint64_t a, std::uint64_t b) {
    return b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept {
    s = trim(s);
    if (s.empty()) return std::nullopt;
    std::uint64_t total_ms = 0;
    while (!s.empty()) {
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || p == s.data()) return std::nullopt;
        s.remove_prefix(static_cast<std::size_t>(p - s.data()));
        std::size_t ulen = 0;
        while (ulen < s.size() && s[ulen] >= 'a' && s[ulen] <= 'z')
            ++ulen;
        const std::string_view unit = s.substr(0, ulen);
        s.remove_prefix(ulen);
        std::uint64_t scale = 0;
        if (unit == "ms")
            scale = 1;
        else if (unit == "s" || (unit.empty() && s.empty() && total_ms == 0))
            scale = 1000;
        else if (unit == "m")
            scale = 60'000;
        else if (unit == "h")
            scale = 3'600'000;
        else if (unit == "d")
            scale = 86'400'000;
        else
            return std::nullopt;
        if (mul_overflows(n, scale)) return std::nullopt;
        total_ms += n * scale;
    }
    if (total_ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000))
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

std::optional<std::uint64_t> parse_size(std::string_view s) noexcept {
    s = trim(s);
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || p == s.data()) return std::nullopt;
    const std::string_view unit = trim(s.substr(static_cast<std::size_t>(p - s.data())));
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "B")
        scale = 1;
    else if (unit == "KiB" || unit == "K" || unit == "k")
        scale = 1ull << 10;
    else if (unit == "MiB" || unit == "M")
        scale = 1ull << 20;
    else if (unit == "GiB" || unit == "G")
        scale = 1ull << 30;
    else if (unit == "TiB" || unit == "T")
        scale = 1ull << 40;
    else if (unit == "KB" || unit == "kB")
        scale = 1000;
    else if (unit == "MB")
        scale = 1000'000;
    else if (unit == "GB")
        scale = 1000'000'000;
    else if (unit == "TB")
        scale = 1000'000'000'000;
    else
        return std::nullopt;
    if (mul_overflows(n, scale)) return std::nullopt;
    return n * scale;
}

std::string format_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++u;
    }
    return std::to_string(bytes) + units[u];
}

}  // namespace cdn
