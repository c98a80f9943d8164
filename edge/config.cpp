#include "edge/config.hpp"

#include "common/http_util.hpp"
#include "common/log.hpp"
#include "common/registration.hpp"
#include "common/tls_client.hpp"
#include "common/units.hpp"
#include "edge/cache/cache_key.hpp"
#include "edge/cache/slicing.hpp"
#include "edge/compression_config.hpp"

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <tuple>

namespace cdn::edge {

const OriginGroup* EdgeConfig::origin_for(std::string_view host) const {
    const OriginGroup* fallback = nullptr;
    for (const OriginGroup& g : origins) {
        for (const std::string& h : g.hosts) {
            if (h == host) return &g;
            if (h == "*" && !fallback) fallback = &g;
        }
    }
    return fallback;
}

const ParentGroup* EdgeConfig::parents_for(std::string_view host) const {
    const ParentGroup* fallback = nullptr;
    for (const ParentGroup& g : parents) {
        for (const std::string& h : g.hosts) {
            if (h == host) return &g;
            if (h == "*" && !fallback) fallback = &g;
        }
    }
    return fallback;
}

namespace {

// A field name: a token (RFC 9110 section 5.1).
bool is_field_name(std::string_view name) {
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

// The context of https:// origins without settings of their own (--origin): verification on,
// the system CA store. Built on first use, then shared.
std::shared_ptr<boost::asio::ssl::context> default_origin_tls_context() {
    static const std::shared_ptr<boost::asio::ssl::context> ctx =
        make_tls_client_context(TlsClientOptions{});
    return ctx;
}

// The host of a Host header value: "example.com:8443" -> "example.com", "[::1]:80" -> "::1".
std::string host_of(std::string_view authority) {
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        return std::string(
            authority.substr(1, close == std::string_view::npos ? close : close - 1));
    }
    return std::string(authority.substr(0, authority.find(':')));
}

// Why a token is not acceptable, or "" when it is: printable ASCII without spaces (it goes in
// an Authorization field as it is), long enough not to be guessed by trying.
std::string token_problem(std::string_view token) {
    for (unsigned char c : token)
        if (c <= 0x20 || c >= 0x7f)
            return "a token is printable ASCII without spaces or control characters";
    if (token.size() < kMinAdminTokenLength)
        return fmt::format("a token needs at least {} characters (e.g. openssl rand -hex 16)",
                           kMinAdminTokenLength);
    return {};
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto a = boost::asio::ip::make_address(host, ec);
    return !ec && a.is_loopback();
}

}  // namespace

std::string read_token_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw ConfigError(fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno)));
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    if (token.empty()) throw ConfigError(fmt::format("{}: holds no token", file.string()));
    if (const std::string p = token_problem(token); !p.empty())
        throw ConfigError(fmt::format("{}: {}", file.string(), p));
    return token;
}

bool EdgeConfig::Purge::any_https() const {
    return std::any_of(api.begin(), api.end(), [](const std::string& u) {
        const auto url = parse_url(u);
        return url && url->scheme == "https";
    });
}

std::optional<PurgeApiProblem> check_purge_apis(const std::vector<std::string>& urls) {
    if (urls.empty() || urls.size() > kMaxPurgeApis)
        return PurgeApiProblem{std::nullopt, fmt::format("expected 1 to {} purge_api URLs (got {})",
                                                         kMaxPurgeApis, urls.size())};
    // What makes two URLs the same instance: the host compared without case.
    auto same = [](const Url& a, const Url& b) {
        return a.scheme == b.scheme && a.port == b.port && a.path == b.path &&
               std::equal(a.host.begin(), a.host.end(), b.host.begin(), b.host.end(),
                          [](char x, char y) {
                              return std::tolower(static_cast<unsigned char>(x)) ==
                                     std::tolower(static_cast<unsigned char>(y));
                          });
    };
    std::vector<Url> seen;
    for (std::size_t i = 0; i < urls.size(); ++i) {
        const auto u = parse_url(urls[i]);
        if (!u)
            return PurgeApiProblem{
                i, fmt::format("\"{}\" is not purge_api's URL, like https://purge.example.com:8443 "
                               "or http://127.0.0.1:8090",
                               urls[i])};
        for (std::size_t j = 0; j < seen.size(); ++j)
            if (same(seen[j], *u))
                return PurgeApiProblem{
                    i, fmt::format("\"{}\" is listed twice (as api[{}] too)", urls[i], j)};
        seen.push_back(*u);
    }
    return std::nullopt;
}

std::vector<std::shared_ptr<const TlsClientConfig>> make_purge_tls(const EdgeConfig::Purge& purge) {
    std::vector<std::shared_ptr<const TlsClientConfig>> out;
    std::shared_ptr<boost::asio::ssl::context> context;  // one for every https:// URL
    for (const std::string& api : purge.api) {
        const auto url = parse_url(api);
        if (!url || url->scheme != "https") {
            out.push_back(nullptr);
            continue;
        }
        if (!context) context = make_tls_client_context({purge.tls_verify, purge.tls_ca});
        auto config = std::make_shared<TlsClientConfig>();
        config->context = context;
        config->server_name = purge.tls_server_name.empty() ? url->host : purge.tls_server_name;
        config->verify = purge.tls_verify;
        out.push_back(std::move(config));
    }
    return out;
}

bool purge_api_in_cleartext(const std::string& api_url) {
    const auto url = parse_url(api_url);
    return url && url->scheme == "http" && !is_loopback_host(url->host);
}

