#include "purge_api/config.hpp"

#include "purge_api/edge_registry.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

namespace cdn::purge_api {
namespace {

bool valid_token_value(const std::string& v) {
    if (v.empty()) return false;
    for (unsigned char c : v)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

std::size_t bounded(const ConfigSection& s, std::string_view key, std::size_t dflt, std::size_t lo,
                    std::size_t hi) {
    const auto v = s.integer(key);
    if (!v) return dflt;
    if (*v < static_cast<std::int64_t>(lo) || *v > static_cast<std::int64_t>(hi))
        s.fail(key, fmt::format("expected an integer from {} to {}", lo, hi));
    return static_cast<std::size_t>(*v);
}

}  // namespace

ApiConfig build_config(const ConfigSection& root) {
    root.allow_only(
        {"server", "tls", "token", "edges", "limits", "log", "stream", "store", "registry"});
    ApiConfig c;
    const auto server = root.section("server");
    if (auto s = server) {
        s->allow_only({"listen", "data_dir", "threads", "allow_cleartext"});
        if (auto l = s->string("listen")) {
            c.listen_source = s->locate("listen");
            if (l->empty()) {
                c.http = false;
            } else {
                auto ep = parse_endpoint(*l);
                if (!ep)
                    s->fail("listen",
                            "expected an address like 127.0.0.1:8090 (or \"\": no plain HTTP)");
                c.listen = *ep;
            }
        }
        if (auto a = s->boolean("allow_cleartext")) c.allow_cleartext = *a;
        // Relative: to the config file's directory, wherever purge_api is started from.
        if (auto d = s->file_path("data_dir")) {
            c.data_dir = *d;
            c.data_dir_source = s->locate("data_dir");
        }
        c.threads = bounded(*s, "threads", c.threads, 0, 256);
    }
    if (auto s = root.section("tls")) {
        s->allow_only({"listen", "cert", "key"});
        ApiTlsSettings t;
        if (auto l = s->string("listen")) {
            auto ep = parse_endpoint(*l);
            if (!ep) s->fail("listen", "expected an address like 0.0.0.0:8443");
            t.listen = *ep;
        } else {
            s->fail("listen", "expected the HTTPS address, like listen = \"0.0.0.0:8443\"");
        }
        auto path = [&](std::string_view key) -> std::filesystem::path {
            // Relative paths are relative to the config file's directory.
            auto p = s->file_path(key);
            if (!p) s->fail(key, "expected the path of a PEM file");
            return *p;
        };
        c.tls_source = root.locate("tls");
        t.cert = path("cert");
        t.key = path("key");
        c.tls = std::move(t);
    }
    if (server && c.tls && c.http && !c.listen.address().is_loopback() && !c.allow_cleartext)
        server->fail("listen", fmt::format("{} is not loopback: beside [tls], plain HTTP (where "
                                           "tokens cross in cleartext) stays on loopback; use "
                                           "127.0.0.1, \"\" for none, or allow_cleartext = true",
                                           cdn::to_string(c.listen)));
    std::size_t n = 0;
    std::map<std::string, std::string> token_at;  // value -> where it was configured first
    for (const ConfigSection& t : root.sections("token")) {
        t.allow_only({"name", "value", "hosts"});
        Token tok;
        tok.name = t.string("name").value_or(fmt::format("token-{}", n));
        auto v = t.string("value");
        if (!v) t.fail("value", "each [[token]] needs a value");
        if (!valid_token_value(*v))
            t.fail("value", "must be non-empty printable ASCII without spaces");
        if (const auto [at, fresh] = token_at.emplace(*v, t.locate("value")); !fresh)
            t.fail("value", fmt::format("the same value as the token at {}; token values must be "
                                        "distinct",
                                        at->second));
        tok.value = *v;
        if (auto hosts = t.strings("hosts")) {
            if (hosts->empty()) t.fail("hosts", "leave hosts out for a token valid for every host");
            for (auto& h : *hosts) {
                const std::string host = host_of_value(PurgeKind::hosts, h);
                if (host.empty() || host.find_first_of("/ ") != std::string::npos)
                    t.fail("hosts", fmt::format("\"{}\" is not a host name", h));
                tok.hosts.push_back(host);
            }
        }
        c.tokens.push_back(std::move(tok));
        ++n;
    }
    if (auto e = root.section("edges")) {
        e->allow_only({"token", "known"});
        if (auto t = e->string("token")) {
            if (!valid_token_value(*t))
                e->fail("token", "must be non-empty printable ASCII without spaces");
            if (const auto at = token_at.find(*t); at != token_at.end())
                e->fail("token", fmt::format("the same value as the admin token at {}; the edge "
                                             "token must differ from every admin token",
                                             at->second));
            c.edge_token = *t;
        }
        if (auto k = e->strings("known")) {
            std::set<std::string> seen;
            for (const auto& id : *k) {
                if (!valid_edge_id(id))
                    e->fail(
                        "known",
                        fmt::format("\"{}\" is not an edge id (1-64 of A-Z a-z 0-9 . _ -)", id));
                if (!seen.insert(id).second)
                    e->fail("known", fmt::format("\"{}\" is listed twice", id));
            }
            c.known_edges = std::move(*k);
        }
    }
    if (auto l = root.section("limits")) {
        l->allow_only({"max_body", "max_items", "max_value_length"});
        if (auto b = l->size("max_body")) {
            if (*b < 1024 || *b > kMaxBodyLimit) l->fail("max_body", "expected 1KiB to 64MiB");
            c.max_body = *b;
        }
        c.limits.max_items = bounded(*l, "max_items", c.limits.max_items, 1, kMaxItemsLimit);
        c.limits.max_value_length =
            bounded(*l, "max_value_length", c.limits.max_value_length, 16, kMaxValueLengthLimit);
    }
    if (auto l = root.section("log")) {
        l->allow_only({"keep", "level"});
        c.log_keep = bounded(*l, "keep", c.log_keep, 1, 100'000'000);
        if (auto v = l->string("level")) {
            if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
                l->fail("level", "expected \"debug\", \"info\", \"warn\" or \"error\"");
            c.log_level = parse_log_level(*v);
        }
    }
    if (auto s = root.section("stream")) {
        s->allow_only({"heartbeat", "write_timeout"});
        if (auto h = s->duration("heartbeat")) {
            if (*h < std::chrono::milliseconds(10) || *h > std::chrono::minutes(5))
                s->fail("heartbeat", "expected 10ms to 5m");
            c.heartbeat = *h;
        }
        if (auto w = s->duration("write_timeout")) {
            if (*w < std::chrono::milliseconds(100) || *w > std::chrono::minutes(10))
                s->fail("write_timeout", "expected 100ms to 10m");
            c.write_timeout = *w;
        }
    }
    if (auto s = root.section("store")) {
        s->allow_only({"backend", "etcd_endpoints", "etcd_prefix", "timeout", "idempotency_ttl",
                       "compact_every"});
        if (auto t = s->duration("timeout")) {
            if (*t < std::chrono::milliseconds(50) || *t > std::chrono::seconds(30))
                s->fail("timeout", "expected 50ms to 30s");
            c.store_timeout = *t;
        }
        if (auto t = s->duration("idempotency_ttl")) {
            if (*t < std::chrono::minutes(1) || *t > std::chrono::hours(24 * 30))
                s->fail("idempotency_ttl", "expected 1m to 720h");
            c.idempotency_ttl = *t;
        }
        if (auto t = s->duration("compact_every")) {
            if (*t < std::chrono::seconds(1) || *t > std::chrono::hours(24))
                s->fail("compact_every", "expected 1s to 24h");
            c.compact_every = *t;
        }
        if (auto b = s->string("backend")) {
            if (*b == "file")
                c.backend = ApiConfig::Backend::file;
            else if (*b == "etcd")
                c.backend = ApiConfig::Backend::etcd;
            else
                s->fail("backend", "expected \"file\" or \"etcd\"");
        }
        if (auto e = s->strings("etcd_endpoints")) {
            if (e->empty()) s->fail("etcd_endpoints", "give at least one http://HOST:PORT");
            for (const auto& u : *e) {
                auto url = parse_url(u);
                if (!url || url->scheme != "http")
                    s->fail("etcd_endpoints",
                            fmt::format("\"{}\" is not a URL like http://127.0.0.1:2379", u));
            }
            c.etcd_endpoints = std::move(*e);
        }
        if (auto p = s->string("etcd_prefix")) {
            if (p->empty()) s->fail("etcd_prefix", "must not be empty");
            c.etcd_prefix = *p;
        }
    }
    if (auto r = root.section("registry")) {
        r->allow_only({"lease_ttl"});
        if (auto t = r->duration("lease_ttl")) {
            if (*t < std::chrono::milliseconds(300) || *t > std::chrono::hours(1))
                r->fail("lease_ttl", "expected 300ms to 1h");
            c.lease_ttl = *t;
        }
    }
    c.file = root.file();
    return c;
}

ApiConfig parse_config(std::string_view text, const std::string& name) {
    return build_config(ConfigSection::parse(text, name));
}

ApiConfig load_config(const std::string& file) {
    return build_config(ConfigSection::load_file(file));
}

bool cleartext_exposed(const ApiConfig& c) {
    return c.http && !c.listen.address().is_loopback();
}

void validate(const ApiConfig& c) {
    if (c.backend == ApiConfig::Backend::file && c.data_dir.empty())
        throw ConfigError(
            c.file.empty()
                ? std::string("no data directory: give --data-dir DIR or [server] data_dir")
                : fmt::format("{}: server.data_dir: not set (give it, or --data-dir DIR)", c.file));
    if (!c.http && !c.tls)
        throw ConfigError(
            fmt::format("{}: \"\" turns plain HTTP off and there is no [tls]: no listener",
                        c.listen_source.empty() ? std::string("server.listen") : c.listen_source));
    if (c.tls && cleartext_exposed(c) && !c.allow_cleartext)
        throw ConfigError(fmt::format(
            "{}plain HTTP on {} is not loopback: beside TLS it must be (tokens would cross the "
            "network in cleartext); listen on 127.0.0.1, or set [server] allow_cleartext = true",
            c.listen_source.empty() ? std::string() : c.listen_source + ": ",
            cdn::to_string(c.listen)));
    std::set<std::string> values;
    for (const Token& t : c.tokens) {
        if (!values.insert(t.value).second)
            throw ConfigError(
                fmt::format("token \"{}\": the same value is configured twice", t.name));
        if (!c.edge_token.empty() && t.value == c.edge_token)
            throw ConfigError(
                fmt::format("token \"{}\": an admin token cannot also be the edge token", t.name));
    }
}

ApiConfig build_config(const ApiFlags& f) {
    ApiConfig c = f.config_file.empty() ? ApiConfig{} : load_config(f.config_file);
    if (!f.listen.empty()) {
        auto ep = parse_endpoint(f.listen);
        if (!ep)
            throw ConfigError("--listen: \"" + f.listen +
                              "\" is not an address like 127.0.0.1:8090");
        c.listen = *ep;
        c.http = true;
        c.listen_source = "--listen";
    }
    if (!f.data_dir.empty()) {
        c.data_dir = f.data_dir;
        c.data_dir_source = "--data-dir";
    }
    if (!f.edge_token.empty()) {
        if (!valid_token_value(f.edge_token))
            throw ConfigError("--edge-token: must be non-empty printable ASCII without spaces");
        for (const Token& t : c.tokens)
            if (t.value == f.edge_token)
                throw ConfigError(
                    fmt::format("--edge-token: the same value as the admin token \"{}\"", t.name));
        c.edge_token = f.edge_token;
    }
    for (std::size_t i = 0; i < f.tokens.size(); ++i) {
        const std::string& v = f.tokens[i];
        if (!valid_token_value(v))
            throw ConfigError("--token: must be non-empty printable ASCII without spaces");
        if (v == c.edge_token) throw ConfigError("--token: the same value as the edge token");
        for (const Token& t : c.tokens)
            if (t.value == v)
                throw ConfigError(
                    fmt::format("--token: the same value as the token \"{}\"", t.name));
        c.tokens.push_back(Token{"flag-" + std::to_string(i + 1), v, {}});
    }
    if (!f.tls_listen.empty() || !f.tls_cert.empty() || !f.tls_key.empty()) {
        if (!c.tls && (f.tls_listen.empty() || f.tls_cert.empty() || f.tls_key.empty()))
            throw ConfigError(
                "TLS needs --tls-listen ADDRESS, --tls-cert FILE and --tls-key FILE (or [tls])");
        if (!c.tls) c.tls.emplace();
        if (!f.tls_listen.empty()) {
            auto ep = parse_endpoint(f.tls_listen);
            if (!ep)
                throw ConfigError("--tls-listen: \"" + f.tls_listen +
                                  "\" is not an address like 0.0.0.0:8443");
            c.tls->listen = *ep;
        }
        if (!f.tls_cert.empty()) c.tls->cert = f.tls_cert;
        if (!f.tls_key.empty()) c.tls->key = f.tls_key;
        if (!f.tls_cert.empty() || !f.tls_key.empty()) c.tls_source.clear();
    }
    if (f.threads >= 0) c.threads = static_cast<std::size_t>(f.threads);
    if (!f.log_level.empty()) {
        if (f.log_level != "debug" && f.log_level != "info" && f.log_level != "warn" &&
            f.log_level != "error")
            throw ConfigError("--log-level: expected debug, info, warn or error");
        c.log_level = parse_log_level(f.log_level);
    }
    validate(c);
    return c;
}

std::vector<std::string> keep_restart_only(const ApiConfig& running, ApiConfig& next) {
    std::vector<std::string> changed;
    auto keep = [&](auto& field, const auto& old, const char* name) {
        if (field != old) {
            changed.emplace_back(name);
            field = old;
        }
    };
    if (next.http != running.http || (running.http && next.listen != running.listen))
        changed.emplace_back("server.listen");
    next.http = running.http;
    next.listen = running.listen;
    next.listen_source = running.listen_source;
    keep(next.allow_cleartext, running.allow_cleartext, "server.allow_cleartext");
    if (next.tls.has_value() != running.tls.has_value()) {
        changed.emplace_back("tls");
        next.tls = running.tls;
    } else if (next.tls) {
        keep(next.tls->listen, running.tls->listen, "tls.listen");
    }
    keep(next.data_dir, running.data_dir, "server.data_dir");
    next.data_dir_source = running.data_dir_source;
    keep(next.threads, running.threads, "server.threads");
    keep(next.log_keep, running.log_keep, "log.keep");
    keep(next.backend, running.backend, "store.backend");
    keep(next.etcd_endpoints, running.etcd_endpoints, "store.etcd_endpoints");
    keep(next.etcd_prefix, running.etcd_prefix, "store.etcd_prefix");
    keep(next.store_timeout, running.store_timeout, "store.timeout");
    keep(next.idempotency_ttl, running.idempotency_ttl, "store.idempotency_ttl");
    keep(next.compact_every, running.compact_every, "store.compact_every");
    keep(next.lease_ttl, running.lease_ttl, "registry.lease_ttl");
    return changed;
}

std::optional<std::string> check_data_dir(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto writable = [](const fs::path& p) { return ::access(p.c_str(), W_OK | X_OK) == 0; };
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec))
            return fmt::format("data directory {}: not a directory", dir.string());
        if (!writable(dir))
            return fmt::format("data directory {}: not writable ({})", dir.string(),
                               std::strerror(errno));
        const fs::path log = dir / "purge.log";
        if (fs::exists(log, ec) && ::access(log.c_str(), R_OK | W_OK) != 0)
            return fmt::format("{}: cannot be read and written ({})", log.string(),
                               std::strerror(errno));
        return std::nullopt;
    }
    // It will be created: the nearest existing parent must be a writable directory.
    fs::path parent = dir.parent_path();
    while (!parent.empty() && !fs::exists(parent, ec))
        parent = parent.parent_path();
    if (parent.empty()) parent = ".";
    if (!fs::is_directory(parent, ec))
        return fmt::format("data directory {}: cannot be created: {} is not a directory",
                           dir.string(), parent.string());
    if (!writable(parent))
        return fmt::format("data directory {}: cannot be created in {} ({})", dir.string(),
                           parent.string(), std::strerror(errno));
    return std::nullopt;
}

std::string summary(const ApiConfig& c) {
    std::string out;
    if (c.http) out = fmt::format("http on {}", cdn::to_string(c.listen));
    if (c.tls)
        out += fmt::format("{}https on {} (certificate {})", out.empty() ? "" : ", ",
                           cdn::to_string(c.tls->listen), c.tls->cert.string());
    std::size_t limited = 0;
    for (const Token& t : c.tokens)
        if (!t.all_hosts()) ++limited;
    out += fmt::format(", {} admin token{} ({} host-limited), {}edge token, {} known edge{}",
                       c.tokens.size(), c.tokens.size() == 1 ? "" : "s", limited,
                       c.edge_token.empty() ? "no " : "", c.known_edges.size(),
                       c.known_edges.size() == 1 ? "" : "s");
    if (c.backend == ApiConfig::Backend::etcd)
        out += fmt::format(", etcd store {} prefix \"{}\"", fmt::join(c.etcd_endpoints, ","),
                           c.etcd_prefix);
    else
        out += fmt::format(", file store {}", c.data_dir.string());
    out += fmt::format(", {} thread{}", c.threads, c.threads == 1 ? "" : "s");
    return out;
}

}  // namespace cdn::purge_api
