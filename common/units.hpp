#pragma once
// Human units for configs and flags: durations ("500ms", "30s", "5m", "1h", "2d", "1h30m") and
// byte sizes ("512", "64KiB", "256MiB", "1GiB", "10MB").
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cdn {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept;
std::optional<std::uint64_t> parse_size(std::string_view s) noexcept;
std::string format_size(std::uint64_t bytes);

}  // namespace cdn
