#pragma once
// Object resolution: from a request target and the configuration to a fully described object
// (identity, size, headers to send, fault). Pure: no clock, no state, no I/O.
#include "origin_sim/config.hpp"
#include "origin_sim/query.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::origin_sim {

// The control query parameters: size status cc expires lm etag vary tags cookie age date_offset
// delay chunked ctype header fault slow_ms ranges. They shape the response and are not part of the
// object's identity.
bool is_control_param(std::string_view key) noexcept;

// The identity of a target: its path plus the query without the control parameters, in their
// original order and encoding ("/app.js?v=2&size=10" -> "/app.js?v=2"; "/a?size=1" -> "/a").
std::string identity_of(std::string_view target);

// Content-Type from the path's extension (.js .css .html .json .txt .png .jpg/.jpeg ...);
// application/octet-stream otherwise.
std::string_view content_type_for(std::string_view path) noexcept;

struct ResolvedObject {
    std::string path;      // the target's path, as received
    std::string identity;  // see identity_of
    std::uint64_t size = 1024;
    unsigned status = 200;
    std::optional<std::string> cache_control = std::string("public, max-age=60");
    std::optional<ExpiresSpec> expires;
    LastModifiedSpec last_modified;
    EtagMode etag = EtagMode::strong;
    std::optional<std::string> vary;
    std::vector<std::string> tags;
    std::optional<std::string> set_cookie;
    std::optional<std::string> age;
    std::int64_t date_offset = 0;
    std::chrono::milliseconds delay{0};
    bool chunked = false;
    bool ranges = true;  // false: Range and If-Range are ignored (a full 200, Accept-Ranges: none)
    bool ignore_expect = false;  // expect=ignore
    std::string content_type;
    Fault fault = Fault::none;
    std::chrono::milliseconds slow_interval{100};
    Headers headers;  // extra headers

    void apply(const ObjectSpec& spec);
};

// The control parameters of a parsed query as an ObjectSpec; false with a message naming the
// parameter when a value is invalid.
bool spec_from_query(const std::vector<QueryParam>& params, ObjectSpec& out, std::string& error);

struct Resolution {
    std::optional<ResolvedObject> object;
    std::string error;  // why the target was rejected (answer 400) when object is empty
};

// Built-in defaults, then [defaults], then the matching [[object]], then the query.
Resolution resolve(const SimConfig& config, std::string_view target);

}  // namespace cdn::origin_sim
