#include "origin_sim/handler.hpp"

#include "common/http_date.hpp"
#include "common/http_range.hpp"
#include "common/http_util.hpp"
#include "origin_sim/body.hpp"
#include "origin_sim/query.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cdn::origin_sim {
namespace http = boost::beast::http;
namespace json = boost::json;
using http_util::iequals;

namespace {

std::string_view reason(unsigned status) {
    const std::string_view r = http::obsolete_reason(http::int_to_status(status));
    if (r.empty() || r.front() == '<') return "Unknown";
    return r;
}

std::string_view field(const Request& req, http::field f) {
    const auto it = req.find(f);
    return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

bool has_field(const Request& req, http::field f) {
    return req.find(f) != req.end();
}

// parse_http_date, refusing years from 2200 on: common's parser converts any year to a
// nanosecond time_point, which overflows (undefined behaviour) after 2262.
std::optional<TimePoint> parse_date(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] < '0' || s[i] > '9') {
            ++i;
            continue;
        }
        std::size_t j = i;
        std::uint64_t v = 0;
        while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - i < 6)
            v = v * 10 + static_cast<unsigned>(s[j++] - '0');
        if (j - i >= 4 && v >= 2200) return std::nullopt;
        i = j;
    }
    return parse_http_date(s);
}

// The opaque-tag of an entity-tag with or without W/ ("W/\"x\"" -> "\"x\"").
std::string_view opaque(std::string_view etag) noexcept {
    if (etag.starts_with("W/")) etag.remove_prefix(2);
    return etag;
}

// If-None-Match uses weak comparison (RFC 9110 section 13.1.2).
bool none_match_hits(std::string_view list, std::string_view etag) {
    bool hit = false;
    http_util::for_each_element(list, [&](std::string_view e) {
        hit = e == "*" || (!etag.empty() && opaque(e) == opaque(etag));
        return !hit;
    });
    return hit;
}

// If-Range: a strong entity-tag comparison, or an exact Last-Modified date.
bool if_range_holds(std::string_view value, std::string_view etag,
                    const std::optional<TimePoint>& last_modified) {
    value = http_util::trim(value);
    if (value.starts_with("W/")) return false;
    if (value.starts_with("\"")) return !etag.empty() && !etag.starts_with("W/") && value == etag;
    const auto date = parse_date(value);
    return date && last_modified && *date == *last_modified;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

const QueryParam* find_param(const std::vector<QueryParam>& params, std::string_view key) {
    for (const QueryParam& p : params)
        if (p.key == key) return &p;
    return nullptr;
}

}  // namespace

bool is_admin_path(std::string_view path) noexcept {
    return path == "/_stats" || path == "/_reset" || path == "/_version" || path == "/_healthz";
}

// ---- ResponsePlan ----

std::uint64_t ResponsePlan::body_length() const noexcept {
    std::uint64_t n = 0;
    for (const BodySegment& s : body)
        n += s.literal.size() + s.length;
    return n;
}

std::string ResponsePlan::head() const {
    std::string h;
    h.reserve(512);
    h += fmt::format("HTTP/1.1 {} {}\r\n", status, reason(status));
    for (const auto& [k, v] : headers) {
        h += k;
        h += ": ";
        h += v;
        h += "\r\n";
    }
    if (!no_length) {
        if (chunked)
            h += "Transfer-Encoding: chunked\r\n";
        else
            h += fmt::format("Content-Length: {}\r\n", body_length());
    }
    if (close)
        h += "Connection: close\r\n";
    else if (keep_alive_header)
        h += "Connection: keep-alive\r\n";
    h += "\r\n";
    return h;
}

std::string_view ResponsePlan::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

std::size_t BodyReader::read(char* out, std::size_t n) noexcept {
    std::size_t done = 0;
    while (done < n && segment_ < plan_.body.size()) {
        const BodySegment& s = plan_.body[segment_];
        if (pos_ < s.literal.size()) {
            const std::size_t take =
                std::min<std::size_t>(n - done, s.literal.size() - static_cast<std::size_t>(pos_));
            std::memcpy(out + done, s.literal.data() + pos_, take);
            done += take;
            pos_ += take;
            continue;
        }
        const std::uint64_t gen_pos = pos_ - s.literal.size();
        if (gen_pos < s.length) {
            const std::size_t take =
                static_cast<std::size_t>(std::min<std::uint64_t>(n - done, s.length - gen_pos));
            fill_body(plan_.seed, s.offset + gen_pos, out + done, take);
            done += take;
            pos_ += take;
            continue;
        }
        ++segment_;
        pos_ = 0;
    }
    return done;
}

// ---- RequestHandler ----

