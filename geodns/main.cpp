// geodns: the authoritative DNS responder that answers each user with the nearest healthy edge.
// Flags, config, wiring and reload; the behaviour lives in the cdn_geodns libraries.
#include "common/build_info.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/process_metrics.hpp"
#include "common/runtime.hpp"
#include "geodns/config.hpp"
#include "geodns/health/edge_health.hpp"
#include "geodns/registry/fleet_merge.hpp"
#include "geodns/registry/registry_watcher.hpp"
#include "geodns/served.hpp"
#include "geodns/server/admin.hpp"
#include "geodns/server/dns_server.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <boost/asio/signal_set.hpp>

#include <csignal>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace cdn;
using namespace cdn::geodns;

namespace {

struct Flags {
    std::string config_file;
    std::vector<std::string> dns;
    std::string admin;
    int threads = -1;
    std::string log_level;  // empty: the file's [log] level
    bool check = false;
};

// The config file with the flags applied over it (at start-up and on every reload).
GeodnsConfig build(const Flags& f) {
    GeodnsConfig c = load_config(f.config_file);
    if (!f.log_level.empty()) c.log_level = parse_log_level(f.log_level);
    if (!f.dns.empty()) {
        c.dns.clear();
        for (const auto& d : f.dns) {
            auto ep = parse_endpoint(d);
            if (!ep) throw ConfigError("--dns: \"" + d + "\" is not an address like 127.0.0.1:53");
            c.dns.push_back(*ep);
        }
    }
    if (!f.admin.empty()) {
        auto ep = parse_endpoint(f.admin);
        if (!ep)
            throw ConfigError("--admin: \"" + f.admin + "\" is not an address like 127.0.0.1:9153");
        c.admin = *ep;
    }
    if (f.threads >= 0) c.threads = static_cast<std::size_t>(f.threads);
    return c;
}

DnsLimits limits_of(const GeodnsConfig& c) {
    DnsLimits l;
    l.max_udp_payload = c.max_udp_payload;
    l.udp_coalesce = c.udp_coalesce;
    l.tcp_idle_timeout = c.tcp_idle_timeout;
    l.tcp_busy_idle_timeout = c.tcp_busy_idle_timeout;
    l.tcp_max_queries = c.tcp_max_queries;
    l.tcp_max_connections = c.tcp_max_connections;
    l.tcp_max_connections_per_client = c.tcp_max_connections_per_client;
    l.rrl = c.rrl;
    return l;
}

void log_rrl(const RrlOptions& rrl) {
    if (rrl.enabled)
        log_info(
            "geodns: response rate limiting: {}/s per /{} or /{} and answer, burst {}, slip {}",
            rrl.responses_per_second, rrl.ipv4_prefix, rrl.ipv6_prefix, rrl.burst, rrl.slip);
    else
        log_warn("geodns: response rate limiting is off ([rrl] enabled = false)");
}

// Stops the health checks when it goes out of scope: declared after the WorkerPool, so the checks
// end while their io_context still exists.
struct StopChecks {
    EdgeHealth& health;
    ~StopChecks() { health.stop(); }
};

}  // namespace

