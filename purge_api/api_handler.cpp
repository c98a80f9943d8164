#include "purge_api/api_handler.hpp"

#include "common/log.hpp"
#include "purge_api/dashboard_page.hpp"
#include "purge_api/fleet_view.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace cdn::purge_api {
namespace json = boost::json;
namespace bh = boost::beast::http;

namespace {

constexpr std::size_t kValuesShown = 100;  // GET /v1/purges/<id> lists at most this many
constexpr std::string_view kZonePrefix = "/client/v4/zones/", kZoneSuffix = "/purge_cache";

// "application/json" or a "+json" type, with any parameters ("; charset=utf-8").
bool is_json_media_type(std::string_view v) {
    v = v.substr(0, v.find(';'));
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    std::string t(v);
    for (char& c : t)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"));
}

// Cloudflare's zone ids are 32 lower-case hex digits.
bool looks_like_zone_id(std::string_view z) {
    if (z.size() != 32) return false;
    for (char c : z)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

Reply json_reply(unsigned status, const json::value& v) {
    return Reply{status, "application/json", json::serialize(v)};
}

json::value opt_ms(const std::optional<std::int64_t>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

}  // namespace

std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == key)
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

ApiHandler::ApiHandler(const LiveSettings& settings, PurgeStore& store, EdgeRegistry& edges,
                       const MetricsRegistry& registry, ApiMetrics& metrics, FleetRegistry* fleet,
                       const FleetScraper* scraper)
    : settings_(settings),
      store_(store),
      edges_(edges),
      registry_(registry),
      metrics_(metrics),
      fleet_(fleet),
      scraper_(scraper) {}

Reply ApiHandler::error(const ApiError& e, ReplyShape shape) {
    metrics_.rejected(e.reason()).inc();
    return Reply{e.status, "application/json",
                 shape == ReplyShape::cloudflare ? cloudflare_error_body(e) : error_body(e)};
}

Reply ApiHandler::error_for(std::string_view target, const ApiError& e) {
    return error(e, target.starts_with(kZonePrefix) ? ReplyShape::cloudflare : ReplyShape::native);
}

std::variant<const Token*, ApiError> ApiHandler::admin(const Request& req, const ApiSettings& s) {
    const auto h = req.find(bh::field::authorization);
    if (h == req.end())
        return make_error(ApiErrc::unauthenticated, "missing Authorization: Bearer <token>");
    const auto presented = bearer_token(h->value());
    if (!presented)
        return make_error(ApiErrc::unauthenticated, "expected Authorization: Bearer <token>");
    const Token* t = s.tokens.find(*presented);
    if (!t) return make_error(ApiErrc::unauthenticated, "unknown token");
    return t;
}

std::optional<ApiError> ApiHandler::edge_auth(const Request& req, const ApiSettings& s) {
    const auto h = req.find(bh::field::authorization);
    if (h == req.end())
        return make_error(ApiErrc::unauthenticated, "missing Authorization: Bearer <edge token>");
    const auto presented = bearer_token(h->value());
    // With no edge token configured, nothing matches.
    if (!presented || s.config.edge_token.empty() ||
        !constant_time_equal(s.config.edge_token, *presented))
        return make_error(ApiErrc::unauthenticated, "unknown edge token");
    return std::nullopt;
}

Plan ApiHandler::plan(const Request& req) {
    const SettingsPtr s = settings_.current();
    return plan(req, *s);
}

Plan ApiHandler::plan(const Request& req, const ApiSettings& s, std::optional<SeqCheck> synced) {
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    const bh::verb m = req.method();
    auto only = [&](bh::verb allowed) -> std::optional<Reply> {
        if (m == allowed) return std::nullopt;
        return error(make_error(ApiErrc::method_not_allowed,
                                fmt::format("{} takes {}", path, bh::to_string(allowed))));
    };

    if (path == "/healthz") {
        if (auto r = only(bh::verb::get)) return *r;
        if (!store_.healthy()) return Reply{503, "text/plain", "purge log unavailable\n"};
        return Reply{200, "text/plain", "ok\n"};
    }
    if (path == "/metrics") {
        if (auto r = only(bh::verb::get)) return *r;
        return Reply{200, "text/plain; version=0.0.4; charset=utf-8", registry_.render()};
    }
    if (path == "/dashboard" || path == "/dashboard/") {
        if (auto r = only(bh::verb::get)) return *r;
        // The page holds no data (it asks for /v1/fleet with the operator's token), so it is
        // served to anyone; its policy lets only its own inline style and script run.
        Reply page{200, "text/html; charset=utf-8", std::string(dashboard_html()), {}};
        page.headers = {{"Content-Security-Policy", dashboard_csp()},
                        {"Referrer-Policy", "no-referrer"},
                        {"X-Frame-Options", "DENY"}};
        return page;
    }
    if (path == "/v1/fleet") {
        if (auto r = only(bh::verb::get)) return *r;
        return get_fleet(req, s);
    }
    if (path == "/v1/purge") {
        if (auto r = only(bh::verb::post)) return *r;
        return post_purge(req, s);
    }
    if (path.starts_with(kZonePrefix) && path.ends_with(kZoneSuffix) &&
        path.size() > kZonePrefix.size() + kZoneSuffix.size()) {
        if (m != bh::verb::post)
            return error(make_error(ApiErrc::method_not_allowed, "purge_cache takes POST"),
                         ReplyShape::cloudflare);
        return zone_purge(
            req, s,
            path.substr(kZonePrefix.size(), path.size() - kZonePrefix.size() - kZoneSuffix.size()));
    }
    if (path.starts_with(kZonePrefix))
        return error(make_error(ApiErrc::not_found,
                                "no such endpoint; the zone API has only POST "
                                "/client/v4/zones/<host>/purge_cache"),
                     ReplyShape::cloudflare);
    if (path == "/v1/stream") {
        if (auto r = only(bh::verb::get)) return *r;
        return stream(req, s, query, synced);
    }
    if (path == "/v1/edges") {
        if (auto r = only(bh::verb::get)) return *r;
        return get_edges(req, s);
    }
    constexpr std::string_view kEdges = "/v1/edges/", kAck = "/ack", kPurges = "/v1/purges/";
    if (path.starts_with(kEdges) && path.ends_with(kAck) &&
        path.size() > kEdges.size() + kAck.size()) {
        if (auto r = only(bh::verb::post)) return *r;
        return ack(req, s, path.substr(kEdges.size(), path.size() - kEdges.size() - kAck.size()),
                   synced);
    }
    if (path.starts_with(kPurges) && path.size() > kPurges.size()) {
        if (auto r = only(bh::verb::get)) return *r;
        return get_purge(req, s, path.substr(kPurges.size()), synced);
    }
    if (fleet_ && (path == "/v1/registry" || path.starts_with("/v1/registry/")))
        return registry(req, s, path, query);
    return error(make_error(ApiErrc::not_found,
                            "no such endpoint; see POST /v1/purge, GET /v1/purges/<id>, GET "
                            "/v1/edges, GET /v1/stream, GET /v1/registry, GET /v1/fleet, GET "
                            "/dashboard"));
}

Plan ApiHandler::post_purge(const Request& req, const ApiSettings& s) {
    auto who = admin(req, s);
    if (auto* e = std::get_if<ApiError>(&who)) return error(*e);
    const Token& token = *std::get<const Token*>(who);
    auto parsed = parse_purge_body(req.body(), s.config.limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
    PurgeDraft& draft = std::get<PurgeDraft>(parsed);
    if (auto e = authorize(token, draft)) return error(*e);
    AppendPlan plan{std::move(draft), token.name, ReplyShape::native, {}, {}};
    if (auto e = idempotency(req, plan)) return error(*e);
    if (!store_.healthy())
        return error(make_error(ApiErrc::unavailable,
                                "the purge log cannot take writes; the purge was not applied"));
    return plan;
}

std::optional<ApiError> ApiHandler::idempotency(const Request& req, AppendPlan& plan) {
    const auto h = req.find("Idempotency-Key");
    if (h == req.end()) return std::nullopt;
    std::string_view key = h->value();
    // Stripe's and the IETF draft's form is a string; a quoted one is taken without its quotes.
    if (key.size() >= 2 && key.front() == '"' && key.back() == '"')
        key = key.substr(1, key.size() - 2);
    if (!valid_idempotency_key(key))
        return make_error(ApiErrc::bad_request,
                          "Idempotency-Key: expected 1 to 255 visible ASCII characters");
    // Keys are per token (as Stripe's are per account): two clients cannot collide, and one
    // cannot learn what keys another used.
    plan.idempotency_key = fmt::format("{}/{}", plan.token_name, key);
    plan.fingerprint = purge_fingerprint(plan.draft);
    return std::nullopt;
}

// Cloudflare's POST /zones/<zone>/purge_cache, with a host name for the zone: the same checks as
// /v1/purge, in the order a client can act on them, then the purge limited to the zone.
Plan ApiHandler::zone_purge(const Request& req, const ApiSettings& s, std::string_view zone_name) {
    auto fail = [&](const ApiError& e) -> Plan { return error(e, ReplyShape::cloudflare); };
    auto who = admin(req, s);
    if (auto* e = std::get_if<ApiError>(&who)) return fail(*e);
    const Token& token = *std::get<const Token*>(who);
    if (const auto ct = req.find(bh::field::content_type);
        ct != req.end() && !is_json_media_type(ct->value()))
        return fail(make_error(ApiErrc::unsupported_media_type,
                               fmt::format("Content-Type \"{}\": expected application/json",
                                           std::string_view(ct->value()).substr(0, 100))));
    if (looks_like_zone_id(zone_name))
        return fail(make_error(ApiErrc::not_found,
                               fmt::format("zone \"{}\" looks like a Cloudflare zone id; here a "
                                           "zone is a host name, e.g. "
                                           "/client/v4/zones/example.com/purge_cache",
                                           zone_name)));
    const auto zone = parse_zone(zone_name);
    if (!zone)
        return fail(make_error(ApiErrc::not_found,
                               fmt::format("zone \"{}\" is not a host name like example.com",
                                           zone_name.substr(0, 255))));
    if (!token.covers_host(*zone))
        return fail(
            make_error(ApiErrc::forbidden,
                       fmt::format("token \"{}\" may not purge zone \"{}\"", token.name, *zone)));
    auto parsed = parse_purge_body(req.body(), s.config.limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return fail(*e);
    PurgeDraft& draft = std::get<PurgeDraft>(parsed);
    if (auto e = limit_to_zone(draft, *zone)) return fail(*e);
    if (auto e = authorize(token, draft)) return fail(*e);
    AppendPlan plan{std::move(draft), token.name, ReplyShape::cloudflare, {}, {}};
    if (auto e = idempotency(req, plan)) return fail(*e);
    if (!store_.healthy())
        return fail(make_error(ApiErrc::unavailable,
                               "the purge log cannot take writes; the purge was not applied"));
    return plan;
}

Reply ApiHandler::appended(const AppendPlan& plan, const Result<PurgeRecordPtr>& result) {
    return appended(plan, result ? AppendResult{AppendStatus::appended, *result}
                                 : AppendResult{AppendStatus::not_applied, nullptr});
}

Reply ApiHandler::appended(const AppendPlan& plan, const AppendResult& result) {
    switch (result.status) {
        case AppendStatus::appended:
        case AppendStatus::replayed: break;
        case AppendStatus::not_applied: {
            Reply r = error(make_error(ApiErrc::unavailable,
                                       "the purge could not be made durable; it was not applied"),
                            plan.shape);
            r.headers.emplace_back("Retry-After", "1");
            return r;
        }
        case AppendStatus::maybe_applied: {
            // The truth: the store did not confirm in time, and may still apply it.
            Reply r = error(
                make_error(ApiErrc::unavailable,
                           plan.idempotency_key.empty()
                               ? "the purge log did not confirm the write in time; the purge "
                                 "may still be applied. Retrying may apply it twice (harmless "
                                 "for the cache, but logged twice): send an Idempotency-Key "
                                 "header to make retries safe"
                               : "the purge log did not confirm the write in time; the purge "
                                 "may still be applied. Retry with the same Idempotency-Key: "
                                 "it is applied at most once, and the answer gives its id"),
                plan.shape);
            r.headers.emplace_back("Retry-After", "1");
            return r;
        }
        case AppendStatus::key_reused:
            return error(make_error(ApiErrc::idempotency_conflict,
                                    "Idempotency-Key was already used for a different purge"),
                         plan.shape);
    }
    const PurgeRecord& r = *result.record;
    const bool replayed = result.status == AppendStatus::replayed;
    if (!replayed) {
        metrics_.accepted(r.kind).inc();
        log_info("purge seq={} id={} kind={} values={} soft={} token={}", r.seq, r.id,
                 to_string(r.kind), r.values.size(), r.soft, plan.token_name);
    } else {
        metrics_.replayed.inc();
        log_info("purge seq={} id={} replayed for Idempotency-Key (token={})", r.seq, r.id,
                 plan.token_name);
    }
    json::object res;
    res["id"] = r.id;
    json::object o;
    o["success"] = true;
    if (plan.shape == ReplyShape::cloudflare) {
        // Cloudflare's envelope; GET /v1/purges/<id> tells the seq and progress.
        o["errors"] = json::array{};
        o["messages"] = json::array{};
    } else {
        res["seq"] = r.seq;
    }
    o["result"] = std::move(res);
    Reply reply = json_reply(200, o);
    if (replayed) reply.headers.emplace_back("Idempotent-Replayed", "true");
    return reply;
}

Plan ApiHandler::stream(const Request& req, const ApiSettings& s, std::string_view query,
                        std::optional<SeqCheck> synced) {
    if (auto e = edge_auth(req, s)) return error(*e);
    const auto edge = query_param(query, "edge");
    if (!edge || !valid_edge_id(*edge))
        return error(
            make_error(ApiErrc::bad_request, "edge=<id> is required (1-64 of A-Z a-z 0-9 . _ -)"));
    std::uint64_t after = 0;
    if (const auto a = query_param(query, "after")) {
        const auto v = parse_u64(*a);
        if (!v) return error(make_error(ApiErrc::bad_request, "after=<seq>: expected a number"));
        after = *v;
    } else if (const auto h = req.find("Last-Event-ID"); h != req.end()) {
        const auto v = parse_u64(h->value());
        if (!v) return error(make_error(ApiErrc::bad_request, "Last-Event-ID: expected a number"));
        after = *v;
    }
    // An edge that says which process it is (instance=) may not take over the stream of an id
    // another live instance registered: two edges configured with one id would otherwise
    // silently steal each other's purges.
    if (const auto instance = query_param(query, "instance"); instance && fleet_) {
        if (!registration::valid_instance(*instance))
            return error(make_error(ApiErrc::bad_request,
                                    "instance=<nonce>: expected 1 to 64 of A-Z a-z 0-9 . _ -"));
        if (auto holder = fleet_->held_by_other(*edge, *instance)) {
            fleet_->count_refused();
            log_warn("stream: edge {} refused for instance {}: the id is registered by {}", *edge,
                     *instance, describe_holder(*holder));
            return conflict(*edge, *holder);
        }
    }
    if (after > store_.last_seq()) {
        // The edge has seen purges this instance has not (yet): another instance took them.
        // Never answer with a reset for a log that is merely ahead of this instance.
        if (!synced) return SyncPlan{after, std::chrono::milliseconds(1000)};
        if (*synced == SeqCheck::unknown) {
            Reply r = error(make_error(
                ApiErrc::unavailable,
                fmt::format("this instance has not seen seq {} yet (the log here ends at {}); "
                            "retry, or use another instance",
                            after, store_.last_seq())));
            r.headers.emplace_back("Retry-After", "1");
            return r;
        }
        // beyond_log: the shared log truly ends before it; the stream starts with a reset.
    }
    return StreamPlan{std::string(*edge), after};
}

Plan ApiHandler::ack(const Request& req, const ApiSettings& s, std::string_view edge,
                     std::optional<SeqCheck> synced) {
    if (auto e = edge_auth(req, s)) return error(*e);
    if (!valid_edge_id(edge))
        return error(
            make_error(ApiErrc::bad_request, "not an edge id (1-64 of A-Z a-z 0-9 . _ -)"));
    boost::system::error_code ec;
    const json::value v = json::parse(req.body(), ec);
    const json::value* seq = !ec && v.is_object() ? v.get_object().if_contains("seq") : nullptr;
    std::optional<std::uint64_t> n;
    if (seq && seq->is_uint64()) n = seq->get_uint64();
    if (seq && seq->is_int64() && seq->get_int64() >= 0)
        n = static_cast<std::uint64_t>(seq->get_int64());
    if (!n)
        return error(make_error(ApiErrc::malformed_json,
                                "expected a body like {\"seq\": 42} (the last purge applied)"));
    if (*n > store_.last_seq() && !synced) return SyncPlan{*n, std::chrono::milliseconds(1000)};
    if (*n > store_.last_seq())
        return error(
            make_error(ApiErrc::bad_request,
                       fmt::format("seq {} is beyond the log (last {})", *n, store_.last_seq())));
    edges_.ack(std::string(edge), *n);
    metrics_.acks.inc();
    return Reply{204, "", ""};
}

Plan ApiHandler::get_purge(const Request& req, const ApiSettings& s, std::string_view id,
                           std::optional<SeqCheck> synced) {
    auto who = admin(req, s);
    if (auto* e = std::get_if<ApiError>(&who)) return error(*e);
    const PurgeRecordPtr r = store_.find(id);
    // Taken by another instance a moment ago? Catch up with the shared log, then look again.
    if (!r && !synced && valid_edge_id(id)) return SyncPlan{0, std::chrono::milliseconds(1000)};
    if (!r)
        return error(
            make_error(ApiErrc::not_found, "no purge with that id (or it was compacted away)"));
    const Token& token = *std::get<const Token*>(who);
    if (auto e = authorize(token, PurgeDraft{r->kind, r->values, r->soft})) return error(*e);

    json::object o;
    o["id"] = r->id;
    o["seq"] = r->seq;
    o["time_ms"] = r->time_ms;
    o["kind"] = to_string(r->kind);
    json::array values;
    for (std::size_t i = 0; i < r->values.size() && i < kValuesShown; ++i)
        values.emplace_back(r->values[i]);
    o["values"] = std::move(values);
    o["values_total"] = r->values.size();
    o["soft"] = r->soft;
    const PurgeProgress p = edges_.progress(r->seq);
    json::array edges;
    for (const EdgeProgress& e : p.edges) {
        json::object eo;
        eo["edge"] = e.edge;
        eo["status"] = to_string(e.status);
        eo["applied_ms"] = opt_ms(e.applied_ms);
        edges.push_back(std::move(eo));
    }
    o["edges"] = std::move(edges);
    o["complete"] = p.complete;
    o["completed_ms"] = opt_ms(p.completed_ms);
    return json_reply(200, o);
}

Reply ApiHandler::get_edges(const Request& req, const ApiSettings& s) {
    auto who = admin(req, s);
    if (auto* e = std::get_if<ApiError>(&who)) return error(*e);
    json::array a;
    for (const EdgeView& e : edges_.edges()) {
        json::object eo;
        eo["edge"] = e.edge;
        eo["last_applied_seq"] = e.last_applied_seq;
        eo["connected"] = e.connected;
        eo["last_seen_ms"] = opt_ms(e.last_seen_ms);
        a.push_back(std::move(eo));
    }
    return json_reply(200, a);
}

// The fleet as one document (fleet_view.hpp): the registry, the purge streams, the edges'
// metrics as last scraped, and the newest purges. A host-limited token sees only the purges
// within its hosts (as on GET /v1/purges/<id>); the edge token sees them all (it streams them).
Reply ApiHandler::get_fleet(const Request& req, const ApiSettings& s) {
    if (auto e = any_auth(req, s)) return error(*e);
    const Token* token = nullptr;
    if (auto who = admin(req, s); std::holds_alternative<const Token*>(who))
        token = std::get<const Token*>(who);

    FleetInputs in;
    in.head_seq = store_.last_seq();
    if (fleet_) {
        in.registry = fleet_->list();
        in.now_ms = fleet_->now_ms();
    } else {
        in.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    }
    in.streams = edges_.edges();
    if (scraper_) {
        in.scrapes = scraper_->scrapes();
        in.scrape_interval_ms = scraper_->interval().count();
    }
    const std::uint64_t after = in.head_seq > kFleetPurges ? in.head_seq - kFleetPurges : 0;
    LogSlice slice = store_.read_after(after, kFleetPurges);
    std::reverse(slice.records.begin(), slice.records.end());
    for (PurgeRecordPtr& r : slice.records) {
        if (token && authorize(*token, PurgeDraft{r->kind, r->values, r->soft})) continue;
        PurgeProgress p = edges_.progress(r->seq);
        in.purges.push_back(RecentPurge{std::move(r), std::move(p)});
    }
    return json_reply(200, fleet_json(in));
}

}  // namespace cdn::purge_api

namespace cdn::purge_api {

std::optional<ApiError> ApiHandler::any_auth(const Request& req, const ApiSettings& s) {
    const auto h = req.find(bh::field::authorization);
    if (h == req.end())
        return make_error(ApiErrc::unauthenticated, "missing Authorization: Bearer <token>");
    const auto presented = bearer_token(h->value());
    if (!presented)
        return make_error(ApiErrc::unauthenticated, "expected Authorization: Bearer <token>");
    if (!s.config.edge_token.empty() && constant_time_equal(s.config.edge_token, *presented))
        return std::nullopt;
    if (s.tokens.find(*presented)) return std::nullopt;
    return make_error(ApiErrc::unauthenticated, "unknown token");
}

Reply ApiHandler::conflict(std::string_view id, const RegisteredEdge& holder) {
    const ApiError e = make_error(
        ApiErrc::conflict, fmt::format("edge id \"{}\" is held by {}; give this edge another id "
                                       "([purge] edge_id or [server] name), or stop the other one",
                                       id, describe_holder(holder)));
    metrics_.rejected(e.reason()).inc();
    json::value v = json::parse(error_body(e));
    json::object h = registration::to_json(holder.reg);
    h["registered_ms"] = holder.registered_ms;
    h["expires_ms"] = holder.expires_ms;
    v.as_object()["holder"] = std::move(h);
    v.as_object()["lease_ttl_ms"] = fleet_->lease_ttl().count();  // when to try again
    return json_reply(409, v);
}

Reply ApiHandler::lease_grant(std::uint64_t version) {
    json::object o;
    o["lease_ttl_ms"] = fleet_->lease_ttl().count();
    o["renew_every_ms"] = fleet_->renew_every().count();
    o["version"] = version;
    return json_reply(200, o);
}

Reply ApiHandler::registry_listing() {
    const RegistryListing l = fleet_->list();
    return json_reply(200, registration::to_json(l, fleet_->now_ms()));
}

Plan ApiHandler::registry(const Request& req, const ApiSettings& s, std::string_view path,
                          std::string_view query) {
    const bh::verb m = req.method();
    if (path == "/v1/registry" || path == "/v1/registry/") {
        if (m != bh::verb::get)
            return error(make_error(ApiErrc::method_not_allowed, "/v1/registry takes GET"));
        if (auto e = any_auth(req, s)) return error(*e);
        const auto after = query_param(query, "after");
        if (!after) return registry_listing();
        const auto v = parse_u64(*after);
        if (!v)
            return error(make_error(ApiErrc::bad_request, "after=<version>: expected a number"));
        std::uint64_t wait_ms = 0;
        if (const auto w = query_param(query, "wait")) {
            const auto n = parse_u64(*w);
            if (!n || *n > 30'000)
                return error(make_error(ApiErrc::bad_request,
                                        "wait=<ms>: expected a number from 0 to 30000"));
            wait_ms = *n;
        }
        if (wait_ms == 0 || fleet_->version() > *v) return registry_listing();
        return RegistryWaitPlan{*v, std::chrono::milliseconds(wait_ms)};
    }
    std::string_view rest = path.substr(std::string_view("/v1/registry/").size());
    constexpr std::string_view kHeartbeat = "/heartbeat";
    const bool heartbeat = rest.ends_with(kHeartbeat);
    if (heartbeat) rest.remove_suffix(kHeartbeat.size());
    if (!registration::valid_id(rest))
        return error(make_error(ApiErrc::bad_request,
                                "not an edge id (1-64 of A-Z a-z 0-9 . _ -) in the path"));
    const std::string_view id = rest;
    if (heartbeat) {
        if (m != bh::verb::post)
            return error(make_error(ApiErrc::method_not_allowed, "heartbeat takes POST"));
    } else if (m != bh::verb::put && m != bh::verb::delete_) {
        return error(
            make_error(ApiErrc::method_not_allowed, "/v1/registry/<id> takes PUT or DELETE"));
    }
    if (auto e = edge_auth(req, s)) return error(*e);
    if (m == bh::verb::put) return put_registration(req, id);

    // Heartbeat and DELETE name the instance: {"instance":"..."} or ?instance=.
    std::string instance;
    if (const auto q = query_param(query, "instance")) instance = std::string(*q);
    if (instance.empty() && !req.body().empty()) {
        boost::system::error_code ec;
        const json::value v = json::parse(req.body(), ec);
        const json::value* i =
            !ec && v.is_object() ? v.get_object().if_contains("instance") : nullptr;
        if (i && i->is_string()) instance = std::string(i->get_string());
    }
    if (!registration::valid_instance(instance))
        return error(make_error(ApiErrc::malformed_json,
                                "expected a body like {\"instance\":\"9f2c41d07ab3e655\"} (or "
                                "?instance=): the nonce the edge registered with"));
    const FleetRegistry::RenewResult r =
        heartbeat ? fleet_->heartbeat(id, instance) : fleet_->remove(id, instance);
    switch (r.outcome) {
        case FleetRegistry::RenewOutcome::renewed:
            if (heartbeat) return lease_grant(r.version);
            return Reply{204, "", ""};
        case FleetRegistry::RenewOutcome::unknown:
            return error(make_error(
                ApiErrc::not_found,
                fmt::format("edge {} has no live registration (never registered, or its lease "
                            "lapsed): register again with PUT /v1/registry/{}",
                            id, id)));
        case FleetRegistry::RenewOutcome::other_instance: return conflict(id, *r.holder);
    }
    return error(make_error(ApiErrc::bad_request, "unreachable"));
}

Reply ApiHandler::put_registration(const Request& req, std::string_view id) {
    auto parsed = registration::parse_registration(req.body(), id);
    if (auto* e = std::get_if<std::string>(&parsed))
        return error(make_error(ApiErrc::bad_value, "registration: " + *e));
    const Registration& r = std::get<Registration>(parsed);
    const FleetRegistry::PutResult res = fleet_->put(r);
    if (res.outcome == FleetRegistry::PutOutcome::refused) {
        log_warn("registry: {} refused for instance {} (http {}): held by {}", id, r.instance,
                 r.http, describe_holder(*res.holder));
        return conflict(id, *res.holder);
    }
    return lease_grant(res.version);
}

}  // namespace cdn::purge_api
