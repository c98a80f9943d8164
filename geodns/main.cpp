// geodns: the authoritative DNS responder that answers each user with the nearest healthy edge.
// Flags, config, wiring and reload; the behaviour lives in the cdn_geodns libraries.
#include "common/build_info.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/runtime.hpp"
#include "geodns/config.hpp"
#include "geodns/health/edge_health.hpp"
#include "geodns/served.hpp"
#include "geodns/server/admin.hpp"
#include "geodns/server/dns_server.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <exception>
#include <memory>
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
    std::string log_level = "info";
    bool check = false;
};

GeodnsConfig build(const Flags& f) {
    GeodnsConfig c = load_config(f.config_file);
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

}  // namespace

int main(int argc, char** argv) {
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
    app.add_option("--log-level", f.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    app.add_flag("--check", f.check, "Load and validate the config and database, then exit");
    app.set_version_flag("--version", version_line("geodns"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    set_log_level(parse_log_level(f.log_level));

    GeodnsConfig config;
    MetricsRegistry registry;
    register_build_info(registry);
    std::unique_ptr<HealthTable> health;
    std::unique_ptr<ServedBuilder> builder;
    std::shared_ptr<const Served> first;
    try {
        config = build(f);
        health = std::make_unique<HealthTable>(config.fleet.edges.size());
        builder = std::make_unique<ServedBuilder>(config.fleet, *health, registry);
        first = builder->build(config);
    } catch (const std::exception& e) {  // ConfigError, or a database that does not open
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
        DnsMetrics metrics(registry);
        registry.counter_fn("cdn_geodns_reloads_total", "Successful config reloads (SIGHUP).",
                            [&] { return static_cast<double>(builder->reloads()); });
        registry.counter_fn("cdn_geodns_reload_failures_total",
                            "Reloads rejected (the old zones stay).",
                            [&] { return static_cast<double>(builder->failures()); });

        // Declared last: destroyed first, so no coroutine outlives what it refers to.
        WorkerPool pool(config.threads);
        std::unique_ptr<EdgeHealth> checks;
        if (config.health_checks && !config.fleet.edges.empty()) {
            checks = std::make_unique<EdgeHealth>(pool.at(0).get_executor(), config.fleet, *health,
                                                  config.health, registry);
            checks->start();
        } else {
            log_warn("geodns: health checks are off; every edge counts as up");
        }
        DnsServerOptions options;
        options.endpoints = config.dns;
        options.max_udp_payload = config.max_udp_payload;
        options.tcp_idle_timeout = config.tcp_idle_timeout;
        options.tcp_busy_idle_timeout = config.tcp_busy_idle_timeout;
        options.tcp_max_queries = config.tcp_max_queries;
        options.tcp_max_connections = config.tcp_max_connections;
        options.tcp_max_connections_per_client = config.tcp_max_connections_per_client;
        options.rrl = config.rrl;
        if (config.rrl.enabled) {
            log_info(
                "geodns: response rate limiting: {}/s per /{} or /{} and answer, burst {}, "
                "slip {}",
                config.rrl.responses_per_second, config.rrl.ipv4_prefix, config.rrl.ipv6_prefix,
                config.rrl.burst, config.rrl.slip);
        } else {
            log_warn("geodns: response rate limiting is off ([rrl] enabled = false)");
        }
        DnsServer server(pool, options, served, metrics);
        for (const tcp::endpoint& ep : server.start())
            log_info("geodns: dns on {} (udp+tcp)", to_string(ep));
        std::unique_ptr<Listener> admin;
        if (config.admin) {
            admin = std::make_unique<Listener>(pool, *config.admin,
                                               admin_handler(registry, config.fleet, *health), 1);
            log_info("geodns: admin on {}", to_string(admin->local_endpoint()));
        }
        log_info("geodns: serving {} zones, {} edges in {} regions", config.zones->zones.size(),
                 config.fleet.edges.size(), config.fleet.regions.size());

        // SIGHUP: reload zones (and the database) from the same file; a bad file keeps the old.
        asio::signal_set hup(pool.at(0), SIGHUP);
        std::function<void()> wait_hup = [&] {
            hup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                if (auto next = builder->reload(f.config_file)) served.publish(std::move(next));
                wait_hup();
            });
        };
        wait_hup();
        pool.on_termination([&](int sig) {
            log_info("geodns: signal {}, stopping", sig);
            boost::system::error_code ignored;
            hup.cancel(ignored);
            if (checks) checks->stop();
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
