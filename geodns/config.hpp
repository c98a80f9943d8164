#pragma once
// geodns' TOML config (infra/configs/geodns.example.toml): server settings, geography, health
// checks, the fleet of edges and the zones. Loading validates everything a running server would
// trip over later (unknown regions or edges, CNAME next to other data, bad addresses, TTLs out of
// range) and throws ConfigError naming the file, the line and the field.
#include "common/config.hpp"
#include "common/health_checker.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/tls_client.hpp"
#include "geodns/policy/fleet.hpp"
#include "geodns/server/rrl.hpp"
#include "geodns/zone/zone.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cdn::geodns {

struct NetRule {
    std::string cidr;  // "127.21.0.0/16", validated by the steering when it is built
    std::size_t region;
    std::string where;  // "geodns.toml:31: geo.nets[0].cidr", for errors found later
};

struct GeoConfig {
    std::string database;        // empty: no database; relative paths resolved against the file
    std::string where_database;  // "geodns.toml:29: geo.database", for errors opening it
    std::string latitude = "location.latitude";
    std::string longitude = "location.longitude";
    std::string country = "country.iso_code";
    std::string continent = "continent.code";
    std::optional<std::size_t> default_region;  // index into Fleet::regions
    std::vector<NetRule> nets;
};

// [registry]: learn the fleet from purge_api's registry (registry/registry_watcher.hpp).
struct RegistrySettings {
    // purge_api's base URLs, "http://127.0.0.1:8090": one, or several instances that share the
    // registry (the etcd store), used in turn when one fails.
    std::vector<std::string> urls;
    std::vector<Url> apis;
    std::string url;    // the urls joined with ", ", for logs
    std::string token;  // an edge or admin token of purge_api ([registry] token_file or token)
    std::filesystem::path tls_ca;  // https: trusted CAs; empty: the system store
    std::string tls_server_name;   // default: the URL's host
    bool tls_verify = true;
    // Built at load time, one per URL (null for http://).
    std::vector<std::shared_ptr<const TlsClientConfig>> tls;
    std::chrono::milliseconds wait{25'000};  // long-poll wait (at most 30 s)
    bool same_as(const RegistrySettings& o) const {
        return urls == o.urls && token == o.token && tls_ca == o.tls_ca &&
               tls_server_name == o.tls_server_name && tls_verify == o.tls_verify && wait == o.wait;
    }
};

// [health] observer, peers, quorum, stale_after, hold_down: several geodns instances check the
// edges and a quorum of them decides (health/quorum.hpp, geodns/README.md "Several observers").
struct ObserverSettings {
    std::string observer;            // this instance's id; default: the host name
    std::vector<std::string> peers;  // the other observers' admin base URLs, as written
    std::vector<Url> peer_urls;      // parsed (http:// only)
    std::size_t quorum = 1;          // down verdicts that drain an edge; default: a majority
    std::chrono::milliseconds stale_after{6000};  // default: 3 x [health] interval
    std::chrono::milliseconds hold_down{4000};    // default: 2 x [health] interval
    std::size_t observers() const { return peers.size() + 1; }
    bool operator==(const ObserverSettings& o) const {
        return observer == o.observer && peers == o.peers && quorum == o.quorum &&
               stale_after == o.stale_after && hold_down == o.hold_down;
    }
};

struct GeodnsConfig {
    std::vector<tcp::endpoint> dns;  // UDP and TCP on each
    std::optional<tcp::endpoint> admin;
    std::size_t threads = 2;
    // Share the DNS port with another process on purpose (SO_REUSEPORT across processes, for a
    // zero-downtime replacement). Off: an address another process holds is a start-up error.
    bool reuse_port = false;
    bool udp_blocking = true;  // [server] udp_threads: a blocking recvmmsg thread per UDP socket
    // [server] udp_coalesce_us: with udp_threads, how long a thread waits after a partial batch of
    // more than one query before it reads again (0: never).
    std::chrono::microseconds udp_coalesce{0};
    LogLevel log_level = LogLevel::info;
    std::uint16_t max_udp_payload = 1232;
    std::chrono::milliseconds tcp_idle_timeout{10000};
    std::chrono::milliseconds tcp_busy_idle_timeout{1000};  // above 3/4 of the connections
    unsigned tcp_max_queries = 100;
    unsigned tcp_max_connections = 1024;           // per process; more are closed at once
    unsigned tcp_max_connections_per_client = 16;  // per IPv4 address / IPv6 /64
    RrlOptions rrl;                                // [rrl]: UDP response rate limiting

    GeoConfig geo;
    bool health_checks = true;
    HttpCheckSettings health;
    ObserverSettings observers;
    Fleet fleet;  // the static [[edges]]: the base the registry's edges are added to
    std::optional<RegistrySettings> registry;
    std::shared_ptr<const ZoneSet> zones;
};

// Throws ConfigError.
GeodnsConfig load_config(const std::string& file);
GeodnsConfig load_config(const ConfigSection& root);

// What differs between the running config and a reloaded one that only a restart applies
// (listen addresses, threads, reuse_port, udp_threads), one line per setting, e.g. "[server] dns:
// 127.0.0.1:53 -> 127.0.0.1:5353". Empty when the reload applies in full.
std::vector<std::string> restart_needed(const GeodnsConfig& running, const GeodnsConfig& next);

// "WWW.Example.COM." -> "www.example.com"; nullopt when not a valid name (empty label, label over
// 63 bytes, name over 253, or bytes outside printable ASCII).
std::optional<std::string> canonical_name(std::string_view text);

}  // namespace cdn::geodns
