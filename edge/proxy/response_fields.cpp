#include "edge/proxy/response_fields.hpp"

#include "common/http_date.hpp"
#include "common/http_util.hpp"
#include "edge/cache/content_coding.hpp"
#include "edge/http/exchange.hpp"

#include <charconv>
#include <vector>

namespace cdn::edge::proxy {

namespace beast_http = boost::beast::http;
using http_util::iequals;

std::string join_values(const Fields& fields, beast_http::field name) {
    std::string out;
    auto [it, end] = fields.equal_range(name);
    for (; it != end; ++it) {
        if (!out.empty()) out.append(", ");
        out.append(it->value());
    }
    return out;
}

namespace {

std::string join_values(const Fields& fields, std::string_view name) {
    std::string out;
    auto [it, end] = fields.equal_range(name);
    for (; it != end; ++it) {
        if (!out.empty()) out.append(", ");
        out.append(it->value());
    }
    return out;
}

bool is_cdn_field(std::string_view name, const cache::CacheControlSources& sources) {
    if (iequals(name, "surrogate-control")) return true;
    return std::any_of(sources.targeted.begin(), sources.targeted.end(),
                       [&](const std::string& t) { return iequals(name, t); });
}

// RFC 9110 section 5.3 / RFC 9111 section 5.1: Age is delta-seconds (1*DIGIT); anything else is
// ignored. A value too large for 31 bits is capped at 2^31 (section 1.2.2).
std::optional<std::int64_t> parse_age(std::string_view v) {
    v = http_util::trim(v);
    if (v.empty()) return std::nullopt;
    std::int64_t age = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        age = std::min<std::int64_t>(age * 10 + (c - '0'), 2147483648);
    }
    return age;
}

}  // namespace

cache::ResponseFacts facts_of(unsigned status, const Fields& fields,
                              const cache::CacheControlSources& sources) {
    cache::ResponseFacts f;
    f.status = status;
    const auto effective = cache::effective_cache_control(
        sources, [&](std::string_view name) { return join_values(fields, name); });
    f.cc = effective.cc;
    for (const auto& field : fields)
        if (is_cdn_field(field.name_string(), sources)) {
            f.has_cdn_fields = true;
            break;
        }
    if (auto it = fields.find(beast_http::field::date); it != fields.end())
        f.date = parse_http_date(it->value());
    // RFC 9213 section 2.2: a targeted field in charge makes Expires irrelevant.
    if (auto it = fields.find(beast_http::field::expires);
        it != fields.end() && effective.source.empty()) {
        f.has_expires = true;
        // Two Expires lines: RFC 9111 section 4.2.1 lets a cache consider the response stale.
        if (fields.count(beast_http::field::expires) == 1) f.expires = parse_http_date(it->value());
    }
    if (auto it = fields.find(beast_http::field::last_modified); it != fields.end())
        f.last_modified = parse_http_date(it->value());
    // Several Age lines (or a list) are not delta-seconds: ignored.
    if (auto it = fields.find(beast_http::field::age);
        it != fields.end() && fields.count(beast_http::field::age) == 1)
        f.age = parse_age(it->value());
    f.has_etag = fields.find(beast_http::field::etag) != fields.end();
    f.has_set_cookie = fields.find(beast_http::field::set_cookie) != fields.end();
    if (auto it = fields.find(beast_http::field::vary); it != fields.end()) f.vary = it->value();
    return f;
}

storage::ObjectPtr without_cdn_fields(storage::ObjectPtr obj,
                                      const cache::CacheControlSources& sources) {
    if (!obj->meta.cdn_fields) return obj;
    // The head is "status line\r\n" then "Name: value\r\n" lines: drop the CDN's own.
    std::string head;
    head.reserve(obj->head().size());
    std::string_view rest = obj->head();
    bool first = true;
    while (!rest.empty()) {
        const auto eol = rest.find("\r\n");
        const std::string_view line =
            rest.substr(0, eol == std::string_view::npos ? rest.size() : eol + 2);
        rest.remove_prefix(line.size());
        if (!first) {
            const auto colon = line.find(':');
            if (colon != std::string_view::npos && is_cdn_field(line.substr(0, colon), sources))
                continue;
        }
        first = false;
        head.append(line);
    }
    auto copy = storage::CachedObject::copy(*obj, head);
    copy->variants.reset();
    return copy;
}

