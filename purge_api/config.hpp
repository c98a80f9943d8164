#pragma once
// purge_api's configuration: parsed from TOML and flags at start-up and again on SIGHUP; each
// ApiConfig is read-only once built and safe to share between threads (live_settings.hpp swaps
// whole ones). Loading throws cdn::ConfigError naming file:line: field. Relative paths in the
// file (data_dir, tls cert and key) are relative to the file's directory.
//
//   [server]  listen = "127.0.0.1:8090" ("" = no plain listener), data_dir = "/var/lib/cdn/purge",
//             threads = 2, allow_cleartext = false
//   [tls]     listen = "0.0.0.0:8443", cert = "purge.pem", key = "purge.key"
//   [[token]] name = "ops", value = "...", hosts = ["example.com"]   (no hosts: every host)
//   [edges]   token = "...", known = ["edge-1", "edge-2"]
//   [limits]  max_body = "1MiB", max_items = 1000, max_value_length = 4096
//   [log]     keep = 100000, level = "info"
//   [stream]  heartbeat = "1s", write_timeout = "5s"
//   [store]   backend = "file" | "etcd", etcd_endpoints = ["http://127.0.0.1:2379"],
//             etcd_prefix = "/cdn/purge/", timeout = "1s", idempotency_ttl = "24h",
//             compact_every = "1m"
//   [registry] lease_ttl = "10s"   (edges renew every third of it; fleet_registry.hpp)
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "purge_api/auth.hpp"
#include "purge_api/purge_request.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cdn::purge_api {

// HTTPS: every endpoint (purges, the edge stream, acks) over TLS 1.2+ (common/tls_server.hpp).
struct ApiTlsSettings {
    tcp::endpoint listen;
    std::filesystem::path cert;  // PEM chain, leaf first; relative: to the config file
    std::filesystem::path key;   // PEM private key
};

struct ApiConfig {
    // The plain HTTP listener. Tokens cross it in cleartext, so with [tls] it must be on
    // loopback (for local scripts and scrapers) unless allow_cleartext says otherwise; without
    // [tls] a non-loopback address is allowed but warned about at start-up.
    tcp::endpoint listen{asio::ip::make_address_v4("127.0.0.1"), 8090};
    bool http = true;                   // false: no plain listener ([server] listen = "")
    bool allow_cleartext = false;       // with [tls]: a non-loopback plain listener anyway
    std::optional<ApiTlsSettings> tls;  // off unless [tls] or --tls-listen/--tls-cert/--tls-key
    std::filesystem::path data_dir;     // required (flag or file) with the file backend
    std::size_t threads = 2;

    std::vector<Token> tokens;  // admin tokens (all hosts or host-limited)
    std::string edge_token;     // what edges present on /v1/stream and /v1/edges/<id>/ack
    std::vector<std::string> known_edges;

    std::uint64_t max_body = 1 << 20;
    RequestLimits limits;
    std::size_t log_keep = 100'000;

    enum class Backend { file, etcd };
    Backend backend = Backend::file;
    std::vector<std::string> etcd_endpoints{"http://127.0.0.1:2379"};
    std::string etcd_prefix = "/cdn/purge/";
    // A purge's deadline in the store (and each etcd request's): a stalled store answers 503
    // within it.
    std::chrono::milliseconds store_timeout{1000};
    std::chrono::milliseconds idempotency_ttl{24 * 3600 * 1000};  // etcd store: keys expire
    std::chrono::milliseconds compact_every{60'000};              // etcd store: history compaction

    // The fleet registry: a registration lapses this long after its last renewal ([registry]
    // lease_ttl); edges are told to renew every third of it. Needs a restart to change.
    std::chrono::milliseconds lease_ttl{10'000};

    std::chrono::milliseconds heartbeat{1000};       // ": ping" after this much idleness
    std::chrono::milliseconds write_timeout{5000};   // a stream write stuck longer is cut off
    std::chrono::milliseconds idle_timeout{60'000};  // waiting for a request on a connection

    LogLevel log_level = LogLevel::info;  // [log] level; --log-level overrides it

    // Where the plain listener was configured ("p.toml:3: server.listen", "--listen"; empty for
    // the default) and the config file ("" without one): validate() names them.
    std::string listen_source;
    std::string file;
    // The same for data_dir ("p.toml:4: server.data_dir", "--data-dir") and [tls] ("p.toml:7:
    // tls"; empty from flags): what --check names when the directory or a PEM file is bad.
    std::string data_dir_source;
    std::string tls_source;
};

// The command line. Flags override the file; build_config(flags) is run again, with the same
// flags, on every SIGHUP, so a flag keeps overriding the file after a reload.
struct ApiFlags {
    std::string config_file;
    std::string listen;
    std::string data_dir;
    std::vector<std::string> tokens;  // admin tokens valid for every host, named flag-1, flag-2...
    std::string edge_token;
    std::string tls_listen;
    std::string tls_cert;
    std::string tls_key;
    int threads = -1;       // < 0: from the file
    std::string log_level;  // "": from the file ([log] level), else info
};

// Bounds on values.
inline constexpr std::size_t kMaxItemsLimit = 100'000;
inline constexpr std::size_t kMaxValueLengthLimit = purge::kMaxValueLength;  // what edges accept
inline constexpr std::uint64_t kMaxBodyLimit = 64ull << 20;

ApiConfig parse_config(std::string_view text, const std::string& name);
ApiConfig load_config(const std::string& file);
ApiConfig build_config(const ConfigSection& root);
// The file (if any) with the flags applied, validated: what main runs at start-up, on --check
// and on SIGHUP. Throws ConfigError naming file:line: field, or the flag.
ApiConfig build_config(const ApiFlags& flags);

// Checks what flags and file together must satisfy (data_dir given for the file backend, tokens
// distinct, some listener, no non-loopback plain listener beside [tls] unless allowed...);
// throws ConfigError.
void validate(const ApiConfig& c);

// True when tokens would be accepted in cleartext on a non-loopback address (main warns).
bool cleartext_exposed(const ApiConfig& c);

// For a reload: copies into `next` what cannot change while running (listeners, data_dir,
// threads, log keep, the store) from `running`, and returns the settings that differed (e.g.
// "server.listen"), which need a restart to take effect. Everything else in `next` applies live.
std::vector<std::string> keep_restart_only(const ApiConfig& running, ApiConfig& next);

// What --check reports about the data directory without taking its lock: an error message when
// it (or, if it does not exist yet, its nearest existing parent) is not a writable directory.
std::optional<std::string> check_data_dir(const std::filesystem::path& dir);

// One line: listeners, tokens, edges, store ("http on 127.0.0.1:8090, 2 tokens, ...").
std::string summary(const ApiConfig& c);

}  // namespace cdn::purge_api