RequestHandler::RequestHandler(std::shared_ptr<const SimConfig> config, SimState& state,
                               const Clock& clock, std::string name)
    : config_(std::move(config)), state_(state), clock_(clock), name_(std::move(name)) {}

void RequestHandler::common_headers(ResponsePlan& plan, TimePoint date) const {
    plan.headers.emplace_back("Date", format_http_date(date));
    plan.headers.emplace_back("Server", "origin_sim");
    if (!name_.empty()) plan.headers.emplace_back("X-Origin-Name", name_);
}

ResponsePlan RequestHandler::error(unsigned status, std::string_view message) const {
    ResponsePlan plan;
    plan.status = status;
    common_headers(plan, clock_.now());
    plan.headers.emplace_back("Cache-Control", "no-store");
    plan.headers.emplace_back("Content-Type", "text/plain");
    plan.body.push_back({std::string(message) + "\n", 0, 0});
    plan.close = true;
    return plan;
}

ResponsePlan RequestHandler::json(unsigned status, std::string body) const {
    ResponsePlan plan;
    plan.status = status;
    common_headers(plan, clock_.now());
    plan.headers.emplace_back("Cache-Control", "no-store");
    plan.headers.emplace_back("Content-Type", "application/json");
    body += '\n';
    plan.body.push_back({std::move(body), 0, 0});
    return plan;
}

ResponsePlan RequestHandler::handle(const Request& req) {
    const std::string_view target = req.target();
    const SplitTarget t = split_target(target);
    ResponsePlan plan;
    if (target.empty() || target.front() != '/') {
        plan = error(400, "the request target must be an origin-form path");
    } else if (is_admin_path(t.path)) {
        plan = admin(req, t.path, t.query);
    } else {
        state_.count_request(target);
        state_.count_method(req.method_string());
        if (t.path == "/_echo") {
            plan = echo(req);
        } else {
            Resolution r = resolve(*config_, target);
            if (!r.object)
                plan = error(400, r.error);
            else if (req.method() == http::verb::get || req.method() == http::verb::head)
                plan = object(req, *r.object);
            else
                plan = other_method(req, *r.object);
        }
    }
    if (req.method() == http::verb::head) plan.send_body = false;
    if (!req.keep_alive())
        plan.close = true;
    else if (req.version() < 11)
        plan.keep_alive_header = true;
    if (req.version() < 11) plan.chunked = false;  // HTTP/1.0 has no chunked coding
    return plan;
}

bool RequestHandler::continues(const Request& head) const {
    const SplitTarget t = split_target(head.target());
    if (is_admin_path(t.path)) return true;
    const Resolution r = resolve(*config_, head.target());
    return !r.object || !r.object->ignore_expect;
}

std::optional<ResponsePlan> RequestHandler::refuse_upload(const Request& head) {
    const std::string_view target = head.target();
    const SplitTarget t = split_target(target);
    if (target.empty() || target.front() != '/' || is_admin_path(t.path)) return std::nullopt;
    const Resolution r = resolve(*config_, target);
    if (!r.object || r.object->status < 400) return std::nullopt;
    ResponsePlan plan = handle(head);
    plan.close = true;  // the unread body would follow on this connection
    return plan;
}