storage::ObjectPtr build_object(std::string_view key, unsigned status, std::string_view reason,
                                const Fields& fields, BodyPtr body, const storage::ObjectMeta& meta,
                                TimePoint response_time, const BuildOptions& options) {
    const std::string_view connection = fields[beast_http::field::connection];
    http::HeadBuilder hb(status, reason);
    bool has_date = false;
    for (const auto& f : fields) {
        const std::string_view name = f.name_string();
        if (http_util::is_hop_by_hop(name) || http_util::list_has_token(connection, name)) continue;
        // Age is the edge's to compute; X-Request-Id is each request's own (an origin that
        // echoes one would otherwise hand the first requester's id to every hit).
        if (iequals(name, "age") || iequals(name, "x-request-id")) continue;
        if (iequals(name, "content-length") && !options.head_response) continue;
        if (options.strip_set_cookie && iequals(name, "set-cookie")) continue;
        if (iequals(name, "date")) {
            // An invalid Date is replaced by the time the response came (RFC 9110 6.6.1).
            if (has_date || !parse_http_date(f.value())) continue;
            has_date = true;
        }
        if (options.vary_accept_encoding && iequals(name, "vary")) continue;  // merged below
        hb.field(name, f.value());
    }
    if (!has_date) hb.field("Date", format_http_date(response_time));
    if (options.vary_accept_encoding)
        hb.field("Vary",
                 cache::vary_with_accept_encoding(join_values(fields, beast_http::field::vary)));
    if (options.accept_ranges && fields.find(beast_http::field::accept_ranges) == fields.end())
        hb.field("Accept-Ranges", "bytes");
    const bool bodiless = status < 200 || status == 204 || status == 304;
    const std::size_t size = options.content_length.value_or(body ? body->size() : 0);
    auto obj = storage::CachedObject::make(
        key, hb.finish(size, !bodiless && !options.head_response && !options.no_length));
    obj->status = status;
    obj->seq = options.seq != 0 ? options.seq : storage::next_object_sequence();
    obj->meta = meta;
    if (!bodiless && !options.head_response) obj->body = std::move(body);
    return obj;
}

ParsedHead parse_head(std::string_view head) {
    ParsedHead p;
    auto eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, eol);
    // "HTTP/1.1 200 OK"
    if (status_line.size() >= 12) {
        std::from_chars(status_line.data() + 9, status_line.data() + 12, p.status);
        if (status_line.size() > 13) p.reason = std::string(status_line.substr(13));
    }
    while (eol != std::string_view::npos) {
        const std::size_t start = eol + 2;
        eol = head.find("\r\n", start);
        const std::string_view line = head.substr(
            start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
        const auto colon = line.find(':');
        if (line.empty() || colon == std::string_view::npos) continue;
        p.fields.insert(line.substr(0, colon), http_util::trim(line.substr(colon + 1)));
    }
    return p;
}

storage::ObjectPtr not_modified_reply(const storage::CachedObject& obj) {
    const ParsedHead stored = parse_head(obj.head());
    Fields keep;
    for (const auto& f : stored.fields) {
        const std::string_view n = f.name_string();
        if (iequals(n, "date") || iequals(n, "etag") || iequals(n, "last-modified") ||
            iequals(n, "cache-control") || iequals(n, "expires") || iequals(n, "vary") ||
            iequals(n, "content-location"))
            keep.insert(n, f.value());
    }
    return build_object(obj.key(), 304, "", keep, nullptr, obj.meta, obj.meta.response_time, {});
}

void merge_not_modified(Fields& stored, const Fields& not_modified) {
    const std::string_view connection = not_modified[beast_http::field::connection];
    std::vector<std::string> replaced;
    for (const auto& f : not_modified) {
        const std::string_view name = f.name_string();
        if (http_util::is_hop_by_hop(name) || http_util::list_has_token(connection, name)) continue;
        if (iequals(name, "content-length") || iequals(name, "age") ||
            iequals(name, "x-request-id"))
            continue;
        bool seen = false;
        for (const auto& r : replaced)
            seen = seen || iequals(r, name);
        if (!seen) {
            stored.erase(name);
            replaced.emplace_back(name);
        }
        stored.insert(name, f.value());
    }
}

}  // namespace cdn::edge::proxy
