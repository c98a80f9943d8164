#include "origin_sim/object.hpp"

#include "common/http_util.hpp"
#include "common/units.hpp"
#include "origin_sim/query.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace cdn::origin_sim {
namespace {

constexpr std::array<std::string_view, 19> kControl = {
    "size",   "status", "cc",      "expires", "lm",          "etag",    "vary",
    "tags",   "cookie", "age",     "delay",   "date_offset", "chunked", "ctype",
    "header", "fault",  "slow_ms", "ranges",  "expect"};

bool parse_i64(std::string_view s, std::int64_t& out) noexcept {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

// A number of seconds within +-kMaxSeconds.
bool parse_seconds(std::string_view s, std::int64_t& out) noexcept {
    return parse_i64(s, out) && out <= kMaxSeconds && out >= -kMaxSeconds;
}

std::optional<bool> parse_flag(std::string_view s) noexcept {
    if (s == "1" || s == "true" || s == "yes" || s == "on" || s.empty()) return true;
    if (s == "0" || s == "false" || s == "no" || s == "off") return false;
    return std::nullopt;
}

}  // namespace

bool is_control_param(std::string_view key) noexcept {
    for (std::string_view k : kControl)
        if (k == key) return true;
    return false;
}

std::string identity_of(std::string_view target) {
    const SplitTarget t = split_target(target);
    std::string id(t.path);
    bool first = true;
    for (const QueryParam& p : parse_query(t.query)) {
        if (is_control_param(p.key)) continue;
        id += first ? '?' : '&';
        id += p.raw;
        first = false;
    }
    return id;
}

std::string_view content_type_for(std::string_view path) noexcept {
    const auto slash = path.rfind('/');
    const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = last.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    const std::string_view ext = last.substr(dot + 1);
    struct Entry {
        std::string_view ext, type;
    };
    static constexpr Entry kTypes[] = {
        {"js", "text/javascript"},
        {"mjs", "text/javascript"},
        {"css", "text/css"},
        {"html", "text/html"},
        {"htm", "text/html"},
        {"json", "application/json"},
        {"txt", "text/plain"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"webp", "image/webp"},
        {"mp4", "video/mp4"},
        {"m3u8", "application/vnd.apple.mpegurl"},
        {"ts", "video/mp2t"},
        {"xml", "application/xml"},
        {"wasm", "application/wasm"},
    };
    for (const Entry& e : kTypes)
        if (http_util::iequals(e.ext, ext)) return e.type;
    return "application/octet-stream";
}

void ResolvedObject::apply(const ObjectSpec& s) {
    if (s.size) size = *s.size;
    if (s.status) status = *s.status;
    if (s.cache_control) {
        if (s.cache_control->empty())
            cache_control.reset();
        else
            cache_control = *s.cache_control;
    }
    if (s.expires) expires = *s.expires;
    if (s.last_modified) last_modified = *s.last_modified;
    if (s.etag) etag = *s.etag;
    if (s.vary) vary = s.vary->empty() ? std::nullopt : s.vary;
    if (s.tags) tags = *s.tags;
    if (s.set_cookie) set_cookie = s.set_cookie->empty() ? std::nullopt : s.set_cookie;
    if (s.age) age = s.age->empty() ? std::nullopt : s.age;
    if (s.date_offset) date_offset = *s.date_offset;
    if (s.delay) delay = *s.delay;
    if (s.chunked) chunked = *s.chunked;
    if (s.ranges) ranges = *s.ranges;
    if (s.ignore_expect) ignore_expect = *s.ignore_expect;
    if (s.content_type) content_type = *s.content_type;
    if (s.fault) fault = *s.fault;
    if (s.slow_interval) slow_interval = *s.slow_interval;
    for (const auto& h : s.headers) {
        // A later layer replaces an earlier header of the same name.
        std::erase_if(headers, [&](const auto& e) { return http_util::iequals(e.first, h.first); });
    }
    headers.insert(headers.end(), s.headers.begin(), s.headers.end());
}

bool spec_from_query(const std::vector<QueryParam>& params, ObjectSpec& o, std::string& error) {
    auto fail = [&](const QueryParam& p, std::string_view why) {
        error = fmt::format("query parameter '{}': {}", p.key, why);
        return false;
    };
    for (const QueryParam& p : params) {
        if (!is_control_param(p.key)) continue;
        const std::string& v = p.value;
        if (!is_safe_value(v)) return fail(p, "control characters are not allowed");
        std::int64_t n = 0;
        if (p.key == "size") {
            auto s = parse_size(v);
            if (!s || *s > kMaxSize)
                return fail(p, "expected a number of bytes or a size like 64KiB (at most 1PiB)");
            o.size = *s;
        } else if (p.key == "status") {
            if (!parse_i64(v, n) || n < 200 || n > 599)
                return fail(p, "expected an HTTP status from 200 to 599");
            o.status = static_cast<unsigned>(n);
        } else if (p.key == "cc") {
            o.cache_control = v;
        } else if (p.key == "expires") {
            o.expires = parse_seconds(v, n) ? ExpiresSpec{n, false} : ExpiresSpec{0, true};
        } else if (p.key == "lm") {
            if (v == "none")
                o.last_modified = LastModifiedSpec{true, 0};
            else if (parse_seconds(v, n))
                o.last_modified = LastModifiedSpec{false, n};
            else
                return fail(p, "expected seconds or 'none'");
        } else if (p.key == "etag") {
            if (v == "0" || v == "none" || v == "false")
                o.etag = EtagMode::none;
            else if (v == "weak")
                o.etag = EtagMode::weak;
            else if (v == "1" || v == "strong" || v == "true")
                o.etag = EtagMode::strong;
            else
                return fail(p, "expected 0, 1 or weak");
        } else if (p.key == "vary") {
            o.vary = v;
        } else if (p.key == "tags") {
            std::vector<std::string> tags;
            bool ok = true;
            http_util::for_each_element(v, [&](std::string_view t) {
                ok = is_token(t);
                if (ok) tags.emplace_back(t);
                return ok;
            });
            if (!ok) return fail(p, "tags must be a comma-separated list of tokens");
            o.tags = std::move(tags);
        } else if (p.key == "cookie") {
            o.set_cookie = v;
        } else if (p.key == "age") {
            o.age = v;
        } else if (p.key == "date_offset") {
            if (!parse_seconds(v, n)) return fail(p, "expected seconds");
            o.date_offset = n;
        } else if (p.key == "delay") {
            if (parse_i64(v, n) && n >= 0)
                o.delay = std::chrono::milliseconds(n);
            else if (auto d = parse_duration(v))
                o.delay = *d;
            else
                return fail(p, "expected milliseconds");
            if (*o.delay > kMaxDelay) return fail(p, "at most one hour");
        } else if (p.key == "chunked") {
            auto f = parse_flag(v);
            if (!f) return fail(p, "expected 1 or 0");
            o.chunked = *f;
        } else if (p.key == "ranges") {
            auto f = parse_flag(v);
            if (!f) return fail(p, "expected 1 or 0");
            o.ranges = *f;
        } else if (p.key == "expect") {
            if (v != "ignore" && v != "honour") return fail(p, "expected ignore or honour");
            o.ignore_expect = v == "ignore";
        } else if (p.key == "ctype") {
            o.content_type = v;
        } else if (p.key == "header") {
            const auto colon = v.find(':');
            if (colon == std::string::npos) return fail(p, "expected Name:Value");
            const std::string_view name = http_util::trim(std::string_view(v).substr(0, colon));
            if (!is_token(name)) return fail(p, "not a valid header name");
            if (is_framing_header(name)) return fail(p, "framing headers cannot be set");
            std::erase_if(o.headers,
                          [&](const auto& e) { return http_util::iequals(e.first, name); });
            o.headers.emplace_back(
                std::string(name),
                std::string(http_util::trim(std::string_view(v).substr(colon + 1))));
        } else if (p.key == "fault") {
            auto f = parse_fault(v);
            if (!f) return fail(p, "expected reset, close, hang, slow, truncate, 500 or none");
            o.fault = *f;
        } else if (p.key == "slow_ms") {
            if (!parse_i64(v, n) || n < 0 || n > kMaxDelay.count())
                return fail(p, "expected milliseconds (at most one hour)");
            o.slow_interval = std::chrono::milliseconds(n);
        }
    }
    return true;
}

Resolution resolve(const SimConfig& config, std::string_view target) {
    Resolution r;
    const SplitTarget t = split_target(target);
    ObjectSpec query;
    if (!spec_from_query(parse_query(t.query), query, r.error)) return r;
    ResolvedObject o;
    o.path = std::string(t.path);
    o.identity = identity_of(target);
    o.apply(config.defaults);
    if (const ObjectRule* rule = config.match(t.path)) o.apply(rule->spec);
    o.apply(query);
    if (o.content_type.empty()) o.content_type = std::string(content_type_for(o.path));
    if (o.fault == Fault::error500) {
        o.status = 500;
        o.cache_control = "no-store";
    }
    r.object = std::move(o);
    return r;
}

}  // namespace cdn::origin_sim
