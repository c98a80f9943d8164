#pragma once
// The cache key: scheme + host + path + query, so versioned URLs (/app.js?v=2, /v2/app.js) are
// distinct objects. Host is lower-cased and loses a default port. Optionally the query
// parameters are sorted and listed ones (exact names or prefixes ending in '*', e.g. "utm_*")
// are dropped. Pure.
#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

struct KeyPolicy {
    bool sort_query = false;
    std::vector<std::string> drop_query_params;  // "fbclid", "utm_*"
};

std::string make_cache_key(std::string_view scheme, std::string_view host, std::string_view target,
                           const KeyPolicy& policy);

// Lower-cases a Host value and strips the scheme's default port ("Example.com:80" ->
// "example.com" for http).
std::string normalize_host(std::string_view scheme, std::string_view host);

}  // namespace cdn::edge::cache
