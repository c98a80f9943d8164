#pragma once
// The origin simulator's configuration: what each object looks like. Parsed once at start-up from
// TOML ([defaults] and [[object]] tables), read-only afterwards and safe to share between threads.
// Loading throws cdn::ConfigError naming file:line:field.
#include "common/config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::origin_sim {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Bounds on values, so time arithmetic (nanosecond clocks) cannot overflow.
inline constexpr std::int64_t kMaxSeconds = 3'000'000'000;  // |expires|, |lm|, |date_offset|
inline constexpr std::uint64_t kMaxSize = 1ull << 50;       // 1 PiB
inline constexpr std::chrono::milliseconds kMaxDelay = std::chrono::hours(1);  // delay, slow_ms

// Misbehaviours on demand.
enum class Fault {
    none,
    reset,     // read the request, then abort the connection with a TCP RST; no response
    close,     // read the request, then close the connection (FIN); no response
    hang,      // read the request, never answer; hold until the client closes (or 5 minutes)
    slow,      // send the body in 1 KiB pieces with slow_interval between them
    truncate,  // full Content-Length in the head, only half the body, then close
    error500,  // "500": status 500 with Cache-Control: no-store
};
std::optional<Fault> parse_fault(std::string_view s) noexcept;  // "none", "reset", ..., "500"
std::string_view to_string(Fault f) noexcept;

enum class EtagMode { none, strong, weak };

struct ExpiresSpec {
    std::int64_t seconds = 0;  // relative to the Date header
    bool invalid = false;      // send "Expires: 0" (an invalid date, which means "already expired")
};

struct LastModifiedSpec {
    bool omit = false;
    std::int64_t ago = 3600;  // seconds before the object's modification base
};

// One set of overrides; unset fields leave the value underneath alone. Layers, lowest first:
// built-in defaults, [defaults], the matching [[object]], the request's control query parameters.
struct ObjectSpec {
    std::optional<std::uint64_t> size;
    std::optional<unsigned> status;
    std::optional<std::string> cache_control;  // "" = no Cache-Control header
    std::optional<ExpiresSpec> expires;
    std::optional<LastModifiedSpec> last_modified;
    std::optional<EtagMode> etag;
    std::optional<std::string> vary;
    std::optional<std::vector<std::string>> tags;
    std::optional<std::string> set_cookie;
    std::optional<std::string> age;
    std::optional<std::int64_t> date_offset;  // seconds added to the Date header
    std::optional<std::chrono::milliseconds> delay;
    std::optional<bool> chunked;
    std::optional<bool> ranges;         // query only: ranges=0 makes the object ignore Range
    std::optional<bool> ignore_expect;  // expect=ignore: no 100 Continue, the body read as it comes
    std::optional<std::string> content_type;
    std::optional<Fault> fault;
    std::optional<std::chrono::milliseconds> slow_interval;
    Headers headers;  // extra response headers, added after the others

    // Applies the fields set in `over` on top of this one; headers are appended.
    void overlay(const ObjectSpec& over);
};

struct ObjectRule {
    std::string path;    // exact path match (without the query), or
    std::string prefix;  // path prefix match
    ObjectSpec spec;
};

struct SimConfig {
    ObjectSpec defaults;
    std::vector<ObjectRule> objects;

    // The rule for a request path: the first exact `path` match, else the longest `prefix`
    // match (the first one on ties); nullptr when none matches.
    const ObjectRule* match(std::string_view path) const noexcept;
};

SimConfig load_config(const std::string& file);
SimConfig parse_config(std::string_view text, const std::string& name);

// True for an RFC 9110 token (a valid field name).
bool is_token(std::string_view s) noexcept;
// Content-Length, Transfer-Encoding and Connection: the server frames messages itself, so these
// cannot be configured as extra headers.
bool is_framing_header(std::string_view name) noexcept;
// True when a field value has no CR, LF or NUL (no response splitting).
bool is_safe_value(std::string_view s) noexcept;

}  // namespace cdn::origin_sim
