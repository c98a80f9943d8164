#pragma once
// Vary (RFC 9111 section 4.1): which request fields select a stored variant, and the variant id
// of a request: the normalised values of those fields. Accept-Encoding is reduced to the
// content codings that matter (br, gzip, zstd, deflate), sorted, so "gzip, br" and
// "br;q=1.0,gzip" share one variant. Pure.
#include "common/http_util.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace cdn::edge::cache {

struct VaryFields {
    bool star = false;               // Vary: * (never served from cache)
    std::vector<std::string> names;  // lower-case, in order of first appearance, no duplicates
};
VaryFields parse_vary(std::string_view value);

std::string normalize_accept_encoding(std::string_view value);

// get(name) returns the request's value for a lower-case field name (all lines joined), or an
// empty view when absent.
template <class Get>
std::string variant_id(const std::vector<std::string>& names, Get&& get) {
    std::string id;
    for (const std::string& n : names) {
        const std::string_view v = http_util::trim(get(n));
        id.append(n).push_back('=');
        if (n == "accept-encoding")
            id.append(normalize_accept_encoding(v));
        else
            id.append(v);
        id.push_back('\n');  // cannot appear inside a field value
    }
    return id;
}

}  // namespace cdn::edge::cache
