#pragma once
// The cache key: scheme + host + path + query, so versioned URLs (/app.js?v=2, /v2/app.js) are
// distinct objects. The host comes in normalised (lower case, no default port: parse_authority). Optionally the query
// parameters are sorted and listed ones (exact names or prefixes ending in '*', e.g. "utm_*")
// are dropped. Pure.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

struct KeyPolicy {
    bool sort_query = false;
    std::vector<std::string> drop_query_params;  // "fbclid", "utm_*"
};

// `host` is already normalised (parse_authority, normalize_host): the key takes it as it is.
std::string make_cache_key(std::string_view scheme, std::string_view host, std::string_view target,
                           const KeyPolicy& policy);

// A Host field value or a target's authority, checked and normalised so that the cache key, the
// origin group, the Host sent to the origin and purge scopes all see one spelling of a site:
// lower case, one trailing dot of the name dropped, the scheme's default port (and an empty port)
// dropped, a port's leading zeros dropped ("Example.COM.:080" -> "example.com" for http).
// nullopt when it is not uri-host [":" port] as a site is named (RFC 9110 section 7.2): empty,
// userinfo, percent-encoding or other characters outside letters, digits, '-', '.', '_', empty
// labels, an IP literal that is not hex digits and colons (and dots), a port that is not 1-65535.
std::optional<std::string> parse_authority(std::string_view scheme, std::string_view authority);

// Request fields that make common origin frameworks build a response for another host, URL,
// method or scheme than the one requested (X-Forwarded-Host, X-Original-URL, X-Rewrite-URL,
// X-HTTP-Method-Override, Forwarded...). They are not part of the cache key, so passed on they
// would let one client's header choose the response cached for everyone: the edge strips them
// before the origin unless a group lists one in pass_headers (which also keys on it). Takes a
// field name in any case.
bool is_unkeyed_override(std::string_view field_name);

// parse_authority() for values already known to be sane (configuration, purge scopes); a value
// it refuses comes back lower-cased only.
std::string normalize_host(std::string_view scheme, std::string_view host);

}  // namespace cdn::edge::cache
