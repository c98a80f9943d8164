#include "purge_api/purge_request.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace cdn::purge_api {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 4> kListKinds = {"files", "prefixes", "tags", "hosts"};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

// A value for the error message: long values are cut.
std::string quoted(std::string_view v) {
    if (v.size() > 80) return fmt::format("\"{}...\"", v.substr(0, 80));
    return fmt::format("\"{}\"", v);
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
}

bool valid_host(std::string_view h) {
    if (h.empty()) return false;
    for (char c : h)
        if (!host_char(c)) return false;
    return true;
}

// "host[:port]" or "[v6]:port" -> lower-cased host without the port.
std::string strip_port(std::string_view h) {
    if (!h.empty() && h.front() == '[') {
        const auto close = h.find(']');
        return lower(h.substr(0, close == std::string_view::npos ? h.size() : close + 1));
    }
    const auto colon = h.rfind(':');
    if (colon != std::string_view::npos && h.find(':') == colon) return lower(h.substr(0, colon));
    return lower(h);
}

struct SplitUrl {
    bool has_scheme = false;
    std::string scheme;  // lower-cased
    std::string_view host;
    std::string_view rest;  // from the first '/' or '?' on
};

SplitUrl split(std::string_view v) {
    SplitUrl s;
    if (const auto sep = v.find("://"); sep != std::string_view::npos) {
        s.has_scheme = true;
        s.scheme = lower(v.substr(0, sep));
        v.remove_prefix(sep + 3);
    }
    const auto end = v.find_first_of("/?");
    s.host = v.substr(0, end);
    s.rest = end == std::string_view::npos ? std::string_view{} : v.substr(end);
    return s;
}

// Bytes every value must avoid: controls, space, DEL.
bool clean(std::string_view v) {
    for (unsigned char c : v)
        if (c <= 0x20 || c == 0x7f) return false;
    return true;
}

std::optional<ApiError> check_value(PurgeKind kind, std::string_view v, const std::string& where,
                                    const RequestLimits& limits) {
    if (v.empty()) return make_error(ApiErrc::bad_value, where + ": empty value");
    if (v.size() > limits.max_value_length)
        return make_error(ApiErrc::bad_value,
                          fmt::format("{}: longer than {} bytes", where, limits.max_value_length));
    if (!clean(v))
        return make_error(
            ApiErrc::bad_value,
            fmt::format("{}: {} contains spaces or control characters", where, quoted(v)));
    switch (kind) {
        case PurgeKind::files: {
            const SplitUrl u = split(v);
            if (!u.has_scheme || (u.scheme != "http" && u.scheme != "https"))
                return make_error(
                    ApiErrc::bad_url,
                    fmt::format("{}: {} is not an http:// or https:// URL", where, quoted(v)));
            if (!valid_host(u.host))
                return make_error(ApiErrc::bad_url,
                                  fmt::format("{}: {} has no valid host", where, quoted(v)));
            if (v.find('#') != std::string_view::npos)
                return make_error(ApiErrc::bad_url,
                                  fmt::format("{}: {} has a fragment", where, quoted(v)));
            break;
        }
        case PurgeKind::prefixes: {
            const SplitUrl u = split(v);
            if (u.has_scheme && u.scheme != "http" && u.scheme != "https")
                return make_error(
                    ApiErrc::bad_value,
                    fmt::format("{}: {} has a scheme other than http or https", where, quoted(v)));
            if (!valid_host(u.host) || (!u.rest.empty() && u.rest.front() != '/'))
                return make_error(
                    ApiErrc::bad_value,
                    fmt::format("{}: {} is not \"host/path\" or a URL", where, quoted(v)));
            break;
        }
        case PurgeKind::hosts:
            if (!valid_host(v))
                return make_error(ApiErrc::bad_value,
                                  fmt::format("{}: {} is not a host name", where, quoted(v)));
            break;
        case PurgeKind::tags:
            if (v.find(',') != std::string_view::npos)
                return make_error(ApiErrc::bad_value,
                                  fmt::format("{}: tag {} contains a comma", where, quoted(v)));
            break;
        case PurgeKind::everything: break;
    }
    return std::nullopt;
}

