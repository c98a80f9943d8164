// purge_api: the REST control plane of purge. Flags, config, wiring; the behaviour lives in the
// cdn_purge_api library.
#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/process_metrics.hpp"
#include "common/runtime.hpp"
#include "common/tls_server.hpp"
#include "purge_api/api_handler.hpp"
#include "purge_api/api_metrics.hpp"
#include "purge_api/api_server.hpp"
#include "purge_api/config.hpp"
#include "purge_api/edge_registry.hpp"
#include "purge_api/etcd_store.hpp"
#include "purge_api/fleet_registry.hpp"
#include "purge_api/fleet_scraper.hpp"
#include "purge_api/purge_log.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace cdn;
using namespace cdn::purge_api;

namespace {

// How TLS errors name the configuration: "p.toml:7: tls" (then ".cert: FILE: ..."), or "tls".
std::string tls_where(const ApiConfig& c) {
    return c.tls_source.empty() ? std::string("tls") : c.tls_source;
}

void warn_missing_tokens(const ApiConfig& c) {
    if (c.tokens.empty()) log_warn("purge_api: no admin token configured; every purge gets 401");
    if (c.edge_token.empty())
        log_warn("purge_api: no edge token configured; every stream and ack gets 401");
}

}  // namespace

int main(int argc, char** argv) {
    // Until the reload handler is in place (after the store or the database is loaded), a
    // SIGHUP is ignored instead of ending the process with its default action.
    std::signal(SIGHUP, SIG_IGN);
    // A closed stdout or stderr (journald restarting, a log pipe gone) must not kill the daemon
    // at its next log line: writes fail with EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    ApiFlags f;
    bool check = false;
    CLI::App app{
        "purge_api: the REST control plane of purge (durable purge log, edge streams).\n"
        "Quick start: purge_api --data-dir /tmp/purge --token SECRET --edge-token EDGESECRET"};
    app.add_option("--config", f.config_file, "TOML config file; flags below override it")
        ->check(CLI::ExistingFile);
    app.add_option("--listen", f.listen,
                   "Address to serve on (default 127.0.0.1:8090; port 0: any)");
    app.add_option("--data-dir", f.data_dir,
                   "Directory of the purge log (required here or in the file, unless [store] "
                   "backend = \"etcd\")");
    app.add_option("--token", f.tokens, "An admin token valid for every host (repeatable)");
    app.add_option("--edge-token", f.edge_token, "The token edges present on the stream and ack");
    app.add_option("--tls-listen", f.tls_listen,
                   "Address to serve HTTPS on, e.g. 0.0.0.0:8443 (port 0: any); with "
                   "--tls-cert and --tls-key (or [tls])");
    app.add_option("--tls-cert", f.tls_cert, "PEM certificate chain for --tls-listen");
    app.add_option("--tls-key", f.tls_key, "PEM private key for --tls-listen");
    app.add_option("--threads", f.threads, "Worker threads (0 = one per core; default 2)");
    app.add_option("--log-level", f.log_level,
                   "debug, info, warn or error (default: [log] level, else info)")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    std::string log_format;
    app.add_option("--log-format", log_format, "Log (stderr) format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_flag("--check", check,
                 "Load and validate the config, the TLS certificate and key and the data "
                 "directory, print a summary, then exit (0: valid, 2: not, naming the file and "
                 "line)");
    app.set_version_flag("--version", version_line("purge_api"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!log_format.empty()) set_log_format(*parse_log_format(log_format));
    ApiConfig config;
    try {
        config = build_config(f);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "purge_api: %s\n", e.what());
        return 2;
    }
    set_log_level(config.log_level);
    // The certificate is read (and checked) before anything starts: a bad one is a config error.
    std::atomic<std::shared_ptr<asio::ssl::context>> tls_context;
    if (config.tls) {
        try {
            tls_context.store(
                make_tls_server_context(config.tls->cert, config.tls->key, tls_where(config)));
        } catch (const ConfigError& e) {
            std::fprintf(stderr, "purge_api: %s\n", e.what());
            return 2;
        }
    }
    if (check) {
        // The data directory as far as can be told without taking its lock (a running
        // purge_api holds it): a directory we can write, or one we can create.
        if (config.backend == ApiConfig::Backend::file)
            if (auto problem = check_data_dir(config.data_dir)) {
                const std::string where =
                    config.data_dir_source.empty() ? "" : config.data_dir_source + ": ";
                std::fprintf(stderr, "purge_api: %s%s\n", where.c_str(), problem->c_str());
                return 2;
            }
        std::printf("purge_api: configuration is valid: %s\n", summary(config).c_str());
        return 0;
    }
    warn_missing_tokens(config);

    try {
        MetricsRegistry registry;
        register_build_info(registry);
        register_process_metrics(registry);
        ApiMetrics metrics(registry);
        const Clock& clock = SystemClock::instance();
        std::unique_ptr<FilePurgeLog> file_log;
        std::unique_ptr<EtcdPurgeStore> etcd;
        if (config.backend == ApiConfig::Backend::etcd) {
            EtcdStoreOptions eo;
            eo.endpoints = config.etcd_endpoints;
            eo.prefix = config.etcd_prefix;
            eo.request_timeout = config.store_timeout;
            eo.keep = config.log_keep;
            eo.idempotency_ttl = config.idempotency_ttl;
            eo.compact_every = config.compact_every;
            etcd = std::make_unique<EtcdPurgeStore>(std::move(eo), clock);
            log_info("purge_api: etcd store {} prefix \"{}\": {} purges, last seq {}",
                     fmt::join(config.etcd_endpoints, ","), config.etcd_prefix, etcd->size(),
                     etcd->last_seq());
        } else {
            file_log = std::make_unique<FilePurgeLog>(PurgeLogOptions{config.data_dir,
                                                                      config.log_keep,
                                                                      &metrics.fsync_seconds,
                                                                      &metrics.batch_size,
                                                                      {}},
                                                      clock);
            const LogRecovery& rec = file_log->recovery();
            log_info("purge_api: log {}: {} purges, last seq {}, compacted through {}{}",
                     file_log->file().string(), rec.records, rec.last_seq, rec.compacted_through,
                     rec.truncated_bytes
                         ? fmt::format(" (cut a torn tail of {} bytes)", rec.truncated_bytes)
                         : std::string());
        }
        PurgeStore& store = etcd ? static_cast<PurgeStore&>(*etcd) : *file_log;
        EdgeRegistry edges(clock, config.known_edges);
        metrics.last_seq.set(static_cast<std::int64_t>(store.last_seq()));
        store.on_appended([&](std::uint64_t last) {
            metrics.last_seq.set(static_cast<std::int64_t>(last));
            edges.wake_all();
        });
        registry.gauge_fn("cdn_purge_api_edges_connected", "Edges with a live stream.",
                          [&edges] { return static_cast<double>(edges.connected()); });
        registry.gauge_fn("cdn_purge_api_edges_known", "Edges configured or ever seen.",
                          [&edges] { return static_cast<double>(edges.edges().size()); });
        if (file_log)
            registry.counter_fn("cdn_purge_api_log_compactions_total", "Rewrites of the purge log.",
                                [&] { return static_cast<double>(file_log->compactions()); });
        if (etcd)
            registry.counter_fn("cdn_purge_api_etcd_conflicts_total",
                                "Appends that lost a txn race to another instance and retried.",
                                [&] { return static_cast<double>(etcd->conflicts()); });
        if (etcd) {
            registry.counter_fn("cdn_purge_api_etcd_trims_total",
                                "Trims of the etcd log to [log] keep done by this instance.",
                                [&] { return static_cast<double>(etcd->trims()); });
            registry.counter_fn("cdn_purge_api_etcd_watch_restarts_total",
                                "Times the etcd watch ended and was opened again.",
                                [&] { return static_cast<double>(etcd->watch_restarts()); });
            registry.gauge_fn("cdn_purge_api_store_healthy",
                              "1 when the store takes writes (etcd reachable, log whole).",
                              [&] { return etcd->healthy() ? 1.0 : 0.0; });
        }
        // The fleet registry, persisted beside the purge log (with the etcd store: in data_dir
        // when one is given, else in memory only; see README "The registry").
        if (etcd && !config.data_dir.empty()) {
            // The file store creates its directory; with etcd only the registry lives there.
            std::error_code ec;
            std::filesystem::create_directories(config.data_dir, ec);
            if (ec)
                throw std::runtime_error(fmt::format("{}: cannot create the directory: {}",
                                                     config.data_dir.string(), ec.message()));
        }
        FleetRegistry fleet(
            clock, FleetRegistryOptions{config.lease_ttl, config.data_dir.empty()
                                                              ? std::filesystem::path{}
                                                              : config.data_dir / "registry.json"});
        if (auto problem = fleet.load()) log_error("purge_api: registry: {}", *problem);
        log_info("purge_api: registry {}: {} edge(s), lease {} ms",
                 fleet.file().empty() ? std::string("in memory") : fleet.file().string(),
                 fleet.size(), config.lease_ttl.count());
        // Several instances on etcd: acks, streams and registrations are shared, so every
        // instance answers the same about every edge.
        store.on_edge_event([&edges, &fleet](const PurgeStore::EdgeEvent& e) {
            switch (e.kind) {
                case PurgeStore::EdgeEvent::Kind::ack: edges.remote_ack(e.edge, e.seq, e.ms); break;
                case PurgeStore::EdgeEvent::Kind::streams:
                    edges.remote_streams(e.edge, e.remote_streams);
                    break;
                case PurgeStore::EdgeEvent::Kind::registration:
                    if (!e.registration) {
                        fleet.merge_removed(e.edge);
                    } else if (auto r = FleetRegistry::decode(*e.registration)) {
                        fleet.merge(*r);
                    } else {
                        log_warn("registry: the shared entry of {} does not parse; ignored",
                                 e.edge);
                    }
                    break;
            }
        });
        edges.set_publisher(EdgeRegistry::Publisher{
            [&store](const std::string& edge, std::uint64_t seq, std::int64_t ms) {
                store.publish_ack(edge, seq, ms);
            },
            [&store](const std::string& edge, bool live) { store.publish_stream(edge, live); }});
        fleet.set_replica(FleetRegistry::Replica{
            [&store, &fleet](const RegisteredEdge& e) {
                store.publish_registration(e.reg.id, fleet.encode(e));
            },
            [&store](const std::string& id) { store.publish_registration(id, std::nullopt); }});
        registry.gauge_fn("cdn_purge_api_registry_edges", "Edges with a live registration.",
                          [&fleet] { return static_cast<double>(fleet.size()); });
        for (const auto& [label, fn] :
             {std::pair{R"(event="register")", &FleetRegistry::registers},
              std::pair{R"(event="renew")", &FleetRegistry::renews},
              std::pair{R"(event="expire")", &FleetRegistry::expires},
              std::pair{R"(event="deregister")", &FleetRegistry::deregisters},
              std::pair{R"(event="refused")", &FleetRegistry::refused}})
            registry.counter_fn(
                "cdn_purge_api_registry_events_total",
                "Registry events: registrations (new, changed, taken over), renewals, lapsed "
                "leases, deregistrations, refusals of a held id.",
                [&fleet, fn = fn] { return static_cast<double>((fleet.*fn)()); }, label);
        // Every registered edge's admin /metrics, read in the background for GET /v1/fleet and
        // the dashboard (started below, on worker 0).
        FleetScraper scraper(fleet, clock);
        for (const auto& [label, fn] :
             {std::pair{R"(result="ok")", &FleetScraper::scrapes_ok},
              std::pair{R"(result="failed")", &FleetScraper::scrapes_failed}})
            registry.counter_fn(
                "cdn_purge_api_fleet_scrapes_total",
                "Reads of registered edges' admin /metrics for GET /v1/fleet, by result.",
                [&scraper, fn = fn] { return static_cast<double>((scraper.*fn)()); }, label);
        LiveSettings live(config);
        ApiHandler handler(live, store, edges, registry, metrics, &fleet, &scraper);
        ApiServer server(live, store, edges, handler, metrics, clock);

        // Declared last: destroyed first, so no coroutine outlives what it refers to.
        WorkerPool pool(config.threads);
        std::optional<Listener> listener;
        std::optional<Listener> tls_listener;
        if (config.tls) {
            tls_listener.emplace(pool, config.tls->listen,
                                 server.tls_connection_handler(tls_context));
            log_info("purge_api: https on {} (certificate {})",
                     cdn::to_string(tls_listener->local_endpoint()), config.tls->cert.string());
        }
        if (config.http) listener.emplace(pool, config.listen, server.connection_handler());
        // SIGHUP re-reads the config file (and the flags still override it) and the TLS
        // certificate. What can change live (tokens, edges, limits, timeouts, log level, the
        // certificate) applies to requests read from then on; what cannot (listeners, data dir,
        // store, threads) is kept and logged as needing a restart. A file or certificate that
        // does not load changes nothing. Always handled: SIGHUP never ends purge_api.
        auto reload = [&] {
            const std::string what =
                f.config_file.empty() ? std::string("the flags") : f.config_file;
            ApiConfig next;
            try {
                next = build_config(f);
            } catch (const std::exception& e) {
                metrics.reloads_failed.inc();
                log_error("purge_api: reload failed, keeping the running configuration: {}",
                          e.what());
                return;
            }
            const SettingsPtr running = live.current();
            const std::vector<std::string> restart = keep_restart_only(running->config, next);
            if (next.tls) {
                try {
                    tls_context.store(
                        make_tls_server_context(next.tls->cert, next.tls->key, tls_where(next)));
                    log_info("purge_api: tls: reloaded {}", next.tls->cert.string());
                } catch (const std::exception& e) {
                    metrics.reloads_failed.inc();
                    log_error(
                        "purge_api: tls: reload failed, keeping the current certificate and "
                        "configuration: {}",
                        e.what());
                    return;
                }
            }
            set_log_level(next.log_level);
            edges.set_known(next.known_edges);
            warn_missing_tokens(next);
            log_info("purge_api: reloaded {}: {}", what, summary(next));
            if (!restart.empty())
                log_warn(
                    "purge_api: reload: {} changed, which needs a restart; still running "
                    "with the old value{}",
                    fmt::join(restart, ", "), restart.size() == 1 ? "" : "s");
            live.publish(std::move(next));
            metrics.reloads_ok.inc();
        };
        asio::signal_set hup(pool.at(0), SIGHUP);
        std::function<void()> wait_for_hup = [&] {
            hup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                reload();
                wait_for_hup();
            });
        };
        wait_for_hup();
        // Lapsed leases go within a tenth of the lease (at most a second) even when nobody
        // reads: the long polls of GET /v1/registry (geodns) see them at once.
        asio::steady_timer sweep_timer(pool.at(0));
        const auto sweep_every = std::clamp(config.lease_ttl / 10, std::chrono::milliseconds(50),
                                            std::chrono::milliseconds(1000));
        std::function<void()> schedule_sweep = [&] {
            sweep_timer.expires_after(sweep_every);
            sweep_timer.async_wait([&](const boost::system::error_code& ec) {
                if (ec) return;
                fleet.sweep();
                schedule_sweep();
            });
        };
        schedule_sweep();
        scraper.start(pool.at(0).get_executor());
        pool.on_termination([&](int sig) {
            log_info("purge_api: signal {}, stopping", sig);
            sweep_timer.cancel();
            scraper.stop();
            if (listener) listener->close();
            if (tls_listener) tls_listener->close();
            hup.cancel();
            pool.stop();
        });
        if (listener) {
            log_info("purge_api: http on {} ({} thread{}, {} token{}, {} known edge{})",
                     cdn::to_string(listener->local_endpoint()), pool.size(),
                     pool.size() == 1 ? "" : "s", config.tokens.size(),
                     config.tokens.size() == 1 ? "" : "s", config.known_edges.size(),
                     config.known_edges.size() == 1 ? "" : "s");
            if (cleartext_exposed(config))
                log_warn(
                    "purge_api: plain http on {} is not loopback: admin and edge tokens are "
                    "accepted there in cleartext; configure [tls] and keep plain http on "
                    "127.0.0.1 (see purge_api/README.md)",
                    cdn::to_string(listener->local_endpoint()));
        } else {
            log_info("purge_api: no plain http listener ({} thread{}, {} token{}, {} known edge{})",
                     pool.size(), pool.size() == 1 ? "" : "s", config.tokens.size(),
                     config.tokens.size() == 1 ? "" : "s", config.known_edges.size(),
                     config.known_edges.size() == 1 ? "" : "s");
        }
        pool.run();
        // Finish queued appends while the io_contexts still exist (their replies are dropped).
        if (file_log) file_log->close();
        if (etcd) etcd->close();
    } catch (const std::exception& e) {
        log_error("purge_api: {}", e.what());
        return 1;
    }
    return 0;
}
