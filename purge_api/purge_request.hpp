#pragma once
// The purge request model and its validation: a POST /v1/purge body (Cloudflare's purge_cache
// shape plus "soft") becomes a PurgeDraft or an ApiError. Pure code, no I/O, thread-safe.
//
// Values are stored as sent (each edge normalises them itself); what is accepted here is a
// subset of what edge/cache/purge_rules.hpp accepts, so an edge never refuses a logged purge.
#include "common/purge_event.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cdn::purge_api {

// The kinds are the wire format's (common/purge_event.hpp).
using purge::PurgeKind;

// What a client asked for, validated, before it has a sequence number.
struct PurgeDraft {
    PurgeKind kind = PurgeKind::files;
    std::vector<std::string> values;  // empty for everything
    bool soft = false;
};

// Error codes in API answers ({"success":false,"errors":[{"code":N,"message":"..."}]}).
enum class ApiErrc {
    malformed_json = 1000,  // 400: the body is not JSON, or not a JSON object
    unknown_field = 1001,   // 400: a field the API does not know
    missing_kind = 1002,    // 400: none of files/prefixes/tags/hosts/purge_everything
    several_kinds = 1003,   // 400: more than one of them
    empty_list = 1004,      // 400: a list without values
    too_many_items = 1005,  // 400: a list longer than limits.max_items
    bad_value = 1006,       // 400: a value of the wrong type, empty, too long or with bad bytes
    bad_url = 1007,         // 400: a file that is not an http(s) URL with a host
    body_too_large = 1008,  // 413
    bad_request = 1009,     // 400: a bad query parameter or an unparsable request
    outside_zone = 1010,    // 400: (zone API) a file, prefix or host outside the zone
    zone_kind = 1011,       // 400: (zone API) a kind that cannot be limited to a zone (tags)
    idempotency_conflict = 1012,  // 409: an Idempotency-Key already used for another purge
    not_found = 1404,             // 404
    method_not_allowed = 1405,
    conflict = 1409,                // 409: (registry) the edge id is held by another instance
    unsupported_media_type = 1415,  // 415: (zone API) a Content-Type other than JSON
    unauthenticated = 10000,        // 401: missing or unknown token
    forbidden = 10001,              // 403: the token may not purge this
    unavailable = 1500,             // 503: the log could not take the purge
};

struct ApiError {
    unsigned status = 400;
    ApiErrc code = ApiErrc::bad_request;
    std::string message;
    // Label for cdn_purge_api_rejected_total{reason=...}.
    std::string_view reason() const noexcept;
};
ApiError make_error(ApiErrc code, std::string message);
// {"success":false,"errors":[{"code":N,"message":"..."}]}
std::string error_body(const ApiError& e);
// Cloudflare's envelope, for the zone API:
// {"success":false,"errors":[{"code":N,"message":"..."}],"messages":[],"result":null}
std::string cloudflare_error_body(const ApiError& e);

struct RequestLimits {
    std::size_t max_items = purge::kDefaultMaxItems;        // values per list
    std::size_t max_value_length = purge::kMaxValueLength;  // bytes per value (edges' limit)
};

// Parses and validates a POST /v1/purge body.
//   - a JSON object with exactly one of "files", "prefixes", "tags", "hosts" (non-empty lists of
//     at most max_items) or "purge_everything": true, and optionally "soft": true|false;
//   - "files" entries are URL strings or objects {"url": "...", "headers": {...}} (Cloudflare's
//     form for cache keys with headers); the headers are checked to be strings and ignored;
//   - files must be http:// or https:// URLs with a host; prefixes are "host/path" or a URL;
//     hosts are host names (optionally with a port); tags have no separators (space, comma);
//   - no value is empty, longer than max_value_length, or has control characters or spaces.
std::variant<PurgeDraft, ApiError> parse_purge_body(std::string_view body,
                                                    const RequestLimits& limits);

// The host a value names (lower-cased, without a port), for host-limited tokens: a file's URL
// host, a prefix's host, a hosts entry. Empty for tags and everything.
std::string host_of_value(PurgeKind kind, std::string_view value);

// The zone API (POST /client/v4/zones/<zone>/purge_cache): a zone is one host name, lower-cased,
// without a port ("example.com"; subdomains are zones of their own). Returns the normalised
// zone, or nullopt when `zone` is not a host name.
std::optional<std::string> parse_zone(std::string_view zone);
// Limits a parsed purge to `zone`: files, prefixes and hosts must name the zone's host (400
// outside_zone otherwise); purge_everything becomes {"hosts": [zone]}; tags, which edges match
// on every host, cannot be limited to a zone (400 zone_kind).
std::optional<ApiError> limit_to_zone(PurgeDraft& draft, const std::string& zone);

}  // namespace cdn::purge_api