// A "files" entry given as an object: {"url": "...", "headers": {"name": "value"}}.
std::variant<std::string, ApiError> file_object(const json::object& o, const std::string& where) {
    const json::string* url = nullptr;
    for (const auto& [k, v] : o) {
        if (k == "url") {
            if (!v.is_string())
                return make_error(ApiErrc::bad_value, where + ".url: expected a string");
            url = &v.get_string();
        } else if (k == "headers") {
            if (!v.is_object())
                return make_error(ApiErrc::bad_value, where + ".headers: expected an object");
            for (const auto& [hk, hv] : v.get_object())
                if (!hv.is_string())
                    return make_error(ApiErrc::bad_value,
                                      fmt::format("{}.headers.{}: expected a string", where,
                                                  std::string_view(hk)));
        } else {
            return make_error(ApiErrc::unknown_field,
                              fmt::format("{}: unknown field \"{}\" (known: url, headers)", where,
                                          std::string_view(k)));
        }
    }
    if (!url) return make_error(ApiErrc::bad_value, where + ": an object needs \"url\"");
    return std::string(*url);
}

}  // namespace

std::string_view ApiError::reason() const noexcept {
    switch (code) {
        case ApiErrc::malformed_json: return "malformed_json";
        case ApiErrc::unknown_field: return "unknown_field";
        case ApiErrc::missing_kind:
        case ApiErrc::several_kinds:
        case ApiErrc::empty_list:
        case ApiErrc::bad_value:
        case ApiErrc::bad_url:
        case ApiErrc::outside_zone:
        case ApiErrc::zone_kind: return "invalid";
        case ApiErrc::too_many_items: return "too_many_items";
        case ApiErrc::body_too_large: return "too_large";
        case ApiErrc::bad_request:
        case ApiErrc::not_found:
        case ApiErrc::method_not_allowed:
        case ApiErrc::unsupported_media_type: return "bad_request";
        case ApiErrc::unauthenticated: return "unauthenticated";
        case ApiErrc::forbidden: return "forbidden";
        case ApiErrc::unavailable: return "unavailable";
        case ApiErrc::conflict: return "conflict";
        case ApiErrc::idempotency_conflict: return "idempotency_conflict";
    }
    return "bad_request";
}

ApiError make_error(ApiErrc code, std::string message) {
    unsigned status = 400;
    switch (code) {
        case ApiErrc::body_too_large: status = 413; break;
        case ApiErrc::not_found: status = 404; break;
        case ApiErrc::method_not_allowed: status = 405; break;
        case ApiErrc::conflict:
        case ApiErrc::idempotency_conflict: status = 409; break;
        case ApiErrc::unsupported_media_type: status = 415; break;
        case ApiErrc::unauthenticated: status = 401; break;
        case ApiErrc::forbidden: status = 403; break;
        case ApiErrc::unavailable: status = 503; break;
        default: break;
    }
    return ApiError{status, code, std::move(message)};
}

namespace {
// {"success":false,"errors":[{"code":...,"message":...}]}: both envelopes start with it.
json::object error_object(const ApiError& e) {
    json::object err;
    err["code"] = static_cast<int>(e.code);
    err["message"] = e.message;
    json::object o;
    o["success"] = false;
    o["errors"] = json::array{std::move(err)};
    return o;
}
}  // namespace

std::string error_body(const ApiError& e) {
    return json::serialize(error_object(e));
}

std::string cloudflare_error_body(const ApiError& e) {
    json::object o = error_object(e);
    o["messages"] = json::array{};
    o["result"] = nullptr;
    return json::serialize(o);
}

