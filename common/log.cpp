#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace cdn {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
const char* name_of(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "?";
}
}  // namespace

LogLevel parse_log_level(std::string_view name) noexcept {
    return name == "debug"   ? LogLevel::debug
           : name == "warn"  ? LogLevel::warn
           : name == "error" ? LogLevel::error
                             : LogLevel::info;
}

void set_log_level(LogLevel level) noexcept {
    g_level.store(static_cast<int>(level));
}
bool log_enabled(LogLevel level) noexcept {
    return static_cast<int>(level) >= g_level.load();
}

std::string iso8601_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void log_line(LogLevel level, std::string_view text) noexcept {
    try {
        const std::string line = fmt::format("{} {} {}\n", iso8601_now(), name_of(level), text);
        std::fwrite(line.data(), 1, line.size(), stderr);
    } catch (...) {
        // Logging must never take the process down.
    }
}

}  // namespace cdn
