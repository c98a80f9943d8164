#pragma once
// Vary (RFC 9111 section 4.1): which request fields select a stored variant, and the variant id
// of a request: the normalised values of those fields. Accept-Encoding is reduced to the
// content codings that matter (br, gzip, zstd, deflate), sorted, so "gzip, br" and
// "br;q=1.0,gzip" share one variant. The edge's own compression keys on a pseudo name instead
// (content_coding.hpp): its id is the coding selected for the request. Pure.
#include "common/http_util.hpp"
#include "edge/cache/content_coding.hpp"

#include <algorithm>

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

// Whether names holds the pseudo name of the edge's compressed variants.
inline bool has_coding_variant(const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(),
                       [](const std::string& n) { return is_coding_variant_name(n); });
}

// get(name) returns the request's value for a lower-case field name (all lines joined), or an
// empty view when absent. stored_coding, when set, is the id of the pseudo name (the coding of
// the object being stored) instead of the coding selected from the request's Accept-Encoding.
template <class Get>
std::string variant_id(const std::vector<std::string>& names, Get&& get,
                       std::string_view stored_coding = {}) {
    std::string id;
    for (const std::string& n : names) {
        if (is_coding_variant_name(n)) {
            id.append(n).push_back('=');
            if (stored_coding.empty())
                id.append(coding_name(select_coding(get(std::string("accept-encoding")),
                                                    codings_of_variant_name(n))));
            else
                id.append(stored_coding);
            id.push_back('\n');
            continue;
        }
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