std::variant<PurgeDraft, ApiError> parse_purge_body(std::string_view body,
                                                    const RequestLimits& limits) {
    boost::system::error_code ec;
    const json::value doc = json::parse(body, ec);
    if (ec)
        return make_error(ApiErrc::malformed_json, "the body is not valid JSON: " + ec.message());
    if (!doc.is_object())
        return make_error(ApiErrc::malformed_json, "the body must be a JSON object");
    const json::object& o = doc.get_object();

    PurgeDraft d;
    int kinds = 0;
    std::string_view list_key;
    for (const auto& [k, v] : o) {
        const std::string_view key = k;
        if (key == "soft") {
            if (!v.is_bool()) return make_error(ApiErrc::bad_value, "soft: expected true or false");
            d.soft = v.get_bool();
        } else if (key == "purge_everything") {
            ++kinds;
            if (!v.is_bool() || !v.get_bool())
                return make_error(ApiErrc::bad_value, "purge_everything: expected true");
            d.kind = PurgeKind::everything;
        } else if (std::find(kListKinds.begin(), kListKinds.end(), key) != kListKinds.end()) {
            ++kinds;
            list_key = key;
            d.kind = *purge::parse_purge_kind(key);
        } else {
            return make_error(ApiErrc::unknown_field,
                              fmt::format("unknown field \"{}\" (known: files, prefixes, tags, "
                                          "hosts, purge_everything, soft)",
                                          key.substr(0, 64)));
        }
    }
    if (kinds == 0)
        return make_error(ApiErrc::missing_kind,
                          "nothing to purge: give one of files, prefixes, tags, hosts or "
                          "purge_everything");
    if (kinds > 1)
        return make_error(ApiErrc::several_kinds,
                          "give exactly one of files, prefixes, tags, hosts or purge_everything");
    if (d.kind == PurgeKind::everything) return d;

    const json::value& list = o.at(list_key);
    if (!list.is_array())
        return make_error(ApiErrc::bad_value, fmt::format("{}: expected an array", list_key));
    const json::array& a = list.get_array();
    if (a.empty()) return make_error(ApiErrc::empty_list, fmt::format("{}: empty list", list_key));
    if (a.size() > limits.max_items)
        return make_error(ApiErrc::too_many_items,
                          fmt::format("{}: {} values, at most {} per request", list_key, a.size(),
                                      limits.max_items));
    d.values.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string where = fmt::format("{}[{}]", list_key, i);
        std::string value;
        if (a[i].is_string()) {
            value = std::string(a[i].get_string());
        } else if (d.kind == PurgeKind::files && a[i].is_object()) {
            auto r = file_object(a[i].get_object(), where);
            if (auto* e = std::get_if<ApiError>(&r)) return std::move(*e);
            value = std::move(std::get<std::string>(r));
        } else {
            return make_error(
                ApiErrc::bad_value,
                where + (d.kind == PurgeKind::files ? ": expected a URL string or {\"url\": ...}"
                                                    : ": expected a string"));
        }
        if (auto e = check_value(d.kind, value, where, limits)) return std::move(*e);
        d.values.push_back(std::move(value));
    }
    return d;
}

std::string host_of_value(PurgeKind kind, std::string_view value) {
    switch (kind) {
        case PurgeKind::files:
        case PurgeKind::prefixes: return strip_port(split(value).host);
        case PurgeKind::hosts: return strip_port(value);
        case PurgeKind::tags:
        case PurgeKind::everything: return {};
    }
    return {};
}

std::optional<std::string> parse_zone(std::string_view zone) {
    if (zone.empty() || zone.size() > 253) return std::nullopt;
    for (char c : zone) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) return std::nullopt;
    }
    if (zone.front() == '.' || zone.back() == '.') return std::nullopt;
    return lower(zone);
}

std::optional<ApiError> limit_to_zone(PurgeDraft& draft, const std::string& zone) {
    switch (draft.kind) {
        case PurgeKind::everything:
            draft.kind = PurgeKind::hosts;
            draft.values = {zone};
            return std::nullopt;
        case PurgeKind::tags:
            return make_error(ApiErrc::zone_kind,
                              "tags cannot be limited to a zone (edges match a tag on every "
                              "host); purge them with POST /v1/purge and a token for every host");
        case PurgeKind::files:
        case PurgeKind::prefixes:
        case PurgeKind::hosts: break;
    }
    for (std::size_t i = 0; i < draft.values.size(); ++i) {
        const std::string host = host_of_value(draft.kind, draft.values[i]);
        if (host != zone)
            return make_error(ApiErrc::outside_zone,
                              fmt::format("{}[{}]: {} is not in zone \"{}\" (its host is \"{}\")",
                                          to_string(draft.kind), i, quoted(draft.values[i]), zone,
                                          host.substr(0, 255)));
    }
    return std::nullopt;
}

}  // namespace cdn::purge_api
