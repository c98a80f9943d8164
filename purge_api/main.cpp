// purge_api: the REST control plane of purge. Flags, config, wiring; the behaviour lives in the
// cdn_purge_api library.
#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/runtime.hpp"
#include "common/tls_server.hpp"
#include "purge_api/api_handler.hpp"
#include "purge_api/api_metrics.hpp"
#include "purge_api/api_server.hpp"
#include "purge_api/config.hpp"
#include "purge_api/edge_registry.hpp"
#include "purge_api/etcd_store.hpp"
#include "purge_api/purge_log.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace cdn;
using namespace cdn::purge_api;

namespace {

struct Flags {
    std::string config_file;
    std::string listen;
    std::string data_dir;
    std::vector<std::string> tokens;
    std::string edge_token;
    std::string tls_listen;
    std::string tls_cert;
    std::string tls_key;
    int threads = -1;
    std::string log_level = "info";
};

ApiConfig build(const Flags& f) {
    ApiConfig c = f.config_file.empty() ? ApiConfig{} : load_config(f.config_file);
    if (!f.listen.empty()) {
        auto ep = parse_endpoint(f.listen);
        if (!ep)
            throw ConfigError("--listen: \"" + f.listen +
                              "\" is not an address like 127.0.0.1:8090");
        c.listen = *ep;
    }
    if (!f.data_dir.empty()) c.data_dir = f.data_dir;
    for (std::size_t i = 0; i < f.tokens.size(); ++i) {
        if (f.tokens[i].empty() || f.tokens[i].find_first_of(" \t\r\n") != std::string::npos)
            throw ConfigError("--token: must be non-empty without spaces");
        c.tokens.push_back(Token{"flag-" + std::to_string(i + 1), f.tokens[i], {}});
    }
    if (!f.edge_token.empty()) c.edge_token = f.edge_token;
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
    }
    if (f.threads >= 0) c.threads = static_cast<std::size_t>(f.threads);
    validate(c);
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Flags f;
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
    app.add_option("--log-level", f.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    app.set_version_flag("--version", version_line("purge_api"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    set_log_level(parse_log_level(f.log_level));
    ApiConfig config;
    try {
        config = build(f);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "purge_api: %s\n", e.what());
        return 2;
    }
    if (config.tokens.empty())
        log_warn("purge_api: no admin token configured; every purge gets 401");
    if (config.edge_token.empty())
        log_warn("purge_api: no edge token configured; every stream and ack gets 401");
    // The certificate is read (and checked) before anything starts: a bad one is a config error.
    std::atomic<std::shared_ptr<asio::ssl::context>> tls_context;
    if (config.tls) {
        try {
            tls_context.store(make_tls_server_context(config.tls->cert, config.tls->key, "tls"));
        } catch (const ConfigError& e) {
            std::fprintf(stderr, "purge_api: %s\n", e.what());
            return 2;
        }
    }

    try {
        MetricsRegistry registry;
        register_build_info(registry);
        ApiMetrics metrics(registry);
        const Clock& clock = SystemClock::instance();
        std::unique_ptr<FilePurgeLog> file_log;
        std::unique_ptr<EtcdPurgeStore> etcd;
        if (config.backend == ApiConfig::Backend::etcd) {
            EtcdStoreOptions eo;
            eo.endpoints = config.etcd_endpoints;
            eo.prefix = config.etcd_prefix;
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
        ApiHandler handler(config, store, edges, registry, metrics);
        ApiServer server(config, store, edges, handler, metrics, clock);

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
        // SIGHUP re-reads the certificate: new connections use it, open ones keep theirs; one
        // that fails to load leaves the current one in place. (Without [tls], SIGHUP is ignored
        // rather than ending the process.)
        asio::signal_set hup(pool.at(0), SIGHUP);
        std::function<void()> wait_for_hup = [&] {
            hup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                if (config.tls) {
                    try {
                        tls_context.store(
                            make_tls_server_context(config.tls->cert, config.tls->key, "tls"));
                        log_info("purge_api: tls: reloaded {}", config.tls->cert.string());
                    } catch (const std::exception& e) {
                        log_error(
                            "purge_api: tls: reload failed, keeping the current "
                            "certificate: {}",
                            e.what());
                    }
                }
                wait_for_hup();
            });
        };
        wait_for_hup();
        pool.on_termination([&](int sig) {
            log_info("purge_api: signal {}, stopping", sig);
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