ResponsePlan RequestHandler::admin(const Request& req, std::string_view path,
                                   std::string_view query) {
    const auto params = parse_query(query);
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    const bool post = req.method() == http::verb::post;
    auto not_allowed = [&](std::string_view allow) {
        ResponsePlan p = error(405, "method not allowed");
        p.close = false;
        p.headers.emplace_back("Allow", std::string(allow));
        return p;
    };
    if (path == "/_healthz") {
        if (!get) return not_allowed("GET, HEAD");
        ResponsePlan p = error(200, "ok");
        p.close = false;
        p.body = {{"ok", 0, 0}};
        return p;
    }
    if (path == "/_stats") {
        if (!get) return not_allowed("GET, HEAD");
        if (const QueryParam* t = find_param(params, "target")) {
            const auto [requests, not_modified] = state_.counts_for(t->value);
            json::object o;
            o["target"] = t->value;
            o["requests"] = requests;
            o["not_modified"] = not_modified;
            return json(200, json::serialize(o));
        }
        const SimState::Counts c = state_.counts();
        json::object o;
        o["total"] = c.total;
        json::object targets, nm;
        for (const auto& [k, v] : c.targets)
            targets[k] = v;
        for (const auto& [k, v] : c.not_modified)
            nm[k] = v;
        o["targets"] = std::move(targets);
        o["not_modified"] = std::move(nm);
        json::object methods;
        for (const auto& [k, v] : c.methods)
            methods[k] = v;
        o["methods"] = std::move(methods);
        o["global_version"] = state_.global_version();
        o["tls_handshakes"] = c.tls_handshakes;
        o["tls_resumed"] = c.tls_resumed;
        return json(200, json::serialize(o));
    }
    if (path == "/_reset") {
        if (!post) return not_allowed("POST");
        state_.reset_counters();
        ResponsePlan p;
        p.status = 204;
        common_headers(p, clock_.now());
        p.headers.emplace_back("Cache-Control", "no-store");
        p.no_length = true;
        return p;
    }
    // /_version
    if (!post) return not_allowed("POST");
    std::optional<std::uint64_t> v;
    if (const QueryParam* vp = find_param(params, "v")) {
        v = parse_u64(vp->value);
        if (!v || *v == 0) {
            ResponsePlan p = error(400, "v: expected a version >= 1");
            p.close = false;
            return p;
        }
    }
    const TimePoint now = clock_.now();
    json::object o;
    if (const QueryParam* pp = find_param(params, "path")) {
        if (pp->value.empty() || pp->value.front() != '/') {
            ResponsePlan p = error(400, "path: expected an object identity starting with '/'");
            p.close = false;
            return p;
        }
        // The identity of the given path: control parameters in it are dropped.
        const std::string identity = identity_of(pp->value);
        const std::uint64_t own = state_.set_version(identity, v, now);
        const SimState::Version eff = state_.version_of(identity);
        o["path"] = identity;
        o["version"] = own;
        o["global_version"] = state_.global_version();
        o["effective_version"] = eff.version;
    } else {
        if (v) {
            ResponsePlan p = error(400, "v needs a path; without a path /_version bumps all");
            p.close = false;
            return p;
        }
        const std::uint64_t g = state_.bump_global(now);
        o["version"] = g;
        o["global_version"] = g;
    }
    return json(200, json::serialize(o));
}

ResponsePlan RequestHandler::echo(const Request& req) const {
    json::object headers;
    for (const auto& f : req) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
        const json::string value(f.value());
        auto it = headers.find(name);
        if (it == headers.end()) {
            headers[name] = value;
        } else if (it->value().is_array()) {
            it->value().as_array().push_back(value);
        } else {
            json::array a;
            a.push_back(it->value());
            a.push_back(value);
            it->value() = std::move(a);
        }
    }
    json::object o;
    o["method"] = std::string_view(req.method_string());
    o["target"] = std::string_view(req.target());
    o["version"] = req.version() == 11 ? "HTTP/1.1" : "HTTP/1.0";
    o["headers"] = std::move(headers);
    if (!req.body().empty()) o["body"] = req.body();
    if (!name_.empty()) o["origin"] = name_;
    return json(200, json::serialize(o));
}

ResponsePlan RequestHandler::other_method(const Request& req, const ResolvedObject& o) const {
    ResponsePlan plan;
    plan.status = o.status;
    common_headers(plan, clock_.now() + std::chrono::seconds(o.date_offset));
    plan.headers.emplace_back("Cache-Control", "no-store");
    plan.headers.emplace_back("X-Method", std::string(req.method_string()));
    const std::string_view ct = field(req, http::field::content_type);
    plan.headers.emplace_back("Content-Type",
                              ct.empty() ? "application/octet-stream" : std::string(ct));
    for (const auto& h : o.headers)
        plan.headers.push_back(h);
    plan.body.push_back({req.body(), 0, 0});
    plan.delay = o.delay;
    plan.fault = o.fault;
    plan.slow_interval = o.slow_interval;
    plan.chunked = o.chunked;
    if (o.status == 204 || o.status == 304) {
        plan.body.clear();
        plan.no_length = true;
    }
    return plan;
}

