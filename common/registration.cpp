#include "common/registration.hpp"

#include "common/net.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>

namespace cdn::registration {
namespace json = boost::json;

namespace {

bool id_chars(std::string_view id) noexcept {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::optional<double> number_of(const json::value& v) {
    if (v.is_double()) return v.get_double();
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    return std::nullopt;
}

std::optional<std::int64_t> int_of(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(v.get_uint64());
    return std::nullopt;
}

// A base URL: http:// or https://, a host, no path beyond "/".
std::optional<std::string> url_problem(std::string_view field, std::string_view u) {
    const auto url = parse_url(u);
    if (!url || (url->scheme != "http" && url->scheme != "https") || url->host.empty())
        return fmt::format("{}: \"{}\" is not a URL like http://192.0.2.10:8080", field,
                           u.substr(0, 200));
    return std::nullopt;
}

using Fields = std::vector<std::string_view>;
const Fields kFields = {"id",   "region", "latitude", "longitude", "ipv4",    "ipv6",
                        "http", "admin",  "role",     "weight",    "version", "instance"};
const Fields kListingExtra = {"registered_ms", "renewed_ms", "expires_ms", "lease_age_ms",
                              "expires_in_ms"};

std::variant<Registration, std::string> from_object(const json::object& o, std::string_view id,
                                                    bool listing) {
    for (const auto& kv : o) {
        const std::string_view k = kv.key();
        const bool known = std::find(kFields.begin(), kFields.end(), k) != kFields.end() ||
                           (listing && std::find(kListingExtra.begin(), kListingExtra.end(), k) !=
                                           kListingExtra.end());
        if (!known)
            return fmt::format("{}: unknown field (known: {})", k.substr(0, 64),
                               fmt::join(kFields, ", "));
    }
    Registration r;
    auto str = [&](std::string_view key, std::string& out, bool required) -> std::string {
        const json::value* v = o.if_contains(key);
        if (!v || v->is_null()) return required ? fmt::format("{}: required", key) : "";
        if (!v->is_string()) return fmt::format("{}: expected a string", key);
        out = std::string(v->get_string());
        if (out.size() > 512) return fmt::format("{}: longer than 512 bytes", key);
        for (unsigned char c : out)
            if (c < 0x20 || c == 0x7f) return fmt::format("{}: control characters", key);
        return "";
    };
    std::string problem;
    if (const json::value* v = o.if_contains("id"); v && !(v->is_string() && v->get_string() == id))
        return fmt::format("id: \"{}\" differs from the id in the path (\"{}\")",
                           v->is_string() ? std::string_view(v->get_string()).substr(0, 64)
                                          : std::string_view("?"),
                           id);
    if (!valid_id(id)) return "id: expected 1 to 64 of A-Z a-z 0-9 . _ -";
    r.id = std::string(id);
    if (!(problem = str("instance", r.instance, true)).empty()) return problem;
    if (!valid_instance(r.instance)) return "instance: expected 1 to 64 of A-Z a-z 0-9 . _ -";
    if (!(problem = str("region", r.region, false)).empty()) return problem;
    if (!r.region.empty() && !valid_id(r.region))
        return "region: expected 1 to 64 of A-Z a-z 0-9 . _ -";
    const json::value* lat = o.if_contains("latitude");
    const json::value* lon = o.if_contains("longitude");
    if (lat && lat->is_null()) lat = nullptr;
    if (lon && lon->is_null()) lon = nullptr;
    if ((lat == nullptr) != (lon == nullptr))
        return lat ? "longitude: required with latitude" : "latitude: required with longitude";
    if (lat) {
        const auto a = number_of(*lat), b = number_of(*lon);
        if (!a || !std::isfinite(*a) || *a < -90 || *a > 90)
            return "latitude: expected a number from -90 to 90";
        if (!b || !std::isfinite(*b) || *b < -180 || *b > 180)
            return "longitude: expected a number from -180 to 180";
        r.latitude = *a;
        r.longitude = *b;
    }
    for (const auto& [key, out, v6] :
         {std::tuple{"ipv4", &r.ipv4, false}, std::tuple{"ipv6", &r.ipv6, true}}) {
        const json::value* v = o.if_contains(key);
        if (!v || v->is_null()) continue;
        if (!v->is_array()) return fmt::format("{}: expected a list of addresses", key);
        const json::array& a = v->get_array();
        if (a.size() > 64) return fmt::format("{}: more than 64 addresses", key);
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!a[i].is_string()) return fmt::format("{}[{}]: expected a string", key, i);
            const std::string text(a[i].get_string());
            boost::system::error_code ec;
            if (v6) {
                const auto addr = boost::asio::ip::make_address_v6(text, ec);
                if (ec || addr.is_v4_mapped())
                    return fmt::format("{}[{}]: \"{}\" is not an IPv6 address", key, i,
                                       text.substr(0, 64));
                out->push_back(addr.to_string());
            } else {
                const auto addr = boost::asio::ip::make_address_v4(text, ec);
                if (ec)
                    return fmt::format("{}[{}]: \"{}\" is not an IPv4 address", key, i,
                                       text.substr(0, 64));
                out->push_back(addr.to_string());
            }
        }
    }
    if (!(problem = str("http", r.http, true)).empty()) return problem;
    if (auto p = url_problem("http", r.http)) return *p;
    if (!(problem = str("admin", r.admin, false)).empty()) return problem;
    if (!r.admin.empty())
        if (auto p = url_problem("admin", r.admin)) return *p;
    if (!(problem = str("role", r.role, false)).empty()) return problem;
    if (r.role.empty()) r.role = "edge";
    if (r.role != "edge" && r.role != "parent") return "role: expected \"edge\" or \"parent\"";
    if (const json::value* v = o.if_contains("weight"); v && !v->is_null()) {
        const auto w = int_of(*v);
        if (!w || *w < 1 || *w > 1000) return "weight: expected an integer from 1 to 1000";
        r.weight = static_cast<unsigned>(*w);
    }
    if (!(problem = str("version", r.version, false)).empty()) return problem;
    if (r.version.size() > 128) return "version: longer than 128 bytes";
    return r;
}

}  // namespace

