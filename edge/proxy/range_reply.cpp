#include "edge/proxy/range_reply.hpp"

#include "common/http_util.hpp"
#include "edge/cache/conditional.hpp"
#include "edge/proxy/response_fields.hpp"

#include <fmt/format.h>
#include <xxhash.h>

namespace cdn::edge::proxy {

using http_util::iequals;

bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::string_view last_modified) noexcept {
    if_range = http_util::trim(if_range);
    if (if_range.empty()) return true;
    if (if_range.front() == '"' || if_range.starts_with("W/")) {
        // Strong comparison (RFC 9110 section 13.1.5): weak tags never match.
        const auto asked = cache::parse_entity_tag(if_range);
        const auto stored = cache::parse_entity_tag(etag);
        return asked && stored && cache::strong_match(*asked, *stored);
    }
    return !last_modified.empty() && if_range == last_modified;
}

namespace {

// The stored fields without those a partial response replaces.
Fields partial_fields(const storage::CachedObject& full, bool keep_content_type) {
    ParsedHead p = parse_head(full.head());
    p.fields.erase("Content-Length");
    p.fields.erase("Content-Range");
    if (!keep_content_type) p.fields.erase("Content-Type");
    return std::move(p.fields);
}

storage::ObjectPtr with(const storage::CachedObject& full, unsigned status, Fields& fields,
                        BodyPtr body, BuildOptions options = {}) {
    return build_object(full.key(), status, "", fields, std::move(body), full.meta,
                        full.meta.response_time, options);
}

}  // namespace

storage::ObjectPtr partial_object(const storage::CachedObject& full, http_range::ByteRange range) {
    Fields f = partial_fields(full, true);
    f.set("Content-Range", http_range::format_content_range(range, full.body_size()));
    // The reply sends a slice of the shared body: no copy.
    return with(full, 206, f, full.body, {.content_length = range.length()});
}

storage::ObjectPtr multipart_object(const storage::CachedObject& full,
                                    const std::vector<http_range::ByteRange>& ranges) {
    const std::string_view whole = full.body ? std::string_view(*full.body) : std::string_view();
    const std::string boundary =
        fmt::format("cdn-{:016x}", XXH3_64bits(full.key().data(), full.key().size()));
    std::string content_type;
    {
        const ParsedHead p = parse_head(full.head());
        content_type = std::string(p.fields["Content-Type"]);
    }
    std::string body;
    for (const auto& r : ranges) {
        body += fmt::format("\r\n--{}\r\n", boundary);
        if (!content_type.empty()) body += fmt::format("Content-Type: {}\r\n", content_type);
        body += fmt::format("Content-Range: {}\r\n\r\n",
                            http_range::format_content_range(r, whole.size()));
        body.append(whole.substr(r.first, r.length()));
    }
    body += fmt::format("\r\n--{}--\r\n", boundary);
    Fields f = partial_fields(full, false);
    f.set("Content-Type", "multipart/byteranges; boundary=" + boundary);
    return with(full, 206, f, new_body(body));
}

storage::ObjectPtr unsatisfiable_object(const storage::CachedObject& full) {
    Fields f = partial_fields(full, false);
    f.set("Content-Range", http_range::format_unsatisfied_range(full.body_size()));
    return with(full, 416, f, new_body());
}

}  // namespace cdn::edge::proxy
