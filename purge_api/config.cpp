#include "purge_api/config.hpp"

#include "purge_api/edge_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
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
    root.allow_only({"server", "tls", "token", "edges", "limits", "log", "stream", "store"});
    ApiConfig c;
    const auto server = root.section("server");
    if (auto s = server) {
        s->allow_only({"listen", "data_dir", "threads", "allow_cleartext"});
        if (auto l = s->string("listen")) {
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
        if (auto d = s->string("data_dir")) {
            if (d->empty()) s->fail("data_dir", "must not be empty");
            c.data_dir = *d;
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
            auto v = s->string(key);
            if (!v || v->empty()) s->fail(key, "expected the path of a PEM file");
            // Relative paths are relative to the config file's directory.
            std::filesystem::path p(*v);
            if (p.is_relative()) p = std::filesystem::path(s->file()).parent_path() / p;
            return p;
        };
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
    for (const ConfigSection& t : root.sections("token")) {
        t.allow_only({"name", "value", "hosts"});
        Token tok;
        tok.name = t.string("name").value_or(fmt::format("token-{}", n));
        auto v = t.string("value");
        if (!v) t.fail("value", "each [[token]] needs a value");
        if (!valid_token_value(*v))
            t.fail("value", "must be non-empty printable ASCII without spaces");
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
        l->allow_only({"keep"});
        c.log_keep = bounded(*l, "keep", c.log_keep, 1, 100'000'000);
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
        s->allow_only({"backend", "etcd_endpoints", "etcd_prefix"});
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
        throw ConfigError("no data directory: give --data-dir DIR or [server] data_dir");
    if (!c.http && !c.tls)
        throw ConfigError(
            "no listener: [server] listen is \"\" (no plain HTTP) and there is no [tls]");
    if (c.tls && cleartext_exposed(c) && !c.allow_cleartext)
        throw ConfigError(fmt::format(
            "plain HTTP on {} is not loopback: beside TLS it must be (tokens would cross the "
            "network in cleartext); listen on 127.0.0.1, or set [server] allow_cleartext = true",
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

}  // namespace cdn::purge_api