upstream::OriginServer make_origin_server(const std::string& url, const std::string& where,
                                          const OriginTlsParams& tls) {
    auto u = parse_url(url);
    if (!u)
        throw ConfigError(fmt::format(
            "{}: \"{}\" is not an origin URL like http://host:port or https://host:port", where,
            url));
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto results = resolver.resolve(u->host, std::to_string(u->port), ec);
    if (ec || results.empty())
        throw ConfigError(
            fmt::format("{}: cannot resolve origin host \"{}\": {}", where, u->host, ec.message()));
    upstream::OriginServer server{*u, results.begin()->endpoint(), nullptr, {}, {}};
    if (u->scheme == "https") {
        auto config = std::make_shared<TlsClientConfig>();
        try {
            config->context = tls.context  ? tls.context
                              : tls.verify ? default_origin_tls_context()
                                           : make_tls_client_context({false, {}});
        } catch (const std::exception& e) {
            throw ConfigError(fmt::format("{}: {}: {}", where, url, e.what()));
        }
        config->server_name = tls.server_name.empty() ? u->host : tls.server_name;
        config->verify = tls.verify;
        server.tls = std::move(config);
    }
    return server;
}

namespace {

// [fleet]: what this edge registers with purge_api's registry (see EdgeConfig::Fleet).
void load_fleet(const ConfigSection& s, EdgeConfig::Fleet& f) {
    s.allow_only({"register", "region", "latitude", "longitude", "advertise_ipv4", "advertise_ipv6",
                  "http_url", "admin_url", "role", "weight"});
    if (auto v = s.boolean("register")) f.enabled = *v;
    if (auto v = s.string("region")) {
        if (!registration::valid_id(*v))
            s.fail("region", "expected a region id: 1 to 64 of A-Z a-z 0-9 . _ -");
        f.region = *v;
    }
    const auto lat = s.number("latitude"), lon = s.number("longitude");
    if (lat.has_value() != lon.has_value())
        s.fail(lat ? "longitude" : "latitude", "latitude and longitude go together");
    if (lat) {
        if (*lat < -90 || *lat > 90) s.fail("latitude", "expected -90 to 90");
        if (*lon < -180 || *lon > 180) s.fail("longitude", "expected -180 to 180");
        f.latitude = *lat;
        f.longitude = *lon;
    }
    for (const auto& [key, out, v6] : {std::tuple{"advertise_ipv4", &f.advertise_ipv4, false},
                                       std::tuple{"advertise_ipv6", &f.advertise_ipv6, true}}) {
        for (const auto& a : s.strings(key).value_or(std::vector<std::string>{})) {
            boost::system::error_code ec;
            const auto addr = boost::asio::ip::make_address(a, ec);
            if (ec || addr.is_v6() != v6 || (v6 && addr.to_v6().is_v4_mapped()))
                s.fail(key, fmt::format("\"{}\" is not an IPv{} address", a, v6 ? 6 : 4));
            out->push_back(addr.to_string());
        }
    }
    for (const auto& [key, out] :
         {std::pair{"http_url", &f.http_url}, std::pair{"admin_url", &f.admin_url}}) {
        if (auto v = s.string(key)) {
            const auto u = parse_url(*v);
            if (!u || (u->scheme != "http" && u->scheme != "https"))
                s.fail(key, "expected a base URL like http://192.0.2.10:8080");
            *out = *v;
        }
    }
    if (auto v = s.string("role")) {
        if (*v != "edge" && *v != "parent") s.fail("role", "expected \"edge\" or \"parent\"");
        f.role = *v;
    }
    if (auto v = s.integer("weight")) {
        if (*v < 1 || *v > 1000) s.fail("weight", "expected an integer from 1 to 1000");
        f.weight = static_cast<unsigned>(*v);
    }
}

}  // namespace

