// edge: the caching reverse proxy. Parses flags and config, wires the objects, runs.
#include "common/build_info.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/process_metrics.hpp"
#include "common/runtime.hpp"
#include "common/units.hpp"
#include "edge/config.hpp"
#include "edge/http/http1_session.hpp"
#include "edge/http/tls_context.hpp"
#include "edge/proxy/admin_handler.hpp"
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/edge_metrics.hpp"
#include "edge/proxy/purge_subscriber.hpp"
#include "edge/proxy/purger.hpp"
#include "edge/proxy/registrar.hpp"
#include "edge/storage/memory_store.hpp"

#include <malloc.h>
#include <CLI/CLI.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

using namespace cdn;
using namespace cdn::edge;
namespace asio = boost::asio;

namespace {

struct Flags {
    std::string config_file;
    std::vector<std::string> listen;
    std::vector<std::string> origins;
    std::string admin;
    std::string admin_purge_token_file;
    std::string name;
    std::string memory;
    std::string disk_path;
    std::string purge_api;
    std::string purge_token;
    std::string purge_tls_ca;
    std::vector<std::string> tls_listen;
    std::vector<std::string> tls_cert;
    std::vector<std::string> tls_key;
    int threads = -1;
    bool no_access_log = false;
    std::string access_log;         // --access-log: "stdout", "off" or a file
    std::string access_log_format;  // --access-log-format
    bool reuse_port = false;
    bool check = false;
    std::string log_level;   // empty: [log] level, else info
    std::string log_format;  // empty: [log] format, else text
};

EdgeConfig build_config(const Flags& f) {
    EdgeConfig c = f.config_file.empty()
                       ? EdgeConfig{}
                       : load_edge_config(ConfigSection::load_file(f.config_file));
    if (!f.listen.empty()) {
        c.listen.clear();
        for (const auto& l : f.listen) {
            auto ep = parse_endpoint(l);
            if (!ep)
                throw ConfigError("--listen: \"" + l + "\" is not an address like 127.0.0.1:8080");
            c.listen.push_back(*ep);
        }
    }
    if (!f.origins.empty()) {
        OriginGroup g;
        g.hosts = {"*"};
        for (const auto& o : f.origins)
            g.servers.push_back(make_origin_server(o, "--origin"));
        std::erase_if(c.origins, [](const OriginGroup& x) {
            return std::find(x.hosts.begin(), x.hosts.end(), "*") != x.hosts.end();
        });
        c.origins.push_back(std::move(g));
    }
    if (!f.admin.empty()) {
        auto ep = parse_endpoint(f.admin);
        if (!ep)
            throw ConfigError("--admin: \"" + f.admin + "\" is not an address like 127.0.0.1:8081");
        c.admin = *ep;
    }
    if (!f.admin_purge_token_file.empty()) {
        try {
            c.admin_purge_token = read_token_file(f.admin_purge_token_file);
        } catch (const ConfigError& e) {
            throw ConfigError(std::string("--admin-purge-token-file: ") + e.what());
        }
    }
    if (!f.name.empty()) c.name = f.name;
    c.cc_sources.device = c.name;  // Surrogate-Control's ";device" directives aimed at this edge
    if (!f.memory.empty()) {
        auto m = parse_size(f.memory);
        if (!m) throw ConfigError("--memory: \"" + f.memory + "\" is not a size like 256MiB");
        c.memory_bytes = *m;
    }
    if (!f.disk_path.empty()) {
        if (!c.disk) c.disk.emplace();
        c.disk->path = f.disk_path;
    }
    if (!f.purge_api.empty() || !f.purge_tls_ca.empty()) {
        const std::string flag = f.purge_api.empty() ? "--purge-tls-ca" : "--purge-api";
        if (!f.purge_api.empty()) {
            // One URL or several, comma-separated: instances that share one purge log.
            std::vector<std::string> urls;
            for (std::string_view rest = f.purge_api;;) {
                const auto comma = rest.find(',');
                std::string_view u = rest.substr(0, comma);
                while (!u.empty() && u.front() == ' ')
                    u.remove_prefix(1);
                while (!u.empty() && u.back() == ' ')
                    u.remove_suffix(1);
                urls.emplace_back(u);
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
            if (const auto problem = check_purge_apis(urls))
                throw ConfigError(problem->index ? fmt::format("--purge-api: URL {} of {}: {}",
                                                               *problem->index + 1, urls.size(),
                                                               problem->message)
                                                 : "--purge-api: " + problem->message);
            if (!c.purge) c.purge.emplace();
            c.purge->api = std::move(urls);
        }
        if (!c.purge) throw ConfigError("--purge-tls-ca: needs --purge-api or [purge] api");
        if (!f.purge_tls_ca.empty()) {
            if (!c.purge->any_https())
                throw ConfigError("--purge-tls-ca: needs an https:// purge api");
            c.purge->tls_ca = f.purge_tls_ca;
        }
        try {
            c.purge->tls = make_purge_tls(*c.purge);
        } catch (const std::exception& e) {
            throw ConfigError(flag + ": " + e.what());
        }
    }
    if (!f.purge_token.empty() && c.purge) c.purge->token = f.purge_token;
    if (!f.tls_listen.empty() || !f.tls_cert.empty() || !f.tls_key.empty()) {
        if (!c.tls) c.tls.emplace();
        if (!f.tls_listen.empty()) {
            c.tls->listen.clear();
            for (const auto& l : f.tls_listen) {
                auto ep = parse_endpoint(l);
                if (!ep)
                    throw ConfigError("--tls-listen: \"" + l +
                                      "\" is not an address like 127.0.0.1:8443");
                c.tls->listen.push_back(*ep);
            }
        }
        if (f.tls_cert.size() != f.tls_key.size())
            throw ConfigError("--tls-cert and --tls-key come in pairs (one key per certificate)");
        if (!f.tls_cert.empty()) {
            c.tls->certificates.clear();
            for (std::size_t i = 0; i < f.tls_cert.size(); ++i)
                c.tls->certificates.push_back({f.tls_cert[i], f.tls_key[i], {}});
        }
    }
    if (f.threads >= 0) c.threads = static_cast<std::size_t>(f.threads);
    if (!f.access_log.empty()) c.log.access = f.access_log;
    if (f.no_access_log) c.log.access = "off";
    if (!f.access_log_format.empty())
        c.log.access_format = *proxy::parse_access_log_format(f.access_log_format);
    if (!f.log_level.empty()) c.log.level = parse_log_level(f.log_level);
    if (!f.log_format.empty()) c.log.format = *parse_log_format(f.log_format);
    if (f.reuse_port) c.reuse_port = true;
    // A replacement (sharing the ports on purpose) waits for the running edge's disk directory.
    if (c.disk && c.reuse_port) c.disk->wait_for_lock = true;
    drop_self_from_parents(c);
    find_self_peer(c);
    validate(c);
    return c;
}

// A connection's session with the limits in force when it was accepted: its coroutine keeps
// them alive, and a reload replaces them for later connections only.
asio::awaitable<void> serve_plain(tcp::socket s, http::RequestHandler& handler,
                                  std::shared_ptr<const http::SessionLimits> limits,
                                  http::ExchangeObserver* observer,
                                  std::shared_ptr<http::GracefulShutdown> drain) {
    co_await http::serve_http1(std::move(s), handler, *limits, observer, std::move(drain));
}
asio::awaitable<void> serve_tls(tcp::socket s, std::shared_ptr<const http::TlsContextSet> tls,
                                http::RequestHandler& handler,
                                std::shared_ptr<const http::SessionLimits> limits,
                                http::ExchangeObserver* observer, http::TlsObserver* tls_observer,
                                std::shared_ptr<http::GracefulShutdown> drain) {
    co_await http::serve_http1_tls(std::move(s), std::move(tls), handler, *limits, observer,
                                   tls_observer, std::move(drain));
}

// The purge_api instances of [purge] api, with their TLS settings, for the purge stream and the
// registrar (the config checked the URLs).
std::vector<proxy::PurgeApiTarget> purge_apis(const EdgeConfig::Purge& purge) {
    const auto tls = purge.tls.size() == purge.api.size() ? purge.tls : make_purge_tls(purge);
    std::vector<proxy::PurgeApiTarget> out;
    for (std::size_t i = 0; i < purge.api.size(); ++i)
        out.push_back({*parse_url(purge.api[i]), tls[i]});
    return out;
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// What a reload cannot change in a running edge (the sockets, the stores, the purge stream,
// fixed at start-up): each field that differs, named as in the config file.
std::vector<std::string> restart_only_changes(const EdgeConfig& a, const EdgeConfig& b) {
    std::vector<std::string> out;
    auto check = [&out](bool same, const char* what) {
        if (!same) out.emplace_back(what);
    };
    check(a.listen == b.listen, "server.listen");
    check(a.admin == b.admin, "server.admin");
    check(a.threads == b.threads, "server.threads");
    check(a.reuse_port == b.reuse_port, "server.reuse_port");
    check(a.log == b.log, "log (access, access_format, level, format)");
    check(a.session.h2c == b.session.h2c, "server.h2c");
    check(a.memory_bytes == b.memory_bytes, "cache.memory");
    check(a.shards == b.shards && a.cache_policy == b.cache_policy, "cache (shards, policy)");
    check(a.inflight_body_bytes == b.inflight_body_bytes, "limits.inflight_body_memory");
    check(a.disk.has_value() == b.disk.has_value() &&
              (!a.disk ||
               (a.disk->path == b.disk->path && a.disk->capacity_bytes == b.disk->capacity_bytes &&
                a.disk->segment_bytes == b.disk->segment_bytes)),
          "cache.disk");
    check(a.purge.has_value() == b.purge.has_value() &&
              (!a.purge ||
               (a.purge->api == b.purge->api && a.purge->token == b.purge->token &&
                a.purge->edge_id == b.purge->edge_id && a.purge->tls_ca == b.purge->tls_ca &&
                a.purge->tls_server_name == b.purge->tls_server_name &&
                a.purge->tls_verify == b.purge->tls_verify &&
                a.purge->idle_timeout == b.purge->idle_timeout)),
          "purge");
    check(a.fleet == b.fleet, "fleet");
    check(a.tls.has_value() == b.tls.has_value() &&
              (!a.tls || (a.tls->listen == b.tls->listen && a.tls->alpn == b.tls->alpn)),
          "tls.listen, tls.alpn");
    check(a.address_resets.burst == b.address_resets.burst &&
              a.address_resets.rate == b.address_resets.rate,
          "http2.address_reset_*");
    return out;
}

// A generation from a loaded config. Its origin sets are new (new servers, TLS settings and
// breaker settings take effect); a server that was in the previous generation under the same
// URL keeps its health mark, so a reload does not send traffic to an origin known to be down.
// Breakers start closed.
std::shared_ptr<proxy::EdgeGeneration> make_generation(EdgeConfig config,
                                                       const proxy::EdgeGeneration* previous) {
    auto gen = std::make_shared<proxy::EdgeGeneration>();
    gen->config = std::move(config);
    gen->number = previous ? previous->number + 1 : 1;
    for (const OriginGroup& g : gen->config.origins) {
        auto set = std::make_shared<upstream::OriginSet>(g.servers, g.balance, g.breaker);
        if (previous) {
            for (std::size_t i = 0; i < set->size(); ++i) {
                const std::string url =
                    set->server(i).url.scheme + "://" + set->server(i).url.authority();
                for (const auto& old : previous->origin_sets)
                    for (std::size_t j = 0; j < old->size(); ++j)
                        if (old->server(j).url.scheme + "://" + old->server(j).url.authority() ==
                            url)
                            set->set_healthy(i, old->healthy(j));
            }
        }
        gen->origin_sets.push_back(std::move(set));
    }
    // Parents start with closed breakers; their health is passive (a parent that fails is
    // skipped for its breaker's reset_timeout, then probed).
    for (const ParentGroup& p : gen->config.parents) {
        auto set = std::make_shared<upstream::OriginSet>(
            p.servers, upstream::BalancePolicy::round_robin, p.breaker,
            upstream::SetOptions{
                .breakers_always = true, .weights = p.weights, .ramp_up = p.ramp_up});
        gen->parent_routes.push_back(
            {set.get(), std::min<unsigned>(p.tries, static_cast<unsigned>(p.servers.size())),
             p.origin_on_failure});
        gen->parent_sets.push_back(std::move(set));
    }
    if (gen->config.peering)
        gen->peer_set = std::make_shared<upstream::OriginSet>(
            gen->config.peering->peers, upstream::BalancePolicy::round_robin,
            upstream::BreakerSettings{3, std::chrono::milliseconds(5'000)},
            upstream::SetOptions{.breakers_always = true, .weights = {}, .ramp_up = {}});
    return gen;
}

// What this edge registers ([fleet], proxy/registrar.hpp): the configured values, else what
// the listeners say (their bound ports, so port 0 works). A wildcard listen address (0.0.0.0)
// is no address to hand out: then the first advertised one stands in for it.
registration::Registration make_registration(const EdgeConfig& c, const std::string& id,
                                             const std::string& instance,
                                             std::optional<tcp::endpoint> client, bool client_tls,
                                             std::optional<tcp::endpoint> admin) {
    const EdgeConfig::Fleet& f = c.fleet;
    registration::Registration r;
    r.id = id;
    r.instance = instance;
    r.region = f.region;
    r.latitude = f.latitude;
    r.longitude = f.longitude;
    r.ipv4 = f.advertise_ipv4;
    r.ipv6 = f.advertise_ipv6;
    if (client && r.ipv4.empty() && r.ipv6.empty() && !client->address().is_unspecified()) {
        if (client->address().is_v4())
            r.ipv4.push_back(client->address().to_string());
        else
            r.ipv6.push_back(client->address().to_string());
    }
    auto url_of = [&](const tcp::endpoint& ep, const char* scheme) {
        std::string host = ep.address().to_string();
        if (ep.address().is_unspecified())
            host = !r.ipv4.empty() ? r.ipv4.front() : !r.ipv6.empty() ? r.ipv6.front() : host;
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        return fmt::format("{}://{}:{}", scheme, host, ep.port());
    };
    r.http = f.http_url;
    if (r.http.empty() && client) r.http = url_of(*client, client_tls ? "https" : "http");
    r.admin = f.admin_url;
    if (r.admin.empty() && admin) r.admin = url_of(*admin, "http");
    r.role = f.role;
    r.weight = f.weight;
    r.version = std::string(build_info().version);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    // Response bodies of 1 MiB and more get their own mapping, given back to the system as soon
    // as the last reader lets go: glibc's adaptive threshold would otherwise move them into the
    // heap after the first free, where slow readers' bodies fragment it and RSS never comes down.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    // Until the reload handler is in place (after the disk tier's recovery, which may take a
    // while), a SIGHUP is ignored instead of killing the edge with its default action.
    std::signal(SIGHUP, SIG_IGN);
    // A closed stdout or stderr (journald restarting, a log pipe gone) must not kill the daemon
    // at its next log line: writes fail with EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGUSR1, SIG_IGN);  // the same for SIGUSR1 (reopen the access log)
    Flags f;
    CLI::App app{
        "edge: a caching HTTP reverse proxy.\n"
        "Quick start: edge --listen 127.0.0.1:8080 --origin http://127.0.0.1:9000"};
    app.add_option("--config", f.config_file, "TOML config file; flags below override it")
        ->check(CLI::ExistingFile);
    app.add_option("--listen", f.listen,
                   "Address to serve HTTP on, e.g. 127.0.0.1:8080 (repeatable)");
    app.add_option("--origin", f.origins,
                   "Origin URL for every host, e.g. http://127.0.0.1:9000 (repeatable)");
    app.add_option("--admin", f.admin,
                   "Admin address for /healthz, /metrics and POST /purge, e.g. 127.0.0.1:8081");
    app.add_option("--admin-purge-token-file", f.admin_purge_token_file,
                   "File holding the bearer token POST /purge on the admin port requires "
                   "(replaces [admin] purge_token; without one, /purge answers 403)");
    app.add_option("--name", f.name, "Name of this edge in Cache-Status and Via (default: edge)");
    app.add_option("--memory", f.memory, "Memory cache size, e.g. 256MiB");
    app.add_option("--disk-path", f.disk_path,
                   "Directory of the disk tier (enables it; size etc. from [cache.disk])");
    app.add_option("--purge-api", f.purge_api,
                   "purge_api base URL to take purges from (enables [purge]); several instances "
                   "sharing one purge log: comma-separated, used one at a time with failover");
    app.add_option("--purge-token", f.purge_token, "Token for purge_api's edge endpoints");
    app.add_option("--purge-tls-ca", f.purge_tls_ca,
                   "PEM CA bundle to verify an https:// purge api with (default: the system "
                   "store)");
    app.add_option("--tls-listen", f.tls_listen,
                   "Address to serve HTTPS on, e.g. 127.0.0.1:8443 (repeatable)");
    app.add_option("--tls-cert", f.tls_cert,
                   "PEM certificate chain; the first is the default, others by their SAN names "
                   "(repeatable, replaces [[tls.certificates]])");
    app.add_option("--tls-key", f.tls_key,
                   "PEM private key of the --tls-cert at the same position");
    app.add_option("--threads", f.threads, "Worker threads (0 = one per core)");
    app.add_flag("--no-access-log", f.no_access_log,
                 "No access log (the same as --access-log off)");
    app.add_option("--access-log", f.access_log,
                   "Where access-log lines go: stdout (default), off, or a file (reopened on "
                   "SIGUSR1)");
    app.add_option("--access-log-format", f.access_log_format, "logfmt (default), json or combined")
        ->check(CLI::IsMember({"logfmt", "json", "combined"}));
    app.add_flag("--reuse-port", f.reuse_port,
                 "Share the listen ports with a running edge (to replace it without a gap); "
                 "otherwise a port in use is an error");
    app.add_flag("--check", f.check,
                 "Load and validate the config, certificates and origin CAs, then exit (0: valid, "
                 "2: not, with the file and line)");
    app.add_option("--log-level", f.log_level, "debug, info (default), warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    app.add_option("--log-format", f.log_format,
                   "Error log (stderr) format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.set_version_flag("--version", version_line("edge"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    set_log_level(parse_log_level(f.log_level));

    EdgeConfig config;
    try {
        config = build_config(f);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "edge: %s\n", e.what());
        return 2;
    }
    set_log_format(config.log.format);
    if (config.log.level) set_log_level(*config.log.level);
    // Certificates are read before anything else starts: a bad one is a config error.
    std::atomic<std::shared_ptr<const http::TlsContextSet>> tls_contexts;
    if (config.tls) {
        try {
            tls_contexts.store(http::TlsContextSet::load(*config.tls));
        } catch (const ConfigError& e) {
            std::fprintf(stderr, "edge: %s\n", e.what());
            return 2;
        }
    }
    if (f.check) {
        std::size_t servers = 0;
        for (const OriginGroup& g : config.origins)
            servers += g.servers.size();
        std::printf(
            "edge: configuration is valid: %zu http listener(s), %zu https listener(s) with %zu "
            "certificate(s), %zu origin group(s) with %zu server(s)%s\n",
            config.listen.size(), config.tls ? config.tls->listen.size() : 0,
            config.tls ? config.tls->certificates.size() : 0, config.origins.size(), servers,
            config.admin ? ", admin port" : "");
        return 0;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);

    MetricsRegistry registry;

    register_build_info(registry);
    register_process_metrics(registry);
    // Object sequences start at the wall clock in microseconds, so they order objects across
    // restarts even when the disk tier cannot be read at start-up (recovery then raises it
    // further, past everything found on disk).
    storage::advance_object_sequence(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       SystemClock::instance().now().time_since_epoch())
                                       .count()));
    storage::MemoryStore memory(config.memory_bytes, config.shards, config.cache_policy);
    std::unique_ptr<storage::DiskStore> disk;
    std::unique_ptr<storage::TieredStore> tiered;
    if (config.disk) {
        // Recovers what the directory holds before the edge takes a request.
        try {
            disk = std::make_unique<storage::DiskStore>(*config.disk, SystemClock::instance());
        } catch (const storage::DirectoryInUse& e) {
            std::fprintf(stderr, "edge: %s\n", e.what());
            return 1;
        }
        const storage::DiskRecovery& r = disk->recovery();
        log_info(
            "disk tier {}: {} objects from {} segments ({} from summaries, {} scanned, {} "
            "discarded) in {} ms; capacity {}",
            config.disk->path.string(), r.objects, r.segments, r.from_summary, r.scanned,
            r.discarded, r.duration.count(), format_size(disk->capacity()));
        tiered = std::make_unique<storage::TieredStore>(memory, *disk, config.tiers);
    }
    storage::ObjectStore& store = tiered ? static_cast<storage::ObjectStore&>(*tiered) : memory;
    proxy::EdgeMetrics metrics(registry, memory);
    if (tiered) proxy::add_disk_metrics(registry, *tiered);
    const bool http2_on = config.session.h2c ||
                          (config.tls && std::find(config.tls->alpn.begin(), config.tls->alpn.end(),
                                                   "h2") != config.tls->alpn.end());
    std::optional<proxy::Http2Metrics> http2_metrics;
    if (http2_on) http2_metrics.emplace(registry);
    // Rapid reset per client address, across the HTTP/2 connections of every worker.
    std::unique_ptr<http::AddressResetBudget> address_resets;
    if (http2_on && config.address_resets.burst > 0) {
        address_resets = std::make_unique<http::AddressResetBudget>(config.address_resets,
                                                                    SystemClock::instance());
        config.session.http2.address_resets = address_resets.get();
    }
    std::unique_ptr<proxy::AccessLog> access_log;
    try {
        access_log = proxy::open_access_log(config.log.access, config.log.access_format, registry);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "edge: log.access: %s\n", e.what());
        return 1;
    }
    proxy::EdgeObserver observer(metrics, access_log.get(),
                                 http2_metrics ? &*http2_metrics : nullptr);
    std::optional<proxy::TlsMetrics> tls_metrics;
    if (config.tls) tls_metrics.emplace(registry);
    // Purges: rules every lookup consults, kept in a journal beside a persistent cache.
    cache::PurgeRules purge_rules;
    proxy::Purger purger(store, purge_rules, config.key,
                         config.disk ? config.disk->path / "purges.log" : std::filesystem::path{});
    registry.gauge_fn("cdn_edge_purge_rules", "Purge rules still covering cached objects.",
                      [&purge_rules] { return static_cast<double>(purge_rules.size()); });
    registry.gauge_fn("cdn_edge_purge_last_seq", "Last purge-log sequence applied here.",
                      [&purger] { return static_cast<double>(purger.last_seq()); });
    // Early Hints learned per URL ([origin.early_hints]); a purge forgets them.
    cache::HintTable hints;
    purger.set_hints(&hints);
    proxy::AdminHandler admin_handler(registry, &purger, config.admin_purge_token);
    cache::InflightKeys refreshing;
    cache::FillRegistry fills;
    registry.gauge_fn("cdn_edge_fills_inflight", "Origin fetches other misses may wait on.",
                      [&fills] { return static_cast<double>(fills.inflight()); });
    proxy::InflightBudget inflight(config.inflight_body_bytes);
    registry.gauge_fn("cdn_edge_inflight_body_bytes",
                      "Bytes of response bodies being filled or read, outside the cache.",
                      [&inflight] { return static_cast<double>(inflight.used()); });
    registry.gauge_fn("cdn_edge_inflight_body_limit_bytes",
                      "The in-flight body budget ([limits] inflight_body_memory).",
                      [&inflight] { return static_cast<double>(inflight.limit()); });
    // The config requests use: replaced as a whole on SIGHUP (see reload below).
    std::shared_ptr<const proxy::EdgeGeneration> generation = make_generation(config, nullptr);
    std::atomic<std::shared_ptr<const proxy::EdgeGeneration>> published{generation};
    registry.gauge_samples_fn(
        "cdn_edge_origin_up", "1 when the origin is healthy and its circuit breaker is not open.",
        [&published] {
            MetricsRegistry::Samples out;
            const auto gen = published.load();
            for (const auto& set : gen->origin_sets)
                for (std::size_t i = 0; i < set->size(); ++i)
                    out.emplace_back(
                        "origin=\"" + set->server(i).url.scheme + "://" +
                            set->server(i).url.authority() + "\"",
                        set->healthy(i) && set->breaker_state(i, SystemClock::instance().now()) !=
                                               upstream::CircuitBreaker::State::open
                            ? 1.0
                            : 0.0);
            return out;
        });
    registry.gauge_samples_fn(
        "cdn_edge_parent_up",
        "1 when the parent is in use (breaker not open); 0.1 to 1 while it ramps up after a "
        "return.",
        [&published] {
            MetricsRegistry::Samples out;
            const auto gen = published.load();
            const TimePoint now = SystemClock::instance().now();
            for (std::size_t g = 0; g < gen->parent_sets.size(); ++g) {
                const auto& set = *gen->parent_sets[g];
                for (std::size_t i = 0; i < set.size(); ++i) {
                    const bool up = set.healthy(i) && set.breaker_state(i, now) !=
                                                          upstream::CircuitBreaker::State::open;
                    out.emplace_back(
                        fmt::format("group=\"{}\",parent=\"{}://{}\"", gen->config.parents[g].name,
                                    set.server(i).url.scheme, set.server(i).url.authority()),
                        up ? set.ramp_share(i, now) : 0.0);
                }
            }
            return out;
        });
    registry.gauge_fn("cdn_edge_config_generation",
                      "The config in use: 1 at start-up, +1 per successful reload (SIGHUP).",
                      [&published] { return static_cast<double>(published.load()->number); });
    Counter& reloads_ok = registry.counter(
        "cdn_edge_reloads_total", "Config reloads on SIGHUP, by result.", R"(result="ok")");
    Counter& reloads_failed = registry.counter(
        "cdn_edge_reloads_total", "Config reloads on SIGHUP, by result.", R"(result="failed")");
    // Declared last: destroyed first, so no coroutine outlives what it refers to.
    WorkerPool pool(config.threads);
    // Active health checks of the current generation's groups; a reload stops them and starts
    // its own. Stopped checkers are kept (with their sets) until exit: their last check may
    // still be finishing.
    struct Checker {
        std::shared_ptr<upstream::OriginSet> set;
        std::unique_ptr<upstream::HealthChecker> checker;
    };
    std::vector<Checker> health_checkers, retired_checkers;
    auto start_health_checks = [&](const proxy::EdgeGeneration& gen) {
        for (auto& c : health_checkers) {
            c.checker->stop();
            retired_checkers.push_back(std::move(c));
        }
        health_checkers.clear();
        for (std::size_t i = 0; i < gen.config.origins.size(); ++i) {
            if (!gen.config.origins[i].health_check) continue;
            auto checker = std::make_unique<upstream::HealthChecker>(
                pool.at(0).get_executor(), *gen.origin_sets[i], *gen.config.origins[i].health_check,
                &metrics.origin_health_transitions);
            checker->start();
            health_checkers.push_back({gen.origin_sets[i], std::move(checker)});
        }
    };
    start_health_checks(*generation);
    std::vector<std::unique_ptr<proxy::EdgeHandler>> handlers;
    for (std::size_t i = 0; i < pool.size(); ++i)
        handlers.push_back(std::make_unique<proxy::EdgeHandler>(
            proxy::EdgeShared{store, metrics, SystemClock::instance(), refreshing, fills,
                              purge_rules, inflight, &hints},
            generation, pool.at(i).get_executor()));
    // Graceful shutdown, one broadcast per worker (its connections subscribe to it).
    std::vector<std::shared_ptr<http::GracefulShutdown>> drains;
    for (std::size_t i = 0; i < pool.size(); ++i)
        drains.push_back(std::make_shared<http::GracefulShutdown>());
    auto worker_of = [&pool](tcp::socket& s) {
        for (std::size_t i = 0; i < pool.size(); ++i)
            if (&pool.at(i) == &s.get_executor().context()) return i;
        return std::size_t{0};
    };

    // SIGHUP reloads: the config file is read again (the command line's flags still override
    // it). Requests that start from then on use the new generation (origins and their groups,
    // cache key and freshness rules, origin timeouts and limits, the admin token, TLS
    // certificates); requests under way finish on theirs; no connection is touched and the
    // cache stays. What only a restart can change is named and kept. A config that fails to
    // load changes nothing.
    // Client-side limits and timeouts of new connections (a reload replaces them).
    auto limits_for = [&config](const http::SessionLimits& from, std::string_view scheme) {
        http::SessionLimits l = from;
        l.scheme = scheme;
        l.h2c = config.session.h2c;  // a listener's protocol: fixed at start-up
        l.http2.address_resets = config.session.http2.address_resets;
        return std::make_shared<const http::SessionLimits>(l);
    };
    std::atomic<std::shared_ptr<const http::SessionLimits>> plain_limits{
        limits_for(config.session, "http")};
    std::atomic<std::shared_ptr<const http::SessionLimits>> tls_limits{
        limits_for(config.session, "https")};
    asio::signal_set hup(pool.at(0), SIGHUP);
    auto reload = [&] {
        EdgeConfig fresh;
        std::shared_ptr<const http::TlsContextSet> fresh_tls;
        try {
            fresh = build_config(f);
            if (config.tls && fresh.tls) fresh_tls = http::TlsContextSet::load(*fresh.tls);
        } catch (const std::exception& e) {
            reloads_failed.inc();
            log_error("edge {}: reload failed, keeping the running config: {}", config.name,
                      e.what());
            return;
        }
        for (const std::string& field : restart_only_changes(config, fresh))
            log_warn("edge {}: reload: {} changed; it needs a restart, the running value stays",
                     config.name, field);
        if (fresh_tls) tls_contexts.store(fresh_tls);
        admin_handler.set_purge_token(fresh.admin_purge_token);
        plain_limits.store(limits_for(fresh.session, "http"));
        tls_limits.store(limits_for(fresh.session, "https"));
        generation = make_generation(std::move(fresh), generation.get());
        published.store(generation);
        start_health_checks(*generation);
        for (std::size_t i = 0; i < pool.size(); ++i)
            asio::post(pool.at(i),
                       [h = handlers[i].get(), gen = generation] { h->set_generation(gen); });
        reloads_ok.inc();
        std::size_t servers = 0;
        for (const OriginGroup& g : generation->config.origins)
            servers += g.servers.size();
        log_info("edge {}: reloaded {} (generation {}): {} origin group(s) with {} server(s)",
                 config.name, f.config_file.empty() ? "flags" : f.config_file, generation->number,
                 generation->config.origins.size(), servers);
        if (fresh_tls)
            log_info("edge {}: tls: reloaded {} certificate(s)", config.name, fresh_tls->size());
    };
    std::function<void()> wait_for_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            reload();
            wait_for_hup();
        });
    };
    wait_for_hup();

    std::vector<std::unique_ptr<Listener>> listeners;
    std::unique_ptr<Listener> admin_listener;
    try {
        for (const auto& ep : config.listen) {
            listeners.push_back(std::make_unique<Listener>(
                pool, ep,
                [&](tcp::socket s) {
                    const std::size_t w = worker_of(s);
                    return serve_plain(std::move(s), *handlers[w], plain_limits.load(), &observer,
                                       drains[w]);
                },
                0, config.reuse_port));
            log_info("edge {}: http on {}", config.name,
                     to_string(listeners.back()->local_endpoint()));
        }
        if (config.tls) {
            const auto set = tls_contexts.load();
            for (std::size_t i = 0; i < set->size(); ++i)
                log_info("edge {}: tls certificate {} ({}): {}", config.name,
                         config.tls->certificates[i].cert.string(), i == 0 ? "default" : "by SNI",
                         fmt::join(set->hosts(i), " "));
            for (const auto& ep : config.tls->listen) {
                listeners.push_back(std::make_unique<Listener>(
                    pool, ep,
                    [&](tcp::socket s) {
                        const std::size_t w = worker_of(s);
                        return serve_tls(std::move(s), tls_contexts.load(), *handlers[w],
                                         tls_limits.load(), &observer, &*tls_metrics, drains[w]);
                    },
                    0, config.reuse_port));
                log_info("edge {}: https on {}", config.name,
                         to_string(listeners.back()->local_endpoint()));
            }
        }
        if (config.admin) {
            // Open until the very end, so a drain shows as 503 on /healthz, not a refusal.
            admin_listener = std::make_unique<Listener>(
                pool, *config.admin,
                [&](tcp::socket s) {
                    return http::serve_http1(std::move(s), admin_handler, config.session, nullptr);
                },
                1, config.reuse_port);
            const tcp::endpoint admin_ep = admin_listener->local_endpoint();
            log_info("edge {}: admin on {} (POST /purge {})", config.name, to_string(admin_ep),
                     config.admin_purge_token.empty() ? "off: no [admin] purge_token"
                                                      : "with its bearer token");
            if (!config.admin_purge_token.empty() && !admin_ep.address().is_loopback())
                log_warn(
                    "edge {}: the admin port {} is not on loopback: its purge token crosses the "
                    "network in cleartext",
                    config.name, to_string(admin_ep));
        }
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "edge: %s\n", e.what());
        return 1;
    }

    // Purge delivery. With a persistent cache, the disk is not read until the stream has caught
    // up: it may hold objects that purges sent while this edge was down have invalidated.
    // This process's nonce in the fleet registry; the purge stream presents it too.
    const std::string instance = registration::random_instance();
    std::shared_ptr<proxy::PurgeSubscriber> subscriber;
    if (config.purge) {
        if (tiered) tiered->set_disk_reads(false);
        for (const std::string& api : config.purge->api)
            if (purge_api_in_cleartext(api))
                log_warn(
                    "edge {}: purge api {} is plain http to a host that is not loopback: the "
                    "edge token crosses the network in cleartext; use https:// (purge_api [tls])",
                    config.name, api);
        proxy::PurgeSubscription sub{
            purge_apis(*config.purge),
            config.purge->edge_id.empty() ? config.name : config.purge->edge_id,
            config.purge->token, config.purge->idle_timeout, instance};
        subscriber = std::make_shared<proxy::PurgeSubscriber>(
            pool.at(0).get_executor(), std::move(sub), purger, disk.get(), [&tiered] {
                if (tiered && !tiered->disk_reads()) {
                    tiered->set_disk_reads(true);
                    log_info("disk tier: serving from disk (purges caught up)");
                }
            });
        // With registration, the stream starts after the first registration attempt (below).
        if (!config.registers()) subscriber->start();
        registry.gauge_fn("cdn_edge_purge_stream_connected", "1 while the purge stream is open.",
                          [&subscriber] { return subscriber->connected() ? 1.0 : 0.0; });
        registry.counter_fn(
            "cdn_edge_purge_stream_switches_total",
            "Moves of the purge stream from one purge_api instance to the next ([purge] api).",
            [&subscriber] { return static_cast<double>(subscriber->switches()); });
        registry.counter_fn("cdn_edge_purge_resets_total",
                            "Resets from purge_api: the log was compacted past this edge's "
                            "position, so everything cached before then counted as purged.",
                            [&subscriber] { return static_cast<double>(subscriber->resets()); });
        for (std::size_t i = 0; i < subscriber->apis().size(); ++i)
            registry.gauge_fn(
                "cdn_edge_purge_stream_api",
                "1 for the purge_api instance the purge stream is open to, 0 for the others.",
                [&subscriber, i] { return subscriber->streaming_from(i) ? 1.0 : 0.0; },
                fmt::format("url=\"{}\"", label_value(subscriber->apis()[i].name())));
        for (const auto& [kind, label] :
             {std::pair{proxy::PurgeFailure::connect, R"(reason="connect")"},
              std::pair{proxy::PurgeFailure::tls, R"(reason="tls")"},
              std::pair{proxy::PurgeFailure::status, R"(reason="status")"}})
            registry.counter_fn(
                "cdn_edge_purge_stream_failures_total",
                "Failed attempts to reach purge_api (stream or ack): no connection, TLS "
                "handshake, an answer other than 200.",
                [&subscriber, kind = kind] {
                    return static_cast<double>(subscriber->failures(kind));
                },
                label);
    }

    // Self-registration in purge_api's fleet registry ([fleet]), once the listeners are up (their
    // bound ports are what it registers). The purge stream starts after the first attempt, so a
    // restarted edge taking its id over is not refused its stream meanwhile.
    std::shared_ptr<proxy::Registrar> registrar;
    if (config.registers()) {
        std::optional<tcp::endpoint> client_ep, admin_ep;
        bool client_tls = false;
        if (!listeners.empty()) {
            client_ep = listeners.front()->local_endpoint();
            client_tls = config.listen.empty();  // only TLS listeners
        }
        if (admin_listener) admin_ep = admin_listener->local_endpoint();
        proxy::RegistrarSettings rs{
            purge_apis(*config.purge), config.purge->token,
            make_registration(config,
                              config.purge->edge_id.empty() ? config.name : config.purge->edge_id,
                              instance, client_ep, client_tls, admin_ep)};
        if (rs.reg.ipv4.empty() && rs.reg.ipv6.empty())
            log_warn(
                "edge {}: registering without an address (the listen address is a wildcard): "
                "geodns cannot hand this edge out; set [fleet] advertise_ipv4 / advertise_ipv6",
                config.name);
        registrar = std::make_shared<proxy::Registrar>(pool.at(0).get_executor(), std::move(rs),
                                                       [&subscriber] {
                                                           if (subscriber) subscriber->start();
                                                       });
        registrar->start();
        registry.gauge_fn("cdn_edge_registered",
                          "1 while this edge holds a lease in purge_api's fleet registry.",
                          [&registrar] { return registrar->registered() ? 1.0 : 0.0; });
    }

    // SIGUSR1 (logrotate's postrotate): the access log file is opened again at its path.
    asio::signal_set usr1(pool.at(0), SIGUSR1);
    std::function<void()> wait_for_usr1 = [&] {
        usr1.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            if (access_log) access_log->writer().reopen();
            wait_for_usr1();
        });
    };
    wait_for_usr1();

    // Now and then, retire purge rules no cached object can match any more (a walk over the
    // index: cheap next to the 30 s between walks).
    asio::steady_timer retire_timer(pool.at(0).get_executor());
    std::function<void()> schedule_retire = [&] {
        retire_timer.expires_after(std::chrono::seconds(30));
        retire_timer.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            if (!purge_rules.empty()) purger.retire();
            schedule_retire();
        });
    };
    schedule_retire();

    // SIGTERM or SIGINT: stop accepting, tell every connection to finish (HTTP/1.1 closes idle
    // keep-alive connections and answers requests in flight with "Connection: close", HTTP/2
    // sends GOAWAY), wait for them up to [timeouts] drain, then stop.
    asio::steady_timer drain_timer(pool.at(0).get_executor());
    std::chrono::steady_clock::time_point drain_deadline;
    bool stopping = false;
    auto stop_all = [&] {
        if (std::exchange(stopping, true)) return;
        drain_timer.cancel();
        if (admin_listener) admin_listener->close();
        retire_timer.cancel();
        hup.cancel();
        usr1.cancel();
        if (subscriber) subscriber->stop();
        if (registrar) registrar->stop();
        pool.stop();
    };
    // The deregistration (DELETE, bounded by 2 s) may outlast the connections.
    std::chrono::steady_clock::time_point deregister_deadline;
    std::function<void()> wait_for_drain = [&] {
        const std::int64_t open = metrics.connections.value();
        if (open <= 0 && registrar && !registrar->finished() &&
            std::chrono::steady_clock::now() < deregister_deadline) {
            drain_timer.expires_after(std::chrono::milliseconds(20));
            drain_timer.async_wait([&](boost::system::error_code ec) {
                if (!ec) wait_for_drain();
            });
            return;
        }
        if (open <= 0) {
            log_info("edge {}: connections drained", config.name);
            return stop_all();
        }
        if (std::chrono::steady_clock::now() >= drain_deadline) {
            log_warn("edge {}: drain timeout, closing {} connection(s) still open", config.name,
                     open);
            return stop_all();
        }
        drain_timer.expires_after(std::chrono::milliseconds(20));
        drain_timer.async_wait([&](boost::system::error_code ec) {
            if (!ec) wait_for_drain();
        });
    };
    pool.on_termination(
        [&](int sig) {
            log_info("edge {}: signal {}, draining {} connection(s) (at most {} ms)", config.name,
                     sig, metrics.connections.value(), plain_limits.load()->drain_timeout.count());
            admin_handler.set_draining();
            if (registrar) {
                registrar->stop();  // deregisters: geodns stops handing this edge out
                deregister_deadline =
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
            }
            for (auto& c : health_checkers)
                c.checker->stop();
            for (auto& l : listeners)
                l->close();
            for (auto& d : drains)
                d->trigger();
            drain_deadline = std::chrono::steady_clock::now() + plain_limits.load()->drain_timeout;
            wait_for_drain();
        },
        [&](int sig) {
            log_warn("edge {}: signal {} again, not waiting for {} connection(s)", config.name, sig,
                     metrics.connections.value());
            stop_all();
        });
    // Last, once signals are handled: "ready" means SIGTERM drains and SIGHUP reloads.
    log_info("edge {}: ready: {} worker(s), memory cache {}, {} origin group(s)", config.name,
             pool.size(), format_size(config.memory_bytes), config.origins.size());
    pool.run();
    std::fflush(stdout);
    log_info("edge {}: stopped", config.name);
    return 0;
}