ResponsePlan RequestHandler::object(const Request& req, const ResolvedObject& o) {
    const TimePoint now = clock_.now();
    const TimePoint date = now + std::chrono::seconds(o.date_offset);
    const SimState::Version ver = state_.version_of(o.identity);

    ResponsePlan plan;
    plan.status = o.status;
    plan.seed = body_seed(o.identity, ver.version);
    plan.delay = o.delay;
    plan.fault = o.fault;
    plan.slow_interval = o.slow_interval;
    plan.chunked = o.chunked;

    const std::string etag = o.etag == EtagMode::none ? std::string()
                                                      : make_etag(o.identity, ver.version, o.size,
                                                                  o.etag == EtagMode::weak);
    std::optional<TimePoint> last_modified;
    if (!o.last_modified.omit) last_modified = ver.base - std::chrono::seconds(o.last_modified.ago);

    // The fields a 304 repeats (RFC 9110 section 15.4.5), in the order they are sent.
    Headers validators;
    if (o.cache_control) validators.emplace_back("Cache-Control", *o.cache_control);
    if (o.expires) {
        validators.emplace_back(
            "Expires", o.expires->invalid
                           ? std::string("0")
                           : format_http_date(date + std::chrono::seconds(o.expires->seconds)));
    }
    if (!etag.empty()) validators.emplace_back("ETag", etag);
    if (last_modified) validators.emplace_back("Last-Modified", format_http_date(*last_modified));
    if (o.vary) validators.emplace_back("Vary", *o.vary);

    // Conditional requests, only for what would otherwise be a 2xx (RFC 9110 section 13.2.2).
    bool not_modified = false;
    if (o.status >= 200 && o.status < 300) {
        if (has_field(req, http::field::if_none_match)) {
            not_modified = none_match_hits(field(req, http::field::if_none_match), etag);
        } else if (last_modified && has_field(req, http::field::if_modified_since)) {
            const auto ims = parse_date(field(req, http::field::if_modified_since));
            not_modified = ims && *last_modified <= *ims;
        }
    }
    if (not_modified) {
        state_.count_not_modified(req.target());
        plan.status = 304;
        common_headers(plan, date);
        plan.headers.insert(plan.headers.end(), validators.begin(), validators.end());
        plan.no_length = true;
        plan.chunked = false;
        plan.send_body = false;
        return plan;
    }

    common_headers(plan, date);
    plan.headers.insert(plan.headers.end(), validators.begin(), validators.end());
    if (o.age) plan.headers.emplace_back("Age", *o.age);
    if (o.set_cookie) plan.headers.emplace_back("Set-Cookie", *o.set_cookie);
    if (!o.tags.empty()) {
        std::string sk, ct;
        for (const auto& t : o.tags) {
            sk += (sk.empty() ? "" : " ") + t;
            ct += (ct.empty() ? "" : ",") + t;
        }
        plan.headers.emplace_back("Surrogate-Key", sk);
        plan.headers.emplace_back("Cache-Tag", ct);
    }
    plan.headers.emplace_back("X-Object-Version", std::to_string(ver.version));
    if (o.status == 204 || o.status == 304) {
        for (const auto& h : o.headers)
            plan.headers.push_back(h);
        plan.no_length = true;
        plan.chunked = false;
        return plan;
    }

    // Ranges (GET of a 200 only).
    using http_range::RangeStatus;
    http_range::RangeSet ranges;
    if (o.status == 200) plan.headers.emplace_back("Accept-Ranges", o.ranges ? "bytes" : "none");
    if (o.status == 200 && o.ranges && req.method() == http::verb::get &&
        has_field(req, http::field::range) &&
        (!has_field(req, http::field::if_range) ||
         if_range_holds(field(req, http::field::if_range), etag, last_modified)))
        ranges = http_range::parse_range(field(req, http::field::range), o.size);

    if (ranges.status == RangeStatus::unsatisfiable) {
        plan.status = 416;
        plan.headers.emplace_back("Content-Range", http_range::format_unsatisfied_range(o.size));
        plan.chunked = false;
    } else if (ranges.status == RangeStatus::satisfiable && ranges.ranges.size() == 1) {
        const auto r = ranges.ranges.front();
        plan.status = 206;
        plan.headers.emplace_back("Content-Type", o.content_type);
        plan.headers.emplace_back("Content-Range", http_range::format_content_range(r, o.size));
        plan.body.push_back({{}, r.first, r.length()});
    } else if (ranges.status == RangeStatus::satisfiable) {
        plan.status = 206;
        const std::string boundary = "origin_sim_" + etag_value(o.identity, ver.version, o.size);
        plan.headers.emplace_back("Content-Type", "multipart/byteranges; boundary=" + boundary);
        bool first = true;
        for (const auto& r : ranges.ranges) {
            plan.body.push_back(
                {fmt::format("{}--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
                             first ? "" : "\r\n", boundary, o.content_type,
                             http_range::format_content_range(r, o.size)),
                 r.first, r.length()});
            first = false;
        }
        plan.body.push_back({fmt::format("\r\n--{}--\r\n", boundary), 0, 0});
    } else {
        plan.headers.emplace_back("Content-Type", o.content_type);
        plan.body.push_back({{}, 0, o.size});
    }
    for (const auto& h : o.headers) {
        // Extra headers replace generated ones of the same name.
        std::erase_if(plan.headers, [&](const auto& e) { return iequals(e.first, h.first); });
        plan.headers.push_back(h);
    }
    return plan;
}

}  // namespace cdn::origin_sim
