#pragma once
// The REST API without sockets: a parsed request becomes a Plan (an immediate reply, a purge to
// append, or a stream to start), and an append's outcome becomes the reply. Authentication,
// validation, routing and the JSON answers live here; ApiServer only moves bytes. Thread-safe
// (the objects it refers to are). Each request is planned with one settings snapshot
// (live_settings.hpp), so a reload never changes the tokens or limits under a request.
//
//   POST /v1/purge                admin token   -> 200 {"success":true,"result":{"id","seq"}}
//   POST /client/v4/zones/<host>/purge_cache    -> the same, limited to one host, in Cloudflare's
//                                 admin token      shape (see purge_api/README.md)
//   GET  /v1/purges/<id>          admin token   -> the purge and its progress on every edge
//   GET  /v1/edges                admin token   -> [{"edge","last_applied_seq","connected",...}]
//   GET  /v1/stream?edge=E&after=N  edge token  -> text/event-stream (ApiServer)
//   POST /v1/edges/<id>/ack       edge token    -> 204
//   PUT  /v1/registry/<id>        edge token    -> 200 {"lease_ttl_ms","renew_every_ms","version"};
//                                                  409 naming the holder; 400 naming the field
//   POST /v1/registry/<id>/heartbeat  edge token -> 200 as PUT; 404: register again
//   DELETE /v1/registry/<id>?instance=I  edge token -> 204
//   GET  /v1/registry[?after=V&wait=MS]  edge or admin token -> the live registrations
//                                 (with after: a long poll, ApiServer waits for version > V)
//   GET  /v1/fleet                edge or admin token -> regions, edges (registration, purge
//   stream,
//                                 scraped metrics) and recent purges (fleet_view.hpp)
//   GET  /dashboard               no token      -> the fleet page (it holds no data; it polls
//                                                  /v1/fleet with the operator's token)
//   GET  /healthz, GET /metrics   no token
#include "common/metrics.hpp"
#include "purge_api/api_metrics.hpp"
#include "purge_api/config.hpp"
#include "purge_api/edge_registry.hpp"
#include "purge_api/fleet_registry.hpp"
#include "purge_api/fleet_scraper.hpp"
#include "purge_api/live_settings.hpp"
#include "purge_api/purge_store.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cdn::purge_api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Reply {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers = {};  // more header fields
};

// The shape of answers: purge_api's own, or Cloudflare's envelope (the zone API).
enum class ReplyShape { native, cloudflare };

struct AppendPlan {
    PurgeDraft draft;
    std::string token_name;  // for the audit log line
    ReplyShape shape = ReplyShape::native;
    std::string idempotency_key;  // the Idempotency-Key header ("" : none)
    std::string fingerprint;      // purge_fingerprint(draft), with a key
};

struct StreamPlan {
    std::string edge;
    std::uint64_t after = 0;
};

// GET /v1/registry?after=V&wait=MS: answer registry_listing() once the version is > after, or
// at the deadline.
struct RegistryWaitPlan {
    std::uint64_t after = 0;
    std::chrono::milliseconds wait{0};
};

// The answer depends on records this instance may not have seen yet (another instance took
// them): ApiServer calls PurgeStore::sync(seq, wait) and plans the request again with what it
// found. seq 0: whatever the shared log holds now.
struct SyncPlan {
    std::uint64_t seq = 0;
    std::chrono::milliseconds wait{1000};
};

using Plan = std::variant<Reply, AppendPlan, StreamPlan, RegistryWaitPlan, SyncPlan>;

class ApiHandler {
  public:
    // `settings` must outlive the handler; each plan() reads its current snapshot.
    // `fleet` (may be null: no registry endpoints, streams never refused) must outlive it too,
    // and so must `scraper` (may be null: /v1/fleet then shows no edge metrics).
    ApiHandler(const LiveSettings& settings, PurgeStore& store, EdgeRegistry& edges,
               const MetricsRegistry& registry, ApiMetrics& metrics, FleetRegistry* fleet = nullptr,
               const FleetScraper* scraper = nullptr);

    // With the current settings, or with the snapshot the caller took when the request began.
    // `synced`: the outcome of the SyncPlan an earlier plan of this request asked for (a
    // request is planned again at most once).
    Plan plan(const Request& req);
    Plan plan(const Request& req, const ApiSettings& settings,
              std::optional<SeqCheck> synced = std::nullopt);
    // The answer to a purge once the log took it (or failed to).
    Reply appended(const AppendPlan& plan, const AppendResult& result);
    Reply appended(const AppendPlan& plan, const Result<PurgeRecordPtr>& result);
    // An error answer, counted in cdn_purge_api_rejected_total.
    Reply error(const ApiError& e, ReplyShape shape = ReplyShape::native);
    // The same, shaped for the endpoint `target` names (Cloudflare's under /client/v4/).
    Reply error_for(std::string_view target, const ApiError& e);
    // GET /v1/registry's answer (the live registrations, now).
    Reply registry_listing();
    FleetRegistry* fleet() const { return fleet_; }

  private:
    Plan post_purge(const Request& req, const ApiSettings& s);
    Plan zone_purge(const Request& req, const ApiSettings& s, std::string_view zone);
    Plan stream(const Request& req, const ApiSettings& s, std::string_view query,
                std::optional<SeqCheck> synced);
    Plan ack(const Request& req, const ApiSettings& s, std::string_view edge,
             std::optional<SeqCheck> synced);
    Plan get_purge(const Request& req, const ApiSettings& s, std::string_view id,
                   std::optional<SeqCheck> synced);
    // The Idempotency-Key of a purge request into `plan`; an error for a bad one.
    static std::optional<ApiError> idempotency(const Request& req, AppendPlan& plan);
    Reply get_edges(const Request& req, const ApiSettings& s);
    Reply get_fleet(const Request& req, const ApiSettings& s);
    Plan registry(const Request& req, const ApiSettings& s, std::string_view path,
                  std::string_view query);
    Reply put_registration(const Request& req, std::string_view id);
    Reply conflict(std::string_view id, const RegisteredEdge& holder);
    Reply lease_grant(std::uint64_t version);
    // Edge token or an admin token (registry reads).
    static std::optional<ApiError> any_auth(const Request& req, const ApiSettings& s);
    // The admin token of the request, or the 401 error.
    static std::variant<const Token*, ApiError> admin(const Request& req, const ApiSettings& s);
    static std::optional<ApiError> edge_auth(const Request& req, const ApiSettings& s);

    const LiveSettings& settings_;
    PurgeStore& store_;
    EdgeRegistry& edges_;
    const MetricsRegistry& registry_;
    ApiMetrics& metrics_;
    FleetRegistry* fleet_;
    const FleetScraper* scraper_;
};

// Purges GET /v1/fleet lists (the newest).
inline constexpr std::size_t kFleetPurges = 20;

// "a=1&b=2" -> the value of key (not percent-decoded); nullopt when absent.
std::optional<std::string_view> query_param(std::string_view query, std::string_view key);

}  // namespace cdn::purge_api
