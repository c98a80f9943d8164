#pragma once
// Between origin responses (Beast field lists) and cache objects: reading the facts caching
// needs, building the stored pre-serialised head, and merging a 304 into a stored response
// (RFC 9111 section 3.2 / 4.3.4).
#include "edge/cache/freshness.hpp"
#include "edge/cache/targeted_cache_control.hpp"
#include "edge/storage/cached_object.hpp"

#include <boost/beast/http/fields.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::proxy {

using Fields = boost::beast::http::fields;

// All values of a field joined with ", " (RFC 9110 section 5.3).
std::string join_values(const Fields& fields, boost::beast::http::field name);

// The facts of a response, its caching directives taken from the first valid field of
// `sources` (RFC 9213 targeted fields, Surrogate-Control), else from Cache-Control and Expires.
cache::ResponseFacts facts_of(unsigned status, const Fields& fields,
                              const cache::CacheControlSources& sources);

// obj without the fields meant for CDNs (the targeted fields of `sources` and
// Surrogate-Control), for an end client; obj itself when it has none.
storage::ObjectPtr without_cdn_fields(storage::ObjectPtr obj,
                                      const cache::CacheControlSources& sources);

struct BuildOptions {
    bool strip_set_cookie = false;  // the shared copy of a public response that sets a cookie
    bool head_response = false;     // reply to HEAD: keep the origin's Content-Length, no body
    bool accept_ranges = false;     // add "Accept-Ranges: bytes" unless the origin said otherwise
    // Content-Length to announce when the reply sends only part of body (a byte range).
    std::optional<std::size_t> content_length = std::nullopt;
    // No Content-Length at all: the body's length is not known yet (it is streamed).
    bool no_length = false;
    // The object's insertion sequence, reserved when its fetch started (so a purge that
    // arrives during the fetch covers it); 0 = take the next one now.
    std::uint64_t seq = 0;
    // Vary gets Accept-Encoding (merged, once): a response the edge may compress
    // (compressed_variant.hpp), whose identity form downstream caches must keep apart.
    bool vary_accept_encoding = false;
};

// Builds an object whose head holds the end-to-end fields (hop-by-hop, Content-Length and Age
// removed; Date added when missing) and a Content-Length matching body.
storage::ObjectPtr build_object(std::string_view key, unsigned status, std::string_view reason,
                                const Fields& fields, BodyPtr body, const storage::ObjectMeta& meta,
                                TimePoint response_time, const BuildOptions& options);

// The 304 for a client whose conditional request matches obj: the fields RFC 9110 section
// 15.4.5 asks for (Date, ETag, Last-Modified, Cache-Control, Expires, Vary, Content-Location).
storage::ObjectPtr not_modified_reply(const storage::CachedObject& obj);

// Parses a stored head back into its status, reason and fields.
struct ParsedHead {
    unsigned status = 0;
    std::string reason;
    Fields fields;
};
ParsedHead parse_head(std::string_view head);

// The stored fields updated with those of a 304 (hop-by-hop, Content-Length and Age excepted).
void merge_not_modified(Fields& stored, const Fields& not_modified);

}  // namespace cdn::edge::proxy
