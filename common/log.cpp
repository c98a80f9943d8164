#include "common/log.hpp"

#include "common/log_format.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace cdn {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<LogFormat> g_format{LogFormat::text};
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

std::optional<LogFormat> parse_log_format(std::string_view name) noexcept {
    if (name == "text") return LogFormat::text;
    if (name == "json") return LogFormat::json;
    return std::nullopt;
}

void set_log_format(LogFormat format) noexcept {
    g_format.store(format);
}

void set_log_level(LogLevel level) noexcept {
    g_level.store(static_cast<int>(level));
}
bool log_enabled(LogLevel level) noexcept {
    return static_cast<int>(level) >= g_level.load();
}

std::string iso8601_now() {
    std::string out;
    logline::append_iso8601(out, std::chrono::system_clock::now());
    return out;
}

void log_line(LogLevel level, std::string_view text) noexcept {
    try {
        std::string line;
        line.reserve(text.size() + 64);
        if (g_format.load() == LogFormat::json) {
            line.append("{\"ts\":\"");
            logline::append_iso8601(line, std::chrono::system_clock::now());
            line.append("\",\"level\":\"").append(name_of(level)).append("\",\"msg\":");
            logline::append_json_string(line, text);
            line.append("}\n");
        } else {
            logline::append_iso8601(line, std::chrono::system_clock::now());
            line.append(" ").append(name_of(level)).append(" ").append(text).append("\n");
        }
        std::fwrite(line.data(), 1, line.size(), stderr);
    } catch (...) {
        // Logging must never take the process down.
    }
}

}  // namespace cdn
