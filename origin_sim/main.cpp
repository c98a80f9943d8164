// origin_sim: a configurable HTTP/1.1 origin for CDN tests. Flags, config, wiring; the behaviour
// lives in the cdn_origin_sim library.
#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/runtime.hpp"
#include "origin_sim/config.hpp"
#include "origin_sim/server.hpp"

#include <openssl/ssl.h>
#include <CLI/CLI.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>

int main(int argc, char** argv) {
    using namespace cdn;
    CLI::App app{"origin_sim: a configurable HTTP/1.1 origin server for CDN tests"};
    std::string listen;
    std::string config_file;
    std::size_t threads = 1;
    std::string name;
    bool verbose = false;
    std::string tls_listen;
    std::string tls_cert;
    std::string tls_key;
    app.add_option("--listen", listen, "address:port to listen on (port 0: any free port)")
        ->required();
    app.add_option("--config", config_file, "TOML file with [defaults] and [[object]] tables");
    app.add_option("--threads", threads, "worker threads (0: one per core)")
        ->check(CLI::Range(0, 256));
    app.add_option("--name", name, "name sent as X-Origin-Name on every response");
    app.add_flag("-v,--verbose", verbose, "log every request (debug level)");
    app.add_option("--tls-listen", tls_listen,
                   "also serve HTTPS on address:port (port 0: any free port); needs --tls-cert "
                   "and --tls-key");
    app.add_option("--tls-cert", tls_cert, "PEM certificate chain for --tls-listen");
    app.add_option("--tls-key", tls_key, "PEM private key for --tls-listen");
    app.set_version_flag("--version", version_line("origin_sim"),
                         "Print the version, git revision and build type, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (verbose) set_log_level(LogLevel::debug);

    const auto ep = parse_endpoint(listen);
    if (!ep) {
        std::fprintf(stderr, "--listen %s: expected ADDRESS:PORT, e.g. 127.0.0.1:9000\n",
                     listen.c_str());
        return 2;
    }
    std::optional<tcp::endpoint> tls_ep;
    std::shared_ptr<asio::ssl::context> tls_ctx;
    if (!tls_listen.empty() || !tls_cert.empty() || !tls_key.empty()) {
        auto t = parse_endpoint(tls_listen);
        if (!t || tls_cert.empty() || tls_key.empty()) {
            std::fprintf(stderr,
                         "--tls-listen ADDRESS:PORT, --tls-cert FILE and --tls-key FILE go "
                         "together\n");
            return 2;
        }
        tls_ep = *t;
        tls_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
        SSL_CTX_set_min_proto_version(tls_ctx->native_handle(), TLS1_2_VERSION);
        try {
            tls_ctx->use_certificate_chain_file(tls_cert);
            tls_ctx->use_private_key_file(tls_key, asio::ssl::context::pem);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "--tls-cert %s / --tls-key %s: %s\n", tls_cert.c_str(),
                         tls_key.c_str(), e.what());
            return 2;
        }
    }
    auto config = std::make_shared<origin_sim::SimConfig>();
    if (!config_file.empty()) {
        try {
            *config = origin_sim::load_config(config_file);
        } catch (const ConfigError& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
    }

    try {
        origin_sim::Server server(config, SystemClock::instance(), name);
        WorkerPool pool(threads);
        Listener listener(pool, *ep, server.connection_handler());
        std::optional<Listener> tls_listener;
        if (tls_ep) tls_listener.emplace(pool, *tls_ep, server.tls_connection_handler(tls_ctx));
        pool.on_termination([&](int sig) {
            log_info("origin_sim: signal {}, stopping", sig);
            listener.close();
            if (tls_listener) tls_listener->close();
            pool.stop();
        });
        log_info("origin_sim{}{}: listening on {} ({} thread{}, {} configured object{})",
                 name.empty() ? "" : " ", name, to_string(listener.local_endpoint()), pool.size(),
                 pool.size() == 1 ? "" : "s", config->objects.size(),
                 config->objects.size() == 1 ? "" : "s");
        if (tls_listener)
            log_info("origin_sim{}{}: https on {}", name.empty() ? "" : " ", name,
                     to_string(tls_listener->local_endpoint()));
        pool.run();
    } catch (const std::exception& e) {
        log_error("origin_sim: {}", e.what());
        return 1;
    }
    return 0;
}
