#pragma once
// Minimal logging: one line per event on stderr, "2026-01-02T03:04:05.678Z level component: text",
// or with LogFormat::json {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"component: text"}
// for log shippers that parse JSON. Log little (start-up, state changes, errors); count
// everything else in metrics.
#include <fmt/format.h>

#include <optional>
#include <string_view>

namespace cdn {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };

void set_log_level(LogLevel level) noexcept;
// "debug", "info", "warn" or "error" (what every binary's --log-level takes); info otherwise.
LogLevel parse_log_level(std::string_view name) noexcept;
bool log_enabled(LogLevel level) noexcept;
void set_log_format(LogFormat format) noexcept;
// "text" or "json" (what every binary's --log-format takes); nullopt otherwise.
std::optional<LogFormat> parse_log_format(std::string_view name) noexcept;
void log_line(LogLevel level, std::string_view text) noexcept;

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
    if (!log_enabled(level)) return;
    log_line(level, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
    log(LogLevel::info, f, std::forward<Args>(args)...);
}
template <class... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
    log(LogLevel::warn, f, std::forward<Args>(args)...);
}
template <class... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
    log(LogLevel::error, f, std::forward<Args>(args)...);
}

// "2026-01-02T03:04:05.678Z" for the current time.
std::string iso8601_now();

}  // namespace cdn