bool valid_id(std::string_view id) noexcept {
    return id_chars(id);
}

bool valid_instance(std::string_view instance) noexcept {
    return id_chars(instance);
}

std::variant<Registration, std::string> parse_registration(std::string_view body,
                                                           std::string_view id) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec) return fmt::format("the body is not JSON: {}", ec.message());
    if (!v.is_object()) return "the body must be a JSON object";
    return from_object(v.get_object(), id, false);
}

std::variant<Registration, std::string> registration_from_json(const json::object& o) {
    const json::value* id = o.if_contains("id");
    if (!id || !id->is_string()) return "id: required";
    return from_object(o, std::string_view(id->get_string()), true);
}

json::object to_json(const Registration& r) {
    json::object o;
    o["id"] = r.id;
    if (!r.region.empty()) o["region"] = r.region;
    if (r.latitude && r.longitude) {
        o["latitude"] = *r.latitude;
        o["longitude"] = *r.longitude;
    }
    json::array v4, v6;
    for (const auto& a : r.ipv4)
        v4.emplace_back(a);
    for (const auto& a : r.ipv6)
        v6.emplace_back(a);
    o["ipv4"] = std::move(v4);
    o["ipv6"] = std::move(v6);
    o["http"] = r.http;
    if (!r.admin.empty()) o["admin"] = r.admin;
    o["role"] = r.role;
    o["weight"] = r.weight;
    if (!r.version.empty()) o["version"] = r.version;
    o["instance"] = r.instance;
    return o;
}

json::object to_json(const RegistryListing& l, std::int64_t now_ms) {
    json::object o;
    o["version"] = l.version;
    o["lease_ttl_ms"] = l.lease_ttl_ms;
    o["now_ms"] = now_ms;
    json::array edges;
    for (const RegisteredEdge& e : l.edges) {
        json::object eo = to_json(e.reg);
        eo["registered_ms"] = e.registered_ms;
        eo["renewed_ms"] = e.renewed_ms;
        eo["expires_ms"] = e.expires_ms;
        eo["lease_age_ms"] = now_ms - e.renewed_ms;
        eo["expires_in_ms"] = e.expires_ms - now_ms;
        edges.push_back(std::move(eo));
    }
    o["edges"] = std::move(edges);
    return o;
}

std::variant<RegistryListing, std::string> parse_listing(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec) return fmt::format("not JSON: {}", ec.message());
    if (!v.is_object()) return "not a JSON object";
    const json::object& o = v.get_object();
    RegistryListing l;
    const json::value* ver = o.if_contains("version");
    const json::value* edges = o.if_contains("edges");
    if (!ver || !(ver->is_uint64() || ver->is_int64()) || !edges || !edges->is_array())
        return "expected {\"version\":N,\"edges\":[...]}";
    l.version = ver->is_uint64() ? ver->get_uint64() : static_cast<std::uint64_t>(ver->get_int64());
    if (const json::value* t = o.if_contains("lease_ttl_ms"))
        l.lease_ttl_ms = int_of(*t).value_or(0);
    const json::array& a = edges->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_object()) return fmt::format("edges[{}]: not an object", i);
        const json::object& eo = a[i].get_object();
        auto r = registration_from_json(eo);
        if (auto* err = std::get_if<std::string>(&r)) return fmt::format("edges[{}].{}", i, *err);
        RegisteredEdge e;
        e.reg = std::move(std::get<Registration>(r));
        auto ms = [&](const char* k) {
            const json::value* x = eo.if_contains(k);
            return x ? int_of(*x).value_or(0) : 0;
        };
        e.registered_ms = ms("registered_ms");
        e.renewed_ms = ms("renewed_ms");
        e.expires_ms = ms("expires_ms");
        l.edges.push_back(std::move(e));
    }
    return l;
}

std::optional<LeaseGrant> parse_lease_grant(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const json::object& o = v.get_object();
    const json::value* ttl = o.if_contains("lease_ttl_ms");
    const json::value* every = o.if_contains("renew_every_ms");
    if (!ttl || !every) return std::nullopt;
    LeaseGrant g;
    const auto t = int_of(*ttl), e = int_of(*every);
    if (!t || !e || *t <= 0 || *e <= 0) return std::nullopt;
    g.lease_ttl_ms = *t;
    g.renew_every_ms = *e;
    if (const json::value* ver = o.if_contains("version"); ver && ver->is_uint64())
        g.version = ver->get_uint64();
    else if (ver && ver->is_int64() && ver->get_int64() >= 0)
        g.version = static_cast<std::uint64_t>(ver->get_int64());
    return g;
}

std::string error_message(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (!ec && v.is_object())
        if (const json::value* errs = v.get_object().if_contains("errors");
            errs && errs->is_array() && !errs->get_array().empty() &&
            errs->get_array()[0].is_object())
            if (const json::value* m = errs->get_array()[0].get_object().if_contains("message");
                m && m->is_string())
                return std::string(m->get_string());
    std::string out(body.substr(0, 300));
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

std::string random_instance() {
    std::random_device rd;
    const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    return fmt::format("{:016x}", v);
}

}  // namespace cdn::registration