int main(int argc, char** argv) {
    // Until the reload handler is in place (after the store or the database is loaded), a
    // SIGHUP is ignored instead of ending the process with its default action.
    std::signal(SIGHUP, SIG_IGN);
    // A closed stdout or stderr (journald restarting, a log pipe gone) must not kill the daemon
    // at its next log line: writes fail with EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    Flags f;
    CLI::App app{
        "geodns: authoritative DNS that answers each user with the nearest healthy edge.\n"
        "Quick start: geodns --config infra/configs/geodns.example.toml --dns 127.0.0.1:5353"};
    app.add_option("--config", f.config_file, "TOML config file (zones, edges, geo, health)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--dns", f.dns,
                   "Address to serve DNS on, UDP and TCP (repeatable; port 0: any)");
    app.add_option("--admin", f.admin, "Admin address for /metrics, /healthz, /v1/edges");
    app.add_option("--threads", f.threads, "Worker threads (0 = one per core)");
    app.add_option("--log-level", f.log_level,
                   "debug, info, warn or error (default: [log] level, else info)")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    std::string log_format;
    app.add_option("--log-format", log_format, "Log (stderr) format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_flag("--check", f.check, "Load and validate the config and database, then exit");
    app.set_version_flag("--version", version_line("geodns"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!f.log_level.empty()) set_log_level(parse_log_level(f.log_level));
    if (!log_format.empty()) set_log_format(*parse_log_format(log_format));

    GeodnsConfig config;
    MetricsRegistry registry;
    register_build_info(registry);
    register_process_metrics(registry);
    std::unique_ptr<ServedBuilder> builder;
    std::unique_ptr<EdgeHealth> health;
    std::shared_ptr<const Served> first;
    ServedBuilder::Geo current_geo;  // what the generation in force was built with
    try {
        config = build(f);
        set_log_level(config.log_level);
        auto geo = ServedBuilder::open_geo(config);  // ConfigError naming the file and line
        current_geo = geo;
        builder = std::make_unique<ServedBuilder>(registry);
        health = std::make_unique<EdgeHealth>(registry);
        first = builder->build(config, std::move(geo),
                               health->update(config.fleet, config.health, config.health_checks, {},
                                              config.observers));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "geodns: %s\n", e.what());
        return 2;
    }
    if (f.check) {
        std::printf("geodns: %s is valid: %zu zones, %zu edges in %zu regions\n",
                    f.config_file.c_str(), config.zones->zones.size(), config.fleet.edges.size(),
                    config.fleet.regions.size());
        return 0;
    }

    try {
        ServedState served(first);
        first.reset();
        DnsMetrics metrics(registry);
        Counter& reloads =
            registry.counter("cdn_geodns_reloads_total", "Successful config reloads (SIGHUP).");
        Counter& reload_failures =
            registry.counter("cdn_geodns_reload_failures_total",
                             "Reloads rejected (the running config stays, error logged).");

        // Declared last: destroyed first, so no coroutine outlives what it refers to.
        WorkerPool pool(config.threads);
        StopChecks stop_checks{*health};
        health->start(pool.at(0).get_executor());
        if (!config.health_checks || config.fleet.edges.empty())
            log_warn("geodns: health checks are off; every edge counts as up");
        DnsServerOptions options;
        options.endpoints = config.dns;
        options.reuse_port = config.reuse_port;
        options.udp_blocking = config.udp_blocking;
        options.limits = limits_of(config);
        log_rrl(config.rrl);
        DnsServer server(pool, options, served, metrics);
        for (const tcp::endpoint& ep : server.start())
            log_info("geodns: dns on {} (udp+tcp)", to_string(ep));
        std::unique_ptr<Listener> admin;
        if (config.admin) {
            // On worker 0, like the reloads that register and remove metrics.
            admin = std::make_unique<Listener>(pool, *config.admin,
                                               admin_handler(registry, served, health.get()), 1);
            log_info("geodns: admin on {}", to_string(admin->local_endpoint()));
        }
        log_info("geodns: serving {} zones, {} edges in {} regions", config.zones->zones.size(),
                 config.fleet.edges.size(), config.fleet.regions.size());

        // The fleet served = the static [[edges]] + what the registry lists ([registry]). A new
        // listing (or a reload) publishes a new generation the way SIGHUP does: edges that stay
        // keep their health cells, registered newcomers start up (their checks take them down),
        // lapsed ones go. Runs on worker 0, like the reload.
        std::optional<registration::RegistryListing> listing;
        std::size_t registered_edges = 0;
        auto publish_fleet = [&](const GeodnsConfig& c, ServedBuilder::Geo geo) {
            GeodnsConfig merged_config = c;
            std::set<std::string, std::less<>> registered;
            if (listing) {
                MergedFleet m = merge_fleet(c.fleet, *listing);
                for (const std::string& why : m.skipped)
                    log_warn("geodns: registry: skipping {}", why);
                merged_config.fleet = std::move(m.fleet);
                registered = std::move(m.registered);
            }
            auto table =
                health->update(merged_config.fleet, merged_config.health,
                               merged_config.health_checks, registered, merged_config.observers);
            served.publish(builder->build(merged_config, std::move(geo), std::move(table)));
            registered_edges = registered.size();
            return merged_config.fleet.edges.size();
        };
        std::shared_ptr<RegistryWatcher> watcher;
        if (config.registry) {
            watcher = std::make_shared<RegistryWatcher>(
                pool.at(0).get_executor(), *config.registry,
                [&](const registration::RegistryListing& l) {
                    listing = l;
                    try {
                        const std::size_t n = publish_fleet(config, current_geo);
                        log_info("geodns: registry version {}: serving {} edges ({} registered)",
                                 l.version, n, registered_edges);
                    } catch (const std::exception& e) {
                        log_error("geodns: registry version {} not applied: {}", l.version,
                                  e.what());
                    }
                });
            registry.gauge_fn(
                "cdn_geodns_registry_edges",
                "Edges in the served fleet that came from the registry.",
                [&registered_edges] { return static_cast<double>(registered_edges); });
            registry.gauge_fn("cdn_geodns_registry_connected",
                              "1 while the last request to purge_api's registry succeeded.",
                              [&watcher] { return watcher->connected() ? 1.0 : 0.0; });
            watcher->start();
            log_info("geodns: learning the fleet from the registry at {}", config.registry->url);
        }

        // SIGHUP: re-read the file and the database and apply everything that can change live
        // (zones, fleet and health checks, geo, limits, log level). A file or database that does
        // not load keeps the running config; what only a restart applies is logged and kept.
        auto reload = [&] {
            GeodnsConfig next;
            ServedBuilder::Geo geo;
            try {
                next = build(f);
                geo = ServedBuilder::open_geo(next);
                for (const std::string& what : restart_needed(config, next))
                    log_warn("geodns: reload: {} needs a restart; keeping the running value", what);
                next.dns = config.dns;
                next.admin = config.admin;
                next.threads = config.threads;
                next.reuse_port = config.reuse_port;
                next.udp_blocking = config.udp_blocking;
                next.registry = config.registry;
                ServedBuilder::Geo kept = geo;
                publish_fleet(next, std::move(geo));
                current_geo = std::move(kept);
            } catch (const std::exception& e) {
                reload_failures.inc();
                log_error("geodns: reload failed, keeping the running config: {}", e.what());
                return;
            }
            server.set_limits(limits_of(next));
            if (!(next.rrl == config.rrl)) log_rrl(next.rrl);
            std::size_t names = 0;
            for (const Zone& z : next.zones->zones)
                names += z.nodes.size();
            log_info("geodns: reloaded {}: {} zones, {} names, {} edges in {} regions",
                     f.config_file, next.zones->zones.size(), names, next.fleet.edges.size(),
                     next.fleet.regions.size());
            set_log_level(next.log_level);  // after the line above: "warn" would hide it
            if (next.health_checks != config.health_checks && !next.health_checks)
                log_warn("geodns: health checks are off; every edge counts as up");
            config = std::move(next);
            reloads.inc();
        };
        asio::signal_set hup(pool.at(0), SIGHUP);
        std::function<void()> wait_hup = [&] {
            hup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                reload();
                wait_hup();
            });
        };
        wait_hup();
        pool.on_termination([&](int sig) {
            log_info("geodns: signal {}, stopping", sig);
            boost::system::error_code ignored;
            hup.cancel(ignored);
            if (watcher) watcher->stop();
            health->stop();
            server.stop();
            if (admin) admin->close();
            pool.stop();
        });
        pool.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "geodns: %s\n", e.what());
        return 1;
    }
    return 0;
}
