#pragma once
// The edge's configuration: parsed from TOML (see infra/configs/edge.example.toml) and flags,
// validated once at start-up, then read-only. Errors throw cdn::ConfigError naming file:line.
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/tls_client.hpp"
#include "edge/cache/cache_key.hpp"
#include "edge/cache/content_coding.hpp"
#include "edge/cache/freshness.hpp"
#include "edge/cache/targeted_cache_control.hpp"
#include "edge/http/address_budget.hpp"
#include "edge/http/http1_session.hpp"
#include "edge/http/tls_settings.hpp"
#include "edge/proxy/access_log.hpp"
#include "edge/storage/eviction_policy.hpp"
#include "edge/storage/tiered_store.hpp"
#include "edge/upstream/health_checker.hpp"
#include "edge/upstream/origin_pool.hpp"
#include "edge/upstream/origin_set.hpp"

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cdn::edge {

struct OriginGroup {
    std::vector<std::string> hosts;  // Host values served by this group; "*" = any other
    std::vector<upstream::OriginServer> servers;
    std::string host_header;  // sent to the origin instead of the client's Host, if set
    // Unkeyed override fields (cache::is_unkeyed_override) this group passes to its origin,
    // lower-case; each then selects a variant, as if the origin had named it in Vary.
    std::vector<std::string> pass_headers;
    std::string pass_headers_vary;  // pass_headers joined as a Vary value ("" when none)
    // The client's request Cache-Control no-cache, max-age and min-fresh (which make the edge
    // ask the origin) and max-stale: ignored unless set, as large CDNs do to protect origins.
    // only-if-cached is always honoured; no-store always keeps the response out of the cache.
    bool client_cache_control = false;
    upstream::BalancePolicy balance = upstream::BalancePolicy::round_robin;
    unsigned retries = 1;  // further attempts on another origin, for idempotent requests
    upstream::BreakerSettings breaker;
    std::optional<upstream::HealthCheckSettings> health_check;  // off unless configured
    // TLS to https:// servers. The context (CA store, verification, TLS 1.2+) is built once at
    // load time and shared by the group's servers (each server's OriginServer::tls holds it).
    bool tls_verify = true;        // the chain and the name; off: a warning at start-up
    std::filesystem::path tls_ca;  // trusted CAs (PEM); empty: the system store
    std::string tls_server_name;   // SNI and the name checked; empty: host_header, else URL host
    std::shared_ptr<boost::asio::ssl::context> tls_context;  // null unless a URL is https://
    cache::CompressionPolicy compression;  // [origin.compression]: gzip/brotli variants
    // [origin.slice] size: misses fetch and store large objects in slices of this many bytes
    // (edge/cache/slicing.hpp); 0: off.
    std::uint64_t slice_size = 0;
    // [origin.early_hints]: the edge's own 103 Early Hints, from the preload / preconnect Link
    // fields it saw on the URL's last HTML response (edge/proxy/early_hints.cpp).
    struct EarlyHints {
        bool enabled = false;
        std::size_t max_links = 16;
        std::size_t max_bytes = 4096;
    } early_hints;
};

// A parent group (tiered caching): the edges a miss goes to before the origin. Each key has
// one owner among the healthy members, by weighted rendezvous hashing, and a failover order
// after it, the same on every edge.
struct ParentGroup {
    std::string name = "parents";    // for logs
    std::vector<std::string> hosts;  // Host values whose misses go here; "*" = any other
    std::vector<upstream::OriginServer> servers;  // the parents' client ports
    std::vector<double> weights;                  // per server (HRW share); default 1
    unsigned tries = 2;  // parents asked per request, in the key's order (at most the members)
    // When every parent tried failed: go to the origin (true), or answer with that failure
    // (a 502, or a stale copy when stale-if-error allows).
    bool origin_on_failure = true;
    std::chrono::milliseconds ramp_up{30'000};  // a parent that comes back takes its keys back
    upstream::BreakerSettings breaker{3, std::chrono::milliseconds(5'000)};
    // Set on each server: a parent that does not accept within connect_timeout, or answers
    // no head within response_timeout (default: [timeouts] origin_response), is a failure
    // and the next parent is asked.
    std::chrono::milliseconds connect_timeout{1'000};
    std::optional<std::chrono::milliseconds> response_timeout;
};

// PoP peering: the edges of one PoP share their caches. Each key has one owner among them (HRW);
// a non-owner takes the object from the owner instead of fetching and storing it, so the PoP
// holds one copy and fetches once. A hot key spills to the next peer in its order when the
// owner has more than load_cap times the mean of this edge's requests in flight to the peers
// (consistent hashing with bounded loads).
struct Peering {
    std::vector<upstream::OriginServer> peers;  // the PoP's edges, this one included
    std::optional<std::size_t> self;            // this edge in `peers` (set by find_self_peer)
    std::string self_url;                       // [peering] self: how the peers list this edge
    double load_cap = 1.25;
};

struct EdgeConfig {
    std::string name = "edge";  // in Cache-Status and Via
    std::vector<tcp::endpoint> listen;
    std::optional<tcp::endpoint> admin;
    // The admin port's POST /purge takes this bearer token ([admin] purge_token or
    // purge_token_file, --admin-purge-token-file); empty: the endpoint answers 403.
    std::string admin_purge_token;
    std::size_t threads = 0;  // 0 = one per core
    // [log]: the access log and the error log (stderr).
    struct Log {
        // "stdout", "off" or a file (absolute, or relative to the working directory: a relative
        // path in the config file is made relative to that file when loading). [server]
        // access_log = false (or --no-access-log) is "off".
        std::string access = "stdout";
        proxy::AccessLogFormat access_format = proxy::AccessLogFormat::logfmt;
        std::optional<LogLevel> level;  // unset: --log-level, else info
        LogFormat format = LogFormat::text;
        bool operator==(const Log&) const = default;
    };
    Log log;
    // Share the listen ports with another process ([server] reuse_port, --reuse-port): only for
    // starting a replacement beside a running edge; otherwise a port in use is an error.
    bool reuse_port = false;

    std::uint64_t memory_bytes = 256ull << 20;
    // Response bodies being filled and read by clients, outside the cache ([limits]
    // inflight_body_memory): above it, cacheable responses stream through uncached.
    std::uint64_t inflight_body_bytes = 256ull << 20;
    std::size_t shards = 16;
    storage::PolicyKind cache_policy = storage::PolicyKind::s3fifo_tlfu;  // memory tier eviction
    // The disk tier: off unless [cache.disk] path (or --disk-path) is set.
    std::optional<storage::DiskSettings> disk;
    storage::TierSettings tiers;
    cache::KeyPolicy key;
    cache::FreshnessPolicy freshness;
    // Which response fields set the caching policy (RFC 9213 targeted fields, Surrogate-Control)
    // and whether end clients get them ([cache] targeted_fields, surrogate_control,
    // forward_cdn_fields). A request from another cache (it carries CDN-Loop) always gets them.
    cache::CacheControlSources cc_sources;
    bool forward_cdn_fields = false;
    std::chrono::milliseconds collapse_timeout{10'000};  // a waiter then fetches on its own
    // A cacheable body read into the cache (at the origin's pace, not a client's) must have
    // arrived whole this long after its head ([timeouts] origin_fill); else it is not stored.
    std::chrono::milliseconds origin_fill_timeout{300'000};
    Seconds hit_for_pass{30};  // an uncacheable key skips collapsing for this long

    // Purge delivery from purge_api; off unless [purge] api is set.
    struct Purge {
        // purge_api instances sharing one purge log, 1 to kMaxPurgeApis distinct URLs such as
        // "http://127.0.0.1:8090" or "https://purge.example.com:8443", as configured. The edge
        // uses one at a time and fails over to the next (proxy/purge_subscriber.hpp).
        std::vector<std::string> api;
        std::string token;
        std::string edge_id;  // default: name
        std::chrono::milliseconds idle_timeout{5000};
        // TLS to the https:// apis (like [[origin]]): trusted CAs (PEM; empty: the system store),
        // the name sent as SNI and checked (empty: each URL's own host), verification (off: a
        // warning at start-up). `tls` is built from them at load time (make_purge_tls): one
        // entry per api URL, null for an http:// one. The settings above are what a reload
        // compares; `tls` follows from them.
        std::filesystem::path tls_ca;
        std::string tls_server_name;
        bool tls_verify = true;
        std::vector<std::shared_ptr<const TlsClientConfig>> tls;
        bool any_https() const;
    };
    std::optional<Purge> purge;

    // Self-registration in purge_api's fleet registry ([fleet]; proxy/registrar.hpp): on by
    // default when [purge] is set, through the same api, token and TLS settings.
    struct Fleet {
        std::optional<bool> enabled;  // [fleet] register; unset: on when [purge] api is set
        std::string region;           // a region id geodns knows ("" : none)
        std::optional<double> latitude, longitude;  // both or neither
        // What DNS hands out; default: the first listen address, when it is a specific one.
        std::vector<std::string> advertise_ipv4, advertise_ipv6;
        std::string http_url;   // client-facing base URL; default: http://<first listen address>
        std::string admin_url;  // default: http://<admin address> (geodns checks /healthz there)
        std::string role = "edge";  // or "parent"
        unsigned weight = 1;        // 1..1000
        bool operator==(const Fleet&) const = default;
    };
    Fleet fleet;
    bool registers() const { return purge.has_value() && fleet.enabled.value_or(true); }

    // TLS listeners; off unless [tls] (or --tls-listen with --tls-cert/--tls-key) is set.
    // Certificates are read (and checked) by http::TlsContextSet::load at start-up and reload.
    std::optional<http::TlsSettings> tls;

    http::SessionLimits session;
    // The rapid-reset budget per client address across HTTP/2 connections ([http2]
    // address_reset_*); main builds the shared table and sets session.http2.address_resets.
    // burst 0: off.
    http::AddressResetBudget::Settings address_resets;
    upstream::PoolSettings origin_pool;
    std::vector<OriginGroup> origins;
    // [[parents]]: tiered caching; empty: misses go straight to the origins.
    std::vector<ParentGroup> parents;
    std::optional<Peering> peering;  // [peering]; off unless set
    // A request that already carries this many CDN-Loop entries is refused (508): the cap on
    // hops through caches, ours or others' ([server] max_hops).
    unsigned max_hops = 8;

    // The group for a Host value (already normalised), or nullptr.
    const OriginGroup* origin_for(std::string_view host) const;
    const ParentGroup* parents_for(std::string_view host) const;
    std::size_t index_of(const ParentGroup& g) const {
        return static_cast<std::size_t>(&g - parents.data());
    }
    std::size_t index_of(const OriginGroup& g) const {
        return static_cast<std::size_t>(&g - origins.data());
    }
};

// Reads a TOML config; unspecified values keep their defaults.
EdgeConfig load_edge_config(const ConfigSection& root);
// TLS for an https:// origin server. A null context means the defaults: verification on, the
// system CA store; an empty server_name means the URL's host.
struct OriginTlsParams {
    std::shared_ptr<boost::asio::ssl::context> context;
    std::string server_name;
    bool verify = true;
};
// Resolves an origin URL ("http://127.0.0.1:9000", "https://origin.example") into a server;
// throws ConfigError. https:// servers get `tls` (their OriginServer::tls).
upstream::OriginServer make_origin_server(const std::string& url, const std::string& where,
                                          const OriginTlsParams& tls = {});
// Checks what a config needs before the edge can start; throws ConfigError.
void validate(const EdgeConfig& config);
// Drops from every parent group the servers that are this edge itself (a parent URL on one of
// its listen addresses), so a config shared by a tier does not send requests to itself; logs a
// warning for each. Call once the listen addresses are final.
void drop_self_from_parents(EdgeConfig& config);
// Finds this edge among [peering] peers (its `self` URL, else the peer on one of its listen
// addresses); throws ConfigError when it is not there: a PoP's edges must agree on the member
// list, this one included, to agree on owners.
void find_self_peer(EdgeConfig& config);
// At most this many purge_api URLs ([purge] api, --purge-api).
inline constexpr std::size_t kMaxPurgeApis = 16;
// Why a list of purge api URLs is not acceptable, or nullopt: 1 to kMaxPurgeApis of them, each
// http:// or https:// with a host, none listed twice (the same scheme, host, port and path).
// `index` names the offending URL (none for a problem with the whole list).
struct PurgeApiProblem {
    std::optional<std::size_t> index;
    std::string message;
};
std::optional<PurgeApiProblem> check_purge_apis(const std::vector<std::string>& urls);
// The TLS client settings of each purge api URL, in its order: for an https:// one the shared
// context (verification, CA) and the server name (tls_server_name, else that URL's host); null
// for http://. Throws std::runtime_error naming the CA file when it cannot be read or holds no
// certificate.
std::vector<std::shared_ptr<const TlsClientConfig>> make_purge_tls(const EdgeConfig::Purge& purge);
// True when a purge api URL is http:// to a host that is not loopback: the edge token would
// cross the network in cleartext (main warns at start-up, for each such URL).
bool purge_api_in_cleartext(const std::string& api_url);
// Admin tokens are at least this long.
inline constexpr std::size_t kMinAdminTokenLength = 16;
// A secret kept in a file of its own (a token): the file's content without trailing
// whitespace. Throws ConfigError "FILE: cannot read: ...", or when it is empty or holds
// characters other than printable ASCII without spaces.
std::string read_token_file(const std::filesystem::path& file);

}  // namespace cdn::edge