EdgeConfig load_edge_config(const ConfigSection& root) {
    EdgeConfig c;
    root.allow_only({"server", "admin", "cache", "limits", "timeouts", "origin", "purge", "tls",
                     "http2", "log", "parents", "peering", "fleet"});
    if (auto s = root.section("server")) {
        s->allow_only(
            {"name", "listen", "admin", "threads", "access_log", "h2c", "reuse_port", "max_hops"});
        if (auto v = s->string("name")) {
            // The name goes into Cache-Status, Via and CDN-Loop: a token (RFC 9110 5.6.2).
            if (v->empty() || v->size() > 64 ||
                v->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-_") != std::string::npos)
                s->fail("name", "expected 1 to 64 of [A-Za-z0-9._-], like \"edge-1\"");
            c.name = *v;
        }
        if (auto v = s->integer("max_hops")) {
            if (*v < 1 || *v > 64) s->fail("max_hops", "expected 1 to 64");
            c.max_hops = static_cast<unsigned>(*v);
        }
        if (auto v = s->boolean("h2c")) c.session.h2c = *v;
        if (auto v = s->strings("listen")) {
            for (const auto& l : *v) {
                auto ep = parse_endpoint(l);
                if (!ep)
                    s->fail("listen",
                            fmt::format("\"{}\" is not an address like 127.0.0.1:8080", l));
                c.listen.push_back(*ep);
            }
        }
        if (auto v = s->string("admin")) {
            auto ep = parse_endpoint(*v);
            if (!ep)
                s->fail("admin", fmt::format("\"{}\" is not an address like 127.0.0.1:8081", *v));
            c.admin = *ep;
        }
        if (auto v = s->integer("threads")) {
            if (*v < 0 || *v > 256) s->fail("threads", "expected 0 (one per core) to 256");
            c.threads = static_cast<std::size_t>(*v);
        }
        if (auto v = s->boolean("access_log")) {
            // The older spelling of [log] access = "off" (true: the default, stdout).
            if (root.section("log") && root.section("log")->string("access"))
                s->fail("access_log", "set log.access or server.access_log, not both");
            if (!*v) c.log.access = "off";
        }
        if (auto v = s->boolean("reuse_port")) c.reuse_port = *v;
    }
    if (auto s = root.section("log")) {
        s->allow_only({"access", "access_format", "level", "format"});
        if (auto v = s->string("access")) {
            if (v->empty()) s->fail("access", "expected \"stdout\", \"off\" or the path of a file");
            if (*v == "stdout" || *v == "off")
                c.log.access = *v;
            else
                c.log.access = s->file_path("access")->string();
        }
        if (auto v = s->string("access_format")) {
            auto f = proxy::parse_access_log_format(*v);
            if (!f) s->fail("access_format", "expected \"logfmt\", \"json\" or \"combined\"");
            c.log.access_format = *f;
        }
        if (auto v = s->string("level")) {
            if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
                s->fail("level", "expected \"debug\", \"info\", \"warn\" or \"error\"");
            c.log.level = parse_log_level(*v);
        }
        if (auto v = s->string("format")) {
            auto f = parse_log_format(*v);
            if (!f) s->fail("format", "expected \"text\" or \"json\"");
            c.log.format = *f;
        }
    }
    if (auto s = root.section("admin")) {
        s->allow_only({"purge_token", "purge_token_file"});
        if (auto v = s->string("purge_token")) {
            if (const std::string p = token_problem(*v); !p.empty()) s->fail("purge_token", p);
            c.admin_purge_token = *v;
        }
        if (auto v = s->string("purge_token_file")) {
            if (!c.admin_purge_token.empty())
                s->fail("purge_token_file", "set purge_token or purge_token_file, not both");
            if (v->empty()) s->fail("purge_token_file", "expected the path of a file");
            // Relative paths are relative to the config file's directory.
            std::filesystem::path p(*v);
            if (p.is_relative()) p = std::filesystem::path(s->file()).parent_path() / p;
            try {
                c.admin_purge_token = read_token_file(p);
            } catch (const ConfigError& e) {
                s->fail("purge_token_file", e.what());
            }
        }
    }
    if (auto s = root.section("tls")) {
        s->allow_only(
            {"listen", "certificates", "alpn", "handshake_timeout", "ticket_key_rotation"});
        http::TlsSettings t;
        if (auto v = s->strings("listen")) {
            for (const auto& l : *v) {
                auto ep = parse_endpoint(l);
                if (!ep)
                    s->fail("listen",
                            fmt::format("\"{}\" is not an address like 127.0.0.1:8443", l));
                t.listen.push_back(*ep);
            }
        }
        for (const ConfigSection& cs : s->sections("certificates")) {
            cs.allow_only({"cert", "key", "hosts"});
            http::TlsCertificate cert;
            auto path = [&](std::string_view key) -> std::filesystem::path {
                auto v = cs.string(key);
                if (!v || v->empty()) cs.fail(key, "expected the path of a PEM file");
                // Relative paths are relative to the config file's directory.
                std::filesystem::path p(*v);
                if (p.is_relative()) p = std::filesystem::path(cs.file()).parent_path() / p;
                return p;
            };
            cert.cert = path("cert");
            cert.key = path("key");
            if (auto v = cs.strings("hosts")) {
                for (const auto& h : *v)
                    if (h.empty() || h.find_first_of(" /:") != std::string::npos ||
                        (h.find('*') != std::string::npos &&
                         !(h.starts_with("*.") && h.size() > 2 &&
                           h.find('*', 1) == std::string::npos)))
                        cs.fail("hosts", fmt::format("\"{}\" is not a host name like "
                                                     "www.example.com or *.example.com",
                                                     h));
                cert.hosts = *v;
            }
            t.certificates.push_back(std::move(cert));
        }
        if (auto v = s->strings("alpn")) {
            // "h2" hands the connection to the HTTP/2 session (http2_session.hpp); in the order
            // given, so ["h2", "http/1.1"] prefers HTTP/2 and falls back to HTTP/1.1.
            for (const auto& p : *v)
                if (p != "http/1.1" && p != "h2")
                    s->fail("alpn",
                            fmt::format("\"{}\" is not supported (\"h2\", \"http/1.1\")", p));
            t.alpn = *v;
        }
        if (auto v = s->duration("handshake_timeout")) {
            if (v->count() <= 0) s->fail("handshake_timeout", "must be greater than zero");
            t.handshake_timeout = *v;
        }
        if (auto v = s->duration("ticket_key_rotation")) {
            if (*v < std::chrono::seconds(1) || *v > std::chrono::hours(24 * 7))
                s->fail("ticket_key_rotation", "expected 1s to 7d");
            t.ticket_key_rotation = std::chrono::duration_cast<std::chrono::seconds>(*v);
        }
        if (t.listen.empty()) s->fail("listen", "expected addresses like [\"127.0.0.1:8443\"]");
        if (t.certificates.empty())
            s->fail("certificates", "expected at least one [[tls.certificates]] with cert and key");
        c.tls = std::move(t);
    }
    if (auto s = root.section("purge")) {
        s->allow_only(
            {"api", "token", "edge_id", "idle_timeout", "tls_ca", "tls_server_name", "tls_verify"});
        EdgeConfig::Purge p;
        // One URL, or a list of instances that share a purge log.
        if (auto v = s->strings("api")) {
            if (const auto problem = check_purge_apis(*v)) {
                if (problem->index) s->fail_element("api", *problem->index, problem->message);
                s->fail("api", problem->message);
            }
            p.api = *v;
        } else {
            s->fail("api",
                    "expected purge_api's URL, like https://purge.example.com:8443 or "
                    "http://127.0.0.1:8090, or a list of them");
        }
        const bool https = p.any_https();
        auto https_only = [&](std::string_view key) {
            if (!https) s->fail(key, "TLS settings need an https:// api (at least one)");
        };
        if (auto v = s->string("token")) p.token = *v;
        if (auto v = s->string("edge_id")) p.edge_id = *v;
        if (auto v = s->duration("idle_timeout")) {
            if (v->count() <= 0) s->fail("idle_timeout", "expected a positive duration");
            p.idle_timeout = *v;
        }
        if (auto v = s->boolean("tls_verify")) {
            https_only("tls_verify");
            p.tls_verify = *v;
        }
        if (auto v = s->string("tls_server_name")) {
            https_only("tls_server_name");
            if (v->empty() || v->find_first_of(" /") != std::string::npos ||
                (v->find(':') != std::string::npos && !is_ip_literal(*v)))
                s->fail("tls_server_name", "expected a host name like purge.example.com");
            p.tls_server_name = *v;
        }
        if (auto v = s->string("tls_ca")) {
            https_only("tls_ca");
            if (v->empty()) s->fail("tls_ca", "expected the path of a PEM CA bundle");
            // Relative paths are relative to the config file's directory.
            std::filesystem::path ca(*v);
            if (ca.is_relative()) ca = std::filesystem::path(s->file()).parent_path() / ca;
            p.tls_ca = ca;
        }
        try {
            p.tls = make_purge_tls(p);
        } catch (const std::exception& e) {
            s->fail(p.tls_ca.empty() ? "api" : "tls_ca", e.what());
        }
        if (https && !p.tls_verify)
            log_warn("{}: purge.tls_verify = false: purge_api's certificate is not checked",
                     s->file());
        c.purge = std::move(p);
    }
    if (auto s = root.section("fleet")) load_fleet(*s, c.fleet);
    if (auto s = root.section("cache")) {
        s->allow_only({"memory", "max_object_size", "shards", "sort_query", "drop_query_params",
                       "heuristic_fraction", "heuristic_max", "negative_ttl", "ttl_jitter", "grace",
                       "collapse_timeout", "hit_for_pass", "policy", "disk", "targeted_fields",
                       "surrogate_control", "forward_cdn_fields"});
        if (auto v = s->size("memory")) c.memory_bytes = *v;
        if (auto v = s->size("max_object_size")) c.origin_pool.max_body_bytes = *v;
        if (auto v = s->integer("shards")) {
            if (*v < 1 || *v > 4096) s->fail("shards", "expected 1 to 4096");
            c.shards = static_cast<std::size_t>(*v);
        }
        if (auto v = s->string("policy")) {
            auto kind = storage::parse_policy_kind(*v);
            if (!kind)
                s->fail("policy",
                        fmt::format("\"{}\" is not \"s3fifo\", \"lru\" or \"w-tinylfu\"", *v));
            c.cache_policy = *kind;
        }
        if (auto d = s->section("disk")) {
            d->allow_only({"path", "size", "segment_size", "admission", "admission_threshold",
                           "write_queue", "retry_interval"});
            storage::DiskSettings ds;
            if (auto v = d->string("path")) {
                if (v->empty()) d->fail("path", "expected a directory");
                ds.path = *v;
            } else {
                d->fail("path", "expected a directory for the disk tier");
            }
            if (auto v = d->size("segment_size")) {
                if (*v < (64u << 10) || *v > (1u << 30))
                    d->fail("segment_size", "expected 64KiB to 1GiB");
                ds.segment_bytes = static_cast<std::uint32_t>(*v);
            }
            if (auto v = d->size("size")) {
                if (*v < 2ull * ds.segment_bytes)
                    d->fail("size", "expected at least two segments (2 x segment_size)");
                ds.capacity_bytes = *v;
            }
            if (auto v = d->size("write_queue")) ds.write_queue_bytes = *v;
            if (auto v = d->duration("retry_interval")) {
                if (v->count() <= 0) d->fail("retry_interval", "expected a positive duration");
                ds.retry_interval = *v;
            }
            if (auto v = d->string("admission")) {
                auto a = storage::parse_disk_admission(*v);
                if (!a)
                    d->fail("admission",
                            fmt::format("\"{}\" is not \"reused\", \"all\" or \"frequency\"", *v));
                c.tiers.admission = *a;
            }
            if (auto v = d->integer("admission_threshold")) {
                if (*v < 1 || *v > 16) d->fail("admission_threshold", "expected 1 to 16");
                c.tiers.frequency_threshold = static_cast<unsigned>(*v);
            }
            c.disk = std::move(ds);
        }
        if (auto v = s->boolean("sort_query")) c.key.sort_query = *v;
        if (auto v = s->strings("drop_query_params")) c.key.drop_query_params = *v;
        if (auto v = s->number("heuristic_fraction")) {
            if (*v < 0 || *v > 1) s->fail("heuristic_fraction", "expected a fraction from 0 to 1");
            c.freshness.heuristic_fraction = *v;
        }
        if (auto v = s->duration("heuristic_max"))
            c.freshness.heuristic_max = std::chrono::duration_cast<Seconds>(*v);
        if (auto v = s->duration("negative_ttl"))
            c.freshness.negative_ttl = std::chrono::duration_cast<Seconds>(*v);
        if (auto v = s->duration("collapse_timeout")) c.collapse_timeout = *v;
        if (auto v = s->duration("hit_for_pass"))
            c.hit_for_pass = std::chrono::duration_cast<Seconds>(*v);
        if (auto v = s->duration("grace"))
            c.freshness.grace = std::chrono::duration_cast<Seconds>(*v);
        if (auto v = s->strings("targeted_fields")) {
            for (const std::string& name : *v)
                if (!is_field_name(name) || http_util::iequals(name, "cache-control"))
                    s->fail(
                        "targeted_fields",
                        fmt::format("\"{}\" is not a field name other than Cache-Control", name));
            c.cc_sources.targeted = *v;
        }
        if (auto v = s->boolean("surrogate_control")) c.cc_sources.surrogate_control = *v;
        if (auto v = s->boolean("forward_cdn_fields")) c.forward_cdn_fields = *v;
        if (auto v = s->number("ttl_jitter")) {
            if (*v < 0 || *v > 0.5) s->fail("ttl_jitter", "expected a fraction from 0 to 0.5");
            c.freshness.jitter = *v;
        }
    }
    if (auto s = root.section("limits")) {
        s->allow_only(
            {"max_header_size", "max_body_size", "max_origin_header_size", "inflight_body_memory"});
        if (auto v = s->size("max_header_size")) {
            if (*v < 1024 || *v > (1u << 20)) s->fail("max_header_size", "expected 1KiB to 1MiB");
            c.session.max_header_bytes = static_cast<std::uint32_t>(*v);
        }
        if (auto v = s->size("max_body_size")) c.session.max_body_bytes = *v;
        if (auto v = s->size("inflight_body_memory")) {
            if (*v < (1u << 20)) s->fail("inflight_body_memory", "expected at least 1MiB");
            c.inflight_body_bytes = *v;
        }
        if (auto v = s->size("max_origin_header_size")) {
            if (*v < 1024 || *v > (1u << 20))
                s->fail("max_origin_header_size", "expected 1KiB to 1MiB");
            c.origin_pool.max_header_bytes = static_cast<std::uint32_t>(*v);
        }
    }
    if (auto s = root.section("timeouts")) {
        s->allow_only({"client_idle", "client_request", "client_send", "origin_connect",
                       "origin_response", "origin_fill", "drain"});
        auto positive = [&](std::string_view key, std::chrono::milliseconds& out) {
            if (auto v = s->duration(key)) {
                if (v->count() <= 0) s->fail(key, "must be greater than zero");
                out = *v;
            }
        };
        positive("client_idle", c.session.idle_timeout);
        positive("client_request", c.session.request_timeout);
        positive("client_send", c.session.send_timeout);
        positive("origin_connect", c.origin_pool.connect_timeout);
        positive("origin_response", c.origin_pool.response_timeout);
        positive("origin_fill", c.origin_fill_timeout);
        if (auto v = s->duration("drain")) {
            if (v->count() < 0 || *v > std::chrono::hours(1))
                s->fail("drain", "expected 0s (stop at once) to 1h");
            c.session.drain_timeout = *v;
        }
    }
    if (auto s = root.section("http2")) {
        s->allow_only({"max_concurrent_streams", "initial_window_size", "header_table_size",
                       "reset_burst", "reset_rate", "cheap_frame_burst", "cheap_frame_rate",
                       "address_reset_burst", "address_reset_rate", "address_table_size"});
        http::Http2Limits& h = c.session.http2;
        auto count = [&](std::string_view key, std::int64_t lo, std::int64_t hi,
                         std::uint32_t& out) {
            if (auto v = s->integer(key)) {
                if (*v < lo || *v > hi) s->fail(key, fmt::format("expected {} to {}", lo, hi));
                out = static_cast<std::uint32_t>(*v);
            }
        };
        count("max_concurrent_streams", 1, 10'000, h.max_concurrent_streams);
        count("reset_burst", 1, 1'000'000, h.reset_burst);
        count("reset_rate", 1, 1'000'000, h.reset_rate);
        // Real clients send a handful of SETTINGS, PING, PRIORITY and WINDOW_UPDATE frames; below
        // 10 a browser could trip it.
        count("cheap_frame_burst", 10, 1'000'000, h.cheap_frame_burst);
        count("cheap_frame_rate", 1, 1'000'000, h.cheap_frame_rate);
        count("address_reset_burst", 0, 10'000'000, c.address_resets.burst);  // 0: off
        count("address_reset_rate", 1, 10'000'000, c.address_resets.rate);
        if (auto v = s->integer("address_table_size")) {
            if (*v < 16 || *v > (1 << 22))
                s->fail("address_table_size", "expected 16 to 4194304 addresses");
            c.address_resets.slots = static_cast<std::size_t>(*v);
        }
        if (auto v = s->size("initial_window_size")) {
            // RFC 9113 section 6.9.2: at most 2^31-1; below 16KiB every DATA frame waits.
            if (*v < 16 * 1024 || *v > 0x7fffffff)
                s->fail("initial_window_size", "expected 16KiB to 2GiB-1");
            h.initial_window_size = static_cast<std::uint32_t>(*v);
        }
        if (auto v = s->size("header_table_size")) {
            if (*v > 64 * 1024) s->fail("header_table_size", "expected 0 to 64KiB");
            h.header_table_size = static_cast<std::uint32_t>(*v);
        }
    }
    for (const ConfigSection& o : root.sections("origin")) {
        o.allow_only({"hosts", "url", "urls", "host_header", "balance", "retries", "health_check",
                      "circuit_breaker", "tls_verify", "tls_ca", "tls_server_name", "pass_headers",
                      "client_cache_control", "compression", "slice", "early_hints"});
        OriginGroup g;
        if (auto cs = o.section("compression")) g.compression = parse_compression(*cs);
        g.hosts = o.strings("hosts").value_or(std::vector<std::string>{"*"});
        for (auto& h : g.hosts)
            h = h == "*" ? h : cache::normalize_host("http", h);
        if (auto v = o.string("host_header")) g.host_header = *v;
        if (auto v = o.boolean("client_cache_control")) g.client_cache_control = *v;
        if (auto v = o.strings("pass_headers")) {
            for (std::string name : *v) {
                if (!cache::is_unkeyed_override(name))
                    o.fail(
                        "pass_headers",
                        fmt::format("\"{}\" is not one of the fields the edge strips (X-Forwarded-"
                                    "Host, X-Forwarded-Proto, X-Original-URL, X-Rewrite-URL, "
                                    "X-HTTP-Method-Override, Forwarded...): it is passed on "
                                    "anyway",
                                    name));
                for (char& ch : name)
                    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
                g.pass_headers.push_back(name);
            }
            g.pass_headers_vary = fmt::format("{}", fmt::join(g.pass_headers, ", "));
        }
        std::vector<std::string> urls;
        if (auto u = o.strings("url")) urls = *u;
        if (auto u = o.strings("urls")) urls.insert(urls.end(), u->begin(), u->end());
        if (urls.empty()) o.fail("url", "each [[origin]] needs url = \"http://host:port\"");
        const bool any_https = std::any_of(urls.begin(), urls.end(), [](const std::string& u) {
            auto p = parse_url(u);
            return p && p->scheme == "https";
        });
        // TLS to the origin: only for https:// URLs, so a key on an http-only group is a mistake.
        auto https_only = [&](std::string_view key) {
            if (!any_https) o.fail(key, "TLS settings need an https:// origin url");
        };
        if (auto v = o.boolean("tls_verify")) {
            https_only("tls_verify");
            g.tls_verify = *v;
        }
        if (auto v = o.string("tls_server_name")) {
            https_only("tls_server_name");
            if (v->empty() || v->find_first_of(" /") != std::string::npos ||
                (v->find(':') != std::string::npos && !is_ip_literal(*v)))
                o.fail("tls_server_name", "expected a host name like origin.example.com");
            g.tls_server_name = *v;
        }
        if (auto v = o.string("tls_ca")) {
            https_only("tls_ca");
            if (v->empty()) o.fail("tls_ca", "expected the path of a PEM CA bundle");
            // Relative paths are relative to the config file's directory.
            std::filesystem::path p(*v);
            if (p.is_relative()) p = std::filesystem::path(o.file()).parent_path() / p;
            g.tls_ca = p;
        }
        if (any_https) {
            try {
                g.tls_context = make_tls_client_context({g.tls_verify, g.tls_ca});
            } catch (const std::exception& e) {
                o.fail(g.tls_ca.empty() ? "url" : "tls_ca", e.what());
            }
            if (!g.tls_verify)
                log_warn(
                    "{}: {} (hosts {}): tls_verify = false: the certificates of its https "
                    "origins are not checked",
                    o.file(), o.path(), fmt::join(g.hosts, ", "));
        }
        const OriginTlsParams tls{g.tls_context,
                                  !g.tls_server_name.empty() ? g.tls_server_name
                                  : !g.host_header.empty()   ? host_of(g.host_header)
                                                             : std::string(),
                                  g.tls_verify};
        for (const auto& u : urls) {
            try {
                g.servers.push_back(make_origin_server(u, o.file(), tls));
            } catch (const ConfigError&) {
                o.fail(o.strings("url") ? "url" : "urls",
                       fmt::format("\"{}\" is not a reachable origin URL like http://host:port "
                                   "or https://host:port",
                                   u));
            }
        }
        if (auto v = o.string("balance")) {
            auto p = upstream::parse_balance_policy(*v);
            if (!p) o.fail("balance", "expected round_robin, least_outstanding or random");
            g.balance = *p;
        }
        if (auto v = o.integer("retries")) {
            if (*v < 0 || *v > 10) o.fail("retries", "expected 0 to 10");
            g.retries = static_cast<unsigned>(*v);
        }
        auto positive = [](const ConfigSection& s, std::string_view key,
                           std::chrono::milliseconds& out) {
            if (auto v = s.duration(key)) {
                if (v->count() <= 0) s.fail(key, "must be greater than zero");
                out = *v;
            }
        };
        auto count = [](const ConfigSection& s, std::string_view key, unsigned& out) {
            if (auto v = s.integer(key)) {
                if (*v < 1 || *v > 1000) s.fail(key, "expected 1 to 1000");
                out = static_cast<unsigned>(*v);
            }
        };
        if (auto sl = o.section("slice")) {
            sl->allow_only({"size"});
            if (auto v = sl->size("size")) {
                if (*v != 0 && (*v < cache::kMinSliceSize || *v > cache::kMaxSliceSize))
                    sl->fail("size", "expected 64KiB to 64MiB (or 0: off)");
                g.slice_size = *v;
            }
        }
        if (auto eh = o.section("early_hints")) {
            eh->allow_only({"enabled", "max_links", "max_bytes"});
            if (auto v = eh->boolean("enabled")) g.early_hints.enabled = *v;
            if (auto v = eh->integer("max_links")) {
                if (*v < 1 || *v > 100) eh->fail("max_links", "expected 1 to 100");
                g.early_hints.max_links = static_cast<std::size_t>(*v);
            }
            if (auto v = eh->size("max_bytes")) {
                if (*v < 64 || *v > 64 * 1024) eh->fail("max_bytes", "expected 64 to 64KiB");
                g.early_hints.max_bytes = static_cast<std::size_t>(*v);
            }
        }
        if (auto hc = o.section("health_check")) {
            hc->allow_only({"path", "interval", "timeout", "rise", "fall", "host_header"});
            upstream::HealthCheckSettings h;
            if (auto v = hc->string("path")) {
                if (v->empty() || v->front() != '/')
                    hc->fail("path", "expected a path like /healthz");
                h.path = *v;
            }
            positive(*hc, "interval", h.interval);
            positive(*hc, "timeout", h.timeout);
            count(*hc, "rise", h.thresholds.rise);
            count(*hc, "fall", h.thresholds.fall);
            if (auto v = hc->string("host_header"))
                h.host_header = *v;
            else
                h.host_header = g.host_header;
            g.health_check = h;
        }
        if (auto cb = o.section("circuit_breaker")) {
            cb->allow_only({"failures", "reset_timeout"});
            count(*cb, "failures", g.breaker.failure_threshold);
            positive(*cb, "reset_timeout", g.breaker.reset_timeout);
        }
        c.origins.push_back(std::move(g));
    }
    for (const ConfigSection& p : root.sections("parents")) {
        p.allow_only({"name", "hosts", "urls", "weights", "tries", "on_failure", "ramp_up",
                      "circuit_breaker", "tls_ca", "tls_verify", "connect_timeout",
                      "response_timeout"});
        ParentGroup g;
        if (auto v = p.string("name")) g.name = *v;
        g.hosts = p.strings("hosts").value_or(std::vector<std::string>{"*"});
        for (auto& h : g.hosts)
            h = h == "*" ? h : cache::normalize_host("http", h);
        const auto urls = p.strings("urls").value_or(std::vector<std::string>{});
        if (urls.empty())
            p.fail("urls", "each [[parents]] needs urls = [\"http://parent-1:8080\", ...]");
        bool verify = p.boolean("tls_verify").value_or(true);
        std::filesystem::path ca;
        if (auto v = p.string("tls_ca")) ca = p.file_path("tls_ca").value_or(*v);
        std::shared_ptr<boost::asio::ssl::context> tls_context;
        for (const auto& u : urls) {
            auto parsed = parse_url(u);
            if (!parsed || parsed->path != "/")
                p.fail("urls", fmt::format("\"{}\" is not a parent URL like http://host:port", u));
            if (parsed->scheme == "https" && !tls_context) {
                try {
                    tls_context = make_tls_client_context({verify, ca});
                } catch (const std::exception& e) {
                    p.fail(ca.empty() ? "urls" : "tls_ca", e.what());
                }
            }
            try {
                g.servers.push_back(make_origin_server(u, p.file(), {tls_context, {}, verify}));
            } catch (const ConfigError&) {
                p.fail("urls", fmt::format("\"{}\" is not a reachable parent URL", u));
            }
            for (std::size_t i = 0; i + 1 < g.servers.size(); ++i)
                if (g.servers[i].url.host == g.servers.back().url.host &&
                    g.servers[i].url.port == g.servers.back().url.port)
                    p.fail("urls", fmt::format("\"{}\" is listed twice", u));
        }
        if (auto v = p.numbers("weights")) {
            if (v->size() != urls.size()) p.fail("weights", "expected one weight per url");
            for (double w : *v)
                if (!(w > 0) || w > 1000) p.fail("weights", "expected weights from 0 to 1000");
            g.weights = *v;
        }
        if (auto v = p.integer("tries")) {
            if (*v < 1 || *v > 16) p.fail("tries", "expected 1 to 16");
            g.tries = static_cast<unsigned>(*v);
        }
        if (auto v = p.string("on_failure")) {
            if (*v != "origin" && *v != "error") p.fail("on_failure", "expected origin or error");
            g.origin_on_failure = *v == "origin";
        }
        if (auto v = p.duration("ramp_up")) {
            if (v->count() < 0) p.fail("ramp_up", "must not be negative");
            g.ramp_up = *v;
        }
        for (const char* key : {"connect_timeout", "response_timeout"})
            if (auto v = p.duration(key); v && v->count() <= 0)
                p.fail(key, "must be greater than zero");
        if (auto v = p.duration("connect_timeout")) g.connect_timeout = *v;
        if (auto v = p.duration("response_timeout")) g.response_timeout = *v;
        for (auto& srv : g.servers) {
            srv.connect_timeout = g.connect_timeout;
            srv.response_timeout = g.response_timeout;
        }
        if (auto cb = p.section("circuit_breaker")) {
            cb->allow_only({"failures", "reset_timeout"});
            if (auto v = cb->integer("failures")) {
                if (*v < 1 || *v > 1000) cb->fail("failures", "expected 1 to 1000");
                g.breaker.failure_threshold = static_cast<unsigned>(*v);
            }
            if (auto v = cb->duration("reset_timeout")) {
                if (v->count() <= 0) cb->fail("reset_timeout", "must be greater than zero");
                g.breaker.reset_timeout = *v;
            }
        }
        c.parents.push_back(std::move(g));
    }
    if (auto s = root.section("peering")) {
        s->allow_only({"peers", "self", "load_cap"});
        Peering p;
        const auto urls = s->strings("peers").value_or(std::vector<std::string>{});
        if (urls.size() < 2)
            s->fail("peers", "list the PoP's edges, this one included (at least two URLs)");
        for (const auto& u : urls) {
            auto parsed = parse_url(u);
            if (!parsed || parsed->scheme != "http" || parsed->path != "/")
                s->fail("peers", fmt::format("\"{}\" is not a peer URL like http://host:port", u));
            try {
                p.peers.push_back(make_origin_server(u, s->file()));
            } catch (const ConfigError&) {
                s->fail("peers", fmt::format("\"{}\" is not a reachable peer URL", u));
            }
            for (std::size_t i = 0; i + 1 < p.peers.size(); ++i)
                if (p.peers[i].endpoint == p.peers.back().endpoint)
                    s->fail("peers", fmt::format("\"{}\" is listed twice", u));
        }
        if (auto v = s->string("self")) {
            auto parsed = parse_url(*v);
            if (!parsed) s->fail("self", "expected this edge's URL as the peers list it");
            p.self_url = *v;
        }
        if (auto v = s->number("load_cap")) {
            if (!(*v >= 1.0) || *v > 10) s->fail("load_cap", "expected 1 to 10 (e.g. 1.25)");
            p.load_cap = *v;
        }
        c.peering = std::move(p);
    }
    return c;
}

void find_self_peer(EdgeConfig& c) {
    if (!c.peering) return;
    Peering& p = *c.peering;
    p.self.reset();
    for (std::size_t i = 0; i < p.peers.size(); ++i) {
        const auto& url = p.peers[i].url;
        if (!p.self_url.empty()) {
            auto self = parse_url(p.self_url);
            if (self && self->host == url.host && self->port == url.port) p.self = i;
            continue;
        }
        const tcp::endpoint ep = p.peers[i].endpoint;
        for (const auto& l : c.listen)
            if (l.port() == ep.port() &&
                (l.address() == ep.address() ||
                 (l.address().is_unspecified() && ep.address().is_loopback())))
                p.self = i;
    }
    if (!p.self)
        throw ConfigError(
            p.self_url.empty()
                ? "peering.peers: none of them is this edge (no peer URL on a listen address); "
                  "list this edge too, or say which one it is with peering.self"
                : fmt::format("peering.self: \"{}\" is not one of peering.peers", p.self_url));
}

void drop_self_from_parents(EdgeConfig& c) {
    auto is_self = [&](const tcp::endpoint& ep) {
        auto same = [&](const tcp::endpoint& l) {
            return l.port() == ep.port() &&
                   (l.address() == ep.address() ||
                    (l.address().is_unspecified() &&
                     (ep.address().is_loopback() || ep.address().is_unspecified())));
        };
        return std::any_of(c.listen.begin(), c.listen.end(), same) ||
               (c.tls && std::any_of(c.tls->listen.begin(), c.tls->listen.end(), same));
    };
    for (ParentGroup& g : c.parents) {
        for (std::size_t i = 0; i < g.servers.size();) {
            if (!is_self(g.servers[i].endpoint)) {
                ++i;
                continue;
            }
            log_warn("edge: parents \"{}\": {} is this edge itself; it is left out of the group",
                     g.name, g.servers[i].url.authority());
            g.servers.erase(g.servers.begin() + static_cast<std::ptrdiff_t>(i));
            if (i < g.weights.size())
                g.weights.erase(g.weights.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    std::erase_if(c.parents, [](const ParentGroup& g) {
        if (!g.servers.empty()) return false;
        log_warn("edge: parents \"{}\": no parent left but this edge: its misses go to the origin",
                 g.name);
        return true;
    });
}

void validate(const EdgeConfig& c) {
    if (c.listen.empty() && !c.tls)
        throw ConfigError("no listen address: set server.listen or --listen");
    if (c.tls) {
        if (c.tls->listen.empty())
            throw ConfigError("TLS: no listen address: set tls.listen or --tls-listen");
        if (c.tls->certificates.empty())
            throw ConfigError(
                "TLS: no certificate: add a [[tls.certificates]] table or --tls-cert/--tls-key");
    }
    if (c.origins.empty()) throw ConfigError("no origin: add an [[origin]] table or --origin URL");
    if (c.fleet.enabled.value_or(false) && !c.purge)
        throw ConfigError(
            "fleet.register: registration goes to purge_api: set [purge] api (or --purge-api)");
    if (c.memory_bytes < (1u << 20)) throw ConfigError("cache.memory must be at least 1MiB");
    if (c.log.access != "stdout" && c.log.access != "off") {
        // The edge creates the file, not its directory: say so now (and in --check) rather
        // than when it starts.
        const std::filesystem::path dir =
            std::filesystem::absolute(std::filesystem::path(c.log.access)).parent_path();
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec))
            throw ConfigError(fmt::format("log.access: {}: the directory {} does not exist",
                                          c.log.access, dir.string()));
    }
}

}  // namespace cdn::edge
