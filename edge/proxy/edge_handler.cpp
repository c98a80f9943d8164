#include "edge/proxy/edge_handler.hpp"

#include "common/http_date.hpp"
#include "common/http_util.hpp"
#include "edge/cache/cache_key.hpp"
#include "edge/cache/conditional.hpp"
#include "edge/cache/vary.hpp"
#include "edge/proxy/body_stream.hpp"
#include "edge/proxy/compressed_variant.hpp"
#include "edge/proxy/counting_body.hpp"
#include "edge/proxy/outcome_label.hpp"
#include "edge/proxy/range_reply.hpp"
#include "edge/proxy/response_fields.hpp"
#include "edge/proxy/slices.hpp"
#include "edge/upstream/hrw.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/container/small_vector.hpp>

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using cache::Outcome;
using http::Reply;
using http::Request;

namespace {

// A cacheable body of at most this announced length that came in with the head is stored before
// the reply goes out (one write of head and body); any other streams while the fill stores it.
constexpr std::uint64_t kInlineFillBytes = 64 * 1024;

// "http://" or "https://" in any case (RFC 3986 section 3.1): the scheme's length, else 0.
std::size_t absolute_scheme_length(std::string_view target) {
    for (std::string_view scheme : {"http://", "https://"})
        if (target.size() >= scheme.size() &&
            http_util::iequals(target.substr(0, scheme.size()), scheme))
            return scheme.size();
    return 0;
}

bool is_conditional_or_range(std::string_view name) {
    using http_util::iequals;
    return iequals(name, "if-none-match") || iequals(name, "if-modified-since") ||
           iequals(name, "if-match") || iequals(name, "if-unmodified-since") ||
           iequals(name, "if-range") || iequals(name, "range");
}

// Whether the group passes this unkeyed override field on (and keys on it).
bool passes(const OriginGroup& group, std::string_view name) {
    return std::any_of(group.pass_headers.begin(), group.pass_headers.end(),
                       [&](const std::string& p) { return http_util::iequals(p, name); });
}

// The fields that select a stored variant: the response's Vary plus the override fields the
// group passes to its origin (the origin may build its response from them without saying so).
std::string keyed_vary(std::string_view vary, const OriginGroup& group) {
    if (group.pass_headers_vary.empty()) return std::string(vary);
    if (vary.empty()) return group.pass_headers_vary;
    return std::string(vary) + ", " + group.pass_headers_vary;
}

// Relays an origin's 103 Early Hints to the client, without the origin's hop-by-hop fields.
asio::awaitable<void> relay_early_hints(http::InterimWriter* writer,
                                        const upstream::OriginHead& hints) {
    const std::string_view connection = hints[beast_http::field::connection];
    std::string fields;
    for (const auto& f : hints) {
        const std::string_view name = f.name_string();
        if (http_util::is_hop_by_hop(name) || http_util::list_has_token(connection, name) ||
            http_util::iequals(name, "content-length"))
            continue;
        fields.append(name).append(": ").append(f.value()).append("\r\n");
    }
    co_await writer->send_interim(103, fields);
}

// The response field that returns the request's id to the client.
void add_request_id(Reply& r, const Request& req) {
    if (req.id.empty()) return;
    r.extra.append("X-Request-Id: ").append(req.id.view()).append("\r\n");
}

using SteadyDuration = std::chrono::steady_clock::duration;
constexpr SteadyDuration kNoOrigin{-1};

// For the access log's origin time.
Reply with_origin_time(Reply r, SteadyDuration t) {
    r.origin_time = t;
    return r;
}

}  // namespace

EdgeHandler::EdgeHandler(EdgeShared shared, std::shared_ptr<const EdgeGeneration> generation,
                         asio::any_io_executor executor,
                         std::unique_ptr<upstream::Upstream> upstream)
    : shared_(shared),
      current_(std::make_shared<const Pinned>(Pinned{generation})),
      executor_(executor),
      upstream_(std::move(upstream)) {
    if (!upstream_) {
        EdgeMetrics& m = shared_.metrics;
        upstream::UpstreamMetrics um;
        um.origin_fetches = &m.origin_fetches;
        um.origin_retries = &m.origin_retries;
        um.parent_fetches = &m.parent_fetches;
        um.parent_failures = &m.parent_failures;
        um.parent_fallbacks = &m.parent_fallbacks;
        um.parent_loops = &m.parent_loops;
        um.origin_error = [&m](Errc e) { m.origin_error(e); };
        upstream_ = std::make_unique<upstream::UpstreamClient>(
            executor, generation->config.origin_pool, shared_.clock, std::move(um),
            [this] { return random01(); });
    }
}

void EdgeHandler::set_generation(std::shared_ptr<const EdgeGeneration> generation) {
    upstream_->set_settings(generation->config.origin_pool);
    current_ = std::make_shared<const Pinned>(Pinned{std::move(generation)});
}

// recv: which host and path the request is for; nullopt when it is malformed.
std::optional<EdgeHandler::Target> EdgeHandler::recv(const Request& req) const {
    std::string_view target = req.msg.target();
    // RFC 9112 section 3.2: exactly one Host, and it must be valid even where the target's
    // authority replaces it; HTTP/1.1 (and HTTP/2, whose :authority becomes Host) needs one.
    const auto hosts = req.msg.count(beast_http::field::host);
    if (hosts > 1 || (hosts == 0 && req.msg.version() >= 11)) return std::nullopt;
    std::optional<std::string> host;
    if (hosts == 1) {
        host = cache::parse_authority(req.scheme, req.msg[beast_http::field::host]);
        if (!host) return std::nullopt;
    }
    // A fragment is the user agent's business, never sent (RFC 9110 section 4.2.5): a target
    // with one was crafted. So is "*" outside OPTIONS, and the edge answers no OPTIONS *.
    if (target.find('#') != std::string_view::npos) return std::nullopt;
    if (const std::size_t scheme = absolute_scheme_length(target)) {
        // absolute-form (RFC 9112 section 3.2.2): the target's authority replaces Host, for the
        // key, the origin group and the Host the origin gets alike.
        target.remove_prefix(scheme);
        const auto end = target.find_first_of("/?");
        host = cache::parse_authority(req.scheme, target.substr(0, end));
        if (!host) return std::nullopt;
        target = end == std::string_view::npos ? std::string_view() : target.substr(end);
        if (target.empty()) return Target{std::move(*host), "/"};
        if (target.front() == '?') return Target{std::move(*host), "/" + std::string(target)};
    }
    if (!host || target.empty() || target.front() != '/') return std::nullopt;
    return Target{std::move(*host), std::string(target)};
}

std::optional<Reply> EdgeHandler::refuse_early(const Gen& g, const Request& req,
                                               const std::optional<Target>& target) {
    if (!target) {
        shared_.metrics.client_errors.inc();
        Reply r =
            make_reply(400, "Bad request: missing or invalid Host or target\n", Outcome::error);
        r.close = true;
        add_request_id(r, req);
        return r;
    }
    if (is_loop(g, req)) {
        // RFC 8586 section 2: a loop is answered, not forwarded; 508 (RFC 5842) says which.
        Reply r = make_reply(508,
                             "Loop detected: this request already came through " + g.config.name +
                                 " or through too many caches\n",
                             Outcome::error);
        r.extra = fmt::format("Cache-Status: {}; fwd=bypass; detail=\"loop\"\r\n", g.config.name);
        r.detail = "loop";
        add_request_id(r, req);
        shared_.metrics.loops.inc();
        return r;
    }
    if (!g.config.origin_for(target->host)) {
        Reply r = make_reply(421, "This edge serves no site for host " + target->host + "\n",
                             Outcome::error);
        add_request_id(r, req);
        return r;
    }
    return std::nullopt;
}

asio::awaitable<Reply> EdgeHandler::handle(Request& req) {
    const std::shared_ptr<const Pinned> pin = current_;  // this request's config, to its end
    const Gen& g = *pin->gen;
    assign_request_id(req, ids_);
    // recv
    const auto target = recv(req);
    if (auto refused = refuse_early(g, req, target)) co_return std::move(*refused);
    const OriginGroup* group = g.config.origin_for(target->host);

    const auto method = req.msg.method();
    cache::RequestFacts facts;
    facts.method_cacheable = method == beast_http::verb::get || method == beast_http::verb::head;
    facts.has_authorization = req.msg.count(beast_http::field::authorization) > 0;
    facts.cc = cache::parse_cache_control(join_values(req.msg, beast_http::field::cache_control));
    if (!facts.method_cacheable) co_return co_await pass(g, req, *group, *target, "fwd=method");
    if (req.deferred_body) {
        // A GET or HEAD with an upload: nothing waits for it but this edge.
        auto body = co_await req.deferred_body->read();
        if (!body) co_return unreadable_body(req);
        req.msg.body() = std::move(*body);
        req.deferred_body = nullptr;
    }

    // key
    std::string key = cache::make_cache_key(req.scheme, target->host, target->path, g.config.key);
    // lookup
    const TimePoint now = shared_.clock.now();
    bool coding_fallback = false;
    storage::ObjectPtr cached = lookup(key, req, &coding_fallback);
    if (cached && is_slice_manifest(*cached))  // a large object kept in slices ([origin.slice])
        co_return co_await from_manifest(g, req, *group, *target, std::move(key), facts,
                                         std::move(cached), now, false);
    // compress: the coding the client takes, made once from the stored identity. A fresh hit
    // on the variant the client selects (the common case) has nothing to make.
    if (cached && (coding_fallback || cache::decide_use(cached->meta, now) != cache::Use::fresh))
        cached = with_compression(shared_.store, shared_.metrics, group->compression, key, req,
                                  std::move(cached), now);
    if (cached) {
        // The client's no-cache, max-age, min-fresh and max-stale count only where the host
        // says so (they would let any client send every request to the origin).
        bool max_stale = false;
        const cache::Use use = group->client_cache_control
                                   ? cache::decide_use(cached->meta, now, facts.cc, &max_stale)
                                   : cache::decide_use(cached->meta, now);
        switch (use) {
            case cache::Use::fresh: {
                if (max_stale) co_return serve_stale(g, std::move(cached), req, now, "max-stale");
                // hit
                std::string params = fmt::format("hit; ttl={}", cache::ttl_left(cached->meta, now));
                co_return deliver(g, std::move(cached), Outcome::hit, req, now, params);
            }
            case cache::Use::stale_while_revalidate:
                if (!facts.cc.no_store)
                    start_refresh(pin, req, *group, *target, key, facts, cached);
                co_return serve_stale(g, std::move(cached), req, now, "stale-while-revalidate");
            case cache::Use::revalidate: break;
        }
    }
    // RFC 9111 section 5.2.1.7: only a stored response that needs no origin will do, else 504.
    // Always honoured: it can only spare the origin.
    if (facts.cc.only_if_cached) {
        Reply r =
            make_reply(504, "Gateway timeout: only-if-cached, and no usable stored response\n",
                       Outcome::error);
        r.extra =
            fmt::format("X-Cache: {}\r\nCache-Status: {}; fwd=miss; detail=\"only-if-cached\"\r\n",
                        cache::x_cache(Outcome::error), g.config.name);
        r.detail = "only-if-cached";
        add_request_id(r, req);
        co_return r;
    }
    // RFC 9111 section 5.2.1.5: no-store forbids storing the response, not using a stored one:
    // what a hit could not answer goes to the origin and is not kept.
    if (facts.cc.no_store) co_return co_await pass(g, req, *group, *target, "fwd=request");
    // A miss or a revalidation: the origin will be asked, and the client may start on what the
    // page needs meanwhile.
    if (group->early_hints.enabled) co_await send_learned_hints(*group, key, req);
    if (cached && method == beast_http::verb::head)
        co_return co_await refresh_by_head(g, req, *group, *target, key, std::move(cached));
    // stale or miss: another peer of the PoP may own the key
    if (g.peer_set && !cached)
        if (auto r = co_await from_peer(g, req, *group, *target, key)) co_return std::move(*r);
    co_return co_await miss(g, req, *group, *target, std::move(key), facts, std::move(cached), now);
}

asio::awaitable<Reply> EdgeHandler::miss(const Gen& g, const Request& req, const OriginGroup& group,
                                         const Target& t, std::string key,
                                         const cache::RequestFacts& facts, storage::ObjectPtr stale,
                                         TimePoint now) {
    const auto& cfg = g.config;
    cache::FillRegistry::Ticket ticket = shared_.fills.join(key, now);
    using Role = cache::FillRegistry::Ticket::Role;
    if (ticket.role == Role::follower) {
        // Another request is fetching this key: wait for its result instead of asking too.
        auto result = co_await cache::FillRegistry::wait(ticket.fill, cfg.collapse_timeout);
        if (auto obj = select_variant(result.object, req); obj && is_slice_manifest(*obj))
            co_return co_await from_manifest(g, req, group, t, std::move(key), facts,
                                             std::move(obj), shared_.clock.now(), true);
        if (auto obj = select_variant(result.object, req)) {
            shared_.metrics.collapsed.inc();
            const TimePoint at = shared_.clock.now();
            std::string params =
                fmt::format("hit; ttl={}; detail=\"collapsed\"", cache::ttl_left(obj->meta, at));
            Reply r = deliver(g, obj, Outcome::hit, req, at, params);
            if (result.stream) {
                // The body is still arriving: read it as it comes, like the leader does.
                auto body = std::static_pointer_cast<const BodyStream>(result.stream);
                stream_body(r, obj,
                            std::make_unique<BodyStreamReader>(
                                std::const_pointer_cast<BodyStream>(body), body_timeout(g)),
                            obj->meta.content_length_known, req);
            }
            co_return r;
        }
        // Uncacheable, failed, or too slow: fetch alone.
        co_return co_await fetch_and_store(g, req, group, t, std::move(key), facts,
                                           std::move(stale), nullptr);
    }
    if (ticket.role == Role::pass) {
        // hit-for-pass: this key was recently uncacheable; do not queue behind anyone.
        shared_.metrics.hit_for_pass.inc();
        // Nothing to answer a Range from: let the origin do it.
        if (req.msg.count(beast_http::field::range) > 0)
            co_return co_await pass(g, req, group, t, "fwd=miss; detail=\"uncacheable-range\"");
        co_return co_await fetch_and_store(g, req, group, t, std::move(key), facts,
                                           std::move(stale), nullptr);
    }
    auto guard = std::make_unique<cache::FillGuard>(shared_.fills, key, std::move(ticket.fill),
                                                    shared_.clock);
    co_return co_await fetch_and_store(g, req, group, t, std::move(key), facts, std::move(stale),
                                       std::move(guard));
}

asio::awaitable<Reply> EdgeHandler::fetch_and_store(const Gen& g, const Request& req,
                                                    const OriginGroup& group, const Target& t,
                                                    std::string key,
                                                    const cache::RequestFacts& facts,
                                                    storage::ObjectPtr stale,
                                                    std::unique_ptr<cache::FillGuard> guard) {
    auto& metrics = shared_.metrics;
    const auto& policy = g.config.freshness;
    // fetch: always a full GET (HEAD and Range are answered from it), conditional when we hold
    // a copy.
    upstream::OriginRequest oreq = origin_request(g, req, group, t, true);
    oreq.method(beast_http::verb::get);
    if (stale && !stale->etag().empty()) oreq.set(beast_http::field::if_none_match, stale->etag());
    if (stale && !stale->last_modified().empty())
        oreq.set(beast_http::field::if_modified_since, stale->last_modified());
    // [origin.slice]: only the slice that holds the first byte wanted.
    const std::optional<std::uint64_t> slice = slice_request(group, req, oreq);
    const TimePoint request_time = shared_.clock.now();
    // Reserved before asking the origin: a purge that arrives while the response is on its way
    // gets a higher floor and so covers what this fetch stores.
    const std::uint64_t seq = storage::next_object_sequence();
    const auto asked = std::chrono::steady_clock::now();
    auto res = co_await fetch_from(g, group, t, oreq, &key, &req);
    // Every reply below was made from this answer: the access log shows how long it took.
    const SteadyDuration origin_time = res ? std::chrono::steady_clock::now() - asked : kNoOrigin;
    const TimePoint response_time = shared_.clock.now();
    const Outcome outcome = stale ? Outcome::expired : Outcome::miss;
    if (!res) {
        const auto e = static_cast<Errc>(res.error().value());
        if (stale && cache::may_serve_stale_on_error(stale->meta, response_time, policy))
            co_return serve_stale(g, std::move(stale), req, response_time,
                                  fmt::format("stale-if-error; {}", make_error_code(e).message()));
        co_return origin_failure(g, e, outcome, req);
    }
    if (slice && (res->head.result_int() == 206 || res->head.result_int() == 416))
        if (auto r = co_await on_slice_response(g, req, group, t, key, *slice, *res, guard,
                                                stale != nullptr, request_time, response_time, seq))
            co_return with_origin_time(std::move(*r), origin_time);
    const upstream::OriginHead& head = res->head;
    const unsigned status = head.result_int();
    learn_hints(group, key, status, head);
    if (stale && cache::is_origin_error_status(status) &&
        cache::may_serve_stale_on_error(stale->meta, response_time, policy))
        co_return with_origin_time(
            serve_stale(g, std::move(stale), req, response_time,
                        fmt::format("stale-if-error; origin status {}", status)),
            origin_time);

    if (!stale && status == 304) {
        // A 304 to an unconditional request has nothing to refer to.
        metrics.origin_error(Errc::origin_bad_response);
        co_return with_origin_time(origin_failure(g, Errc::origin_bad_response, outcome, req),
                                   origin_time);
    }
    if (stale && status == 304) {
        // revalidated: refresh the stored fields and freshness, keep the stored body.
        ParsedHead stored = parse_head(stale->head());
        merge_not_modified(stored.fields, head);
        // A 304 without Date was made now (RFC 9110 section 6.6.1): the stored Date would
        // otherwise age the refreshed response from the first fetch.
        if (head.find(beast_http::field::date) == head.end())
            stored.fields.set(beast_http::field::date, format_http_date(response_time));
        const cache::ResponseFacts f = facts_of(stored.status, stored.fields, g.config.cc_sources);
        const auto meta = cache::make_meta(f, request_time, response_time, policy, random01());
        const std::string vary = revalidated_vary(
            shared_.store, key, keyed_vary(stored.fields[beast_http::field::vary], group),
            group.compression, stored.status, stored.fields, stale->body_size());
        auto fresh = build_object(key, stored.status, stored.reason, stored.fields, stale->body,
                                  meta, response_time,
                                  {.seq = seq, .vary_accept_encoding = varies_on_coding(vary)});
        auto entry = store_response(key, req, fresh, vary);
        if (entry) metrics.stores.inc();
        if (guard) guard->finish({entry, nullptr}, Seconds(0));
        co_return with_origin_time(
            deliver(g, std::move(fresh), Outcome::revalidated, req, response_time,
                    fmt::format("fwd=stale; fwd-status=304; ttl={}", meta.lifetime.count())),
            origin_time);
    }

    // store?
    const cache::ResponseFacts f = facts_of(status, head, g.config.cc_sources);
    const cache::StoreVerdict verdict = cache::storability(facts, f, response_time, policy);
    auto meta = cache::make_meta(f, request_time, response_time, policy, random01());
    const std::optional<std::uint64_t> length = res->body->content_length();
    meta.content_length_known = length.has_value();
    const std::uint64_t limit = std::min<std::uint64_t>(g.config.origin_pool.max_body_bytes,
                                                        shared_.store.max_object_bytes());
    const bool cacheable = verdict == cache::StoreVerdict::store;
    const std::string_view fwd = stale ? "fwd=stale" : "fwd=uri-miss";
    const BuildOptions framing{.content_length = length, .no_length = !length, .seq = seq};
    const bool too_large = length && *length > limit;
    // A fill holds its body in memory until its last reader is done: it needs room in the
    // in-flight budget (the whole length when known), else the body streams through uncached.
    std::optional<InflightBudget::Reservation> room;
    if (cacheable && !too_large) {
        room = shared_.inflight.try_reserve(length.value_or(0));
        if (!room) metrics.inflight_bypassed.inc();
    }

    if (!room) {
        // Not for the cache (or no memory to fill it now): relay the body straight from the
        // origin to this client, as fast as it reads.
        if (cacheable && too_large) metrics.store_rejected.inc();
        if (stale) shared_.store.remove(key);
        // Waiters fetch alone; an object that only missed the memory is not hit-for-pass.
        if (guard) guard->finish({}, cacheable && !too_large ? Seconds(0) : g.config.hit_for_pass);
        if (status == 200 && req.msg.method() == beast_http::verb::get &&
            req.msg.count(beast_http::field::range) > 0) {
            // The whole object will not be cached, so fetching it all for one range is waste:
            // drop this response and let the origin answer the Range itself.
            res->body.reset();
            co_return co_await pass(g, req, group, t, "fwd=miss; detail=\"uncacheable-range\"");
        }
        auto obj =
            build_object(key, status, head.reason(), head, nullptr, meta, response_time, framing);
        Reply r = deliver(g, obj, outcome, req, response_time,
                          fmt::format("{}; fwd-status={}; detail=\"{}\"", fwd, status,
                                      !cacheable  ? cache::to_string(verdict)
                                      : too_large ? "too-large"
                                                  : "inflight-memory"),
                          false);
        stream_body(r, obj, std::make_unique<OriginBodySource>(std::move(res->body)),
                    length.has_value(), req);
        r.origin_time = origin_time;
        co_return r;
    }

    if (length && *length <= kInlineFillBytes && res->body->buffered() >= *length &&
        !f.has_set_cookie) {
        // A small body that came in with the head (the common miss) is taken here, before
        // answering: the client then gets one write of head and body, the object stored, with
        // no fill task, stream or wake-ups in between. A body still on its way streams (below),
        // so a slow origin's first bytes reach the client at once. Collapsed waiters wait for
        // the guard, as they wait for a fill.
        res->body->set_deadline(std::chrono::steady_clock::now() + g.config.origin_fill_timeout);
        auto buffer = Body::make_for_overwrite(static_cast<std::size_t>(*length));
        std::size_t got = 0;
        Errc failed{};
        for (;;) {
            // One byte more than announced: the read that sees the end has room to.
            char end[1];
            const bool full = got == buffer->size();
            auto n = co_await res->body->read_some(full ? end : buffer->data() + got,
                                                   full ? sizeof end : buffer->size() - got);
            if (!n) {
                failed = static_cast<Errc>(n.error().value());
                break;
            }
            if (*n == 0) break;
            if (full) {  // the parser keeps to Content-Length: never, but never store it
                failed = Errc::origin_bad_response;
                break;
            }
            got += *n;
        }
        if (failed == Errc{} && got != buffer->size()) failed = Errc::origin_closed;
        if (failed != Errc{}) {
            metrics.origin_error(failed);
            if (guard) guard->finish({}, Seconds(0));
            co_return with_origin_time(origin_failure(g, failed, outcome, req), origin_time);
        }
        auto obj = store_filled(
            key, req, status, head.reason(), head, std::move(buffer), meta, response_time, seq,
            compression_vary(keyed_vary(f.vary, group), group.compression, status, head, length),
            guard.get());
        obj = with_compression(shared_.store, metrics, group.compression, key, req, std::move(obj),
                               response_time);
        co_return with_origin_time(deliver(g, std::move(obj), outcome, req, response_time,
                                           fmt::format("{}; fwd-status={}; stored; ttl={}", fwd,
                                                       status, meta.lifetime.count())),
                                   origin_time);
    }

    // Cacheable: the fill reads the body into a stream on its own; this client and any
    // collapsed waiters read that stream as it grows. The shared copy never carries a
    // Set-Cookie: one user's cookie is not for the next.
    auto body = std::make_shared<BodyStream>(length, std::move(*room));
    std::string vary =
        compression_vary(keyed_vary(f.vary, group), group.compression, status, head, length);
    BuildOptions shared_opts = framing;
    shared_opts.vary_accept_encoding = varies_on_coding(vary);
    shared_opts.strip_set_cookie = true;
    shared_opts.accept_ranges = status == 200;
    auto shared_head =
        build_object(key, status, head.reason(), head, nullptr, meta, response_time, shared_opts);
    storage::ObjectPtr client_head = shared_head;
    if (f.has_set_cookie) {
        BuildOptions own = framing;
        own.accept_ranges = status == 200;
        own.vary_accept_encoding = shared_opts.vary_accept_encoding;
        client_head =
            build_object(key, status, head.reason(), head, nullptr, meta, response_time, own);
    }
    if (guard) guard->publish({variant_entry(key, req, shared_head, vary, false), body});
    FillJob job{std::move(res->body),
                body,
                key,
                req,
                status,
                std::string(head.reason()),
                Fields(head),
                meta,
                response_time,
                std::move(vary),
                limit,
                g.config.origin_fill_timeout,
                seq,
                std::move(guard)};
    asio::co_spawn(executor_, fill(std::move(job)), asio::detached);

    std::string params =
        fmt::format("{}; fwd-status={}; stored; ttl={}", fwd, status, meta.lifetime.count());
    if (req.msg.method() == beast_http::verb::get && status == 200 &&
        req.msg.count(beast_http::field::range) > 0) {
        // A range needs the whole object: wait for the fill, then answer from the stored copy.
        if (co_await body->finished(body_timeout(g)))
            if (auto stored = select_variant(shared_.store.lookup(key), req))
                co_return with_origin_time(
                    deliver(g, std::move(stored), outcome, req, response_time, params),
                    origin_time);
    }
    Reply r = deliver(g, client_head, outcome, req, response_time, params);
    stream_body(r, client_head, std::make_unique<BodyStreamReader>(body, body_timeout(g)),
                length.has_value(), req);
    r.origin_time = origin_time;
    co_return r;
}

asio::awaitable<void> EdgeHandler::fill(FillJob job) {
    auto& metrics = shared_.metrics;
    bool complete = false;
    // Between bytes the response timeout applies; the whole body gets origin_fill, so an origin
    // that trickles cannot hold a fill (and its collapsed waiters) for ever.
    job.origin_body->set_deadline(std::chrono::steady_clock::now() + job.fill_timeout);
    // A known length is read straight into the body's own buffer; otherwise through one read
    // buffer for the whole fill, each piece then kept at its own size. Once a known length is
    // all in, one more read (of a byte, into `tail`) sees the end: no 64 KiB buffer for it.
    std::unique_ptr<char[]> buffer;
    constexpr std::size_t kRead = 64 * 1024;
    char tail[1];
    for (;;) {
        std::span<char> into = job.body->space();
        const bool in_place = !into.empty();
        if (!in_place && job.body->full()) {
            into = {tail, sizeof tail};
        } else if (!in_place) {
            // Not zero-filled: every byte read into it is overwritten first.
            if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(kRead);
            into = {buffer.get(), kRead};
        }
        auto n = co_await job.origin_body->read_some(into.data(), std::min(into.size(), kRead));
        if (!n) {
            metrics.origin_error(static_cast<Errc>(n.error().value()));
            break;
        }
        if (*n == 0) {
            complete = true;
            break;
        }
        if (!(in_place ? job.body->commit(*n) : job.body->append({into.data(), *n}))) break;
        if (job.body->size() > job.limit) {
            // A body of unannounced length outgrew what the cache takes: cut it off rather than
            // hold it all in memory (readers see a short body).
            metrics.store_rejected.inc();
            break;
        }
    }
    job.body->finish(complete);
    auto whole = job.body->whole();
    if (!whole) co_return;  // the guard releases the key: nothing half-written is stored
    job.meta.content_length_known = true;
    store_filled(job.key, job.req, job.status, job.reason, job.fields, std::move(whole), job.meta,
                 job.response_time, job.seq, job.vary, job.guard.get());
}

storage::ObjectPtr EdgeHandler::store_filled(const std::string& key, const Request& req,
                                             unsigned status, std::string_view reason,
                                             const Fields& fields, BodyPtr body,
                                             const storage::ObjectMeta& meta,
                                             TimePoint response_time, std::uint64_t seq,
                                             std::string_view vary, cache::FillGuard* guard) {
    auto obj = build_object(key, status, reason, fields, std::move(body), meta, response_time,
                            {.strip_set_cookie = true,
                             .accept_ranges = status == 200,
                             .seq = seq,
                             .vary_accept_encoding = varies_on_coding(vary)});
    auto entry = store_response(key, req, obj, vary);
    if (entry)
        shared_.metrics.stores.inc();
    else
        shared_.metrics.store_rejected.inc();
    if (guard) guard->finish({entry, nullptr}, Seconds(0));
    return obj;
}

void EdgeHandler::stream_body(Reply& r, const storage::ObjectPtr& head,
                              std::unique_ptr<http::BodySource> source, bool length_known,
                              const Request& req) const {
    // Only a reply that still carries this head has this body (not a 304 built from it), and
    // a HEAD or a bodiless status has none.
    // (deliver may hand out a copy of head without the CDN's own fields: same status, same body;
    // a 304, 206 or 416 made from head has another status.)
    const unsigned st = head->status;
    if (!r.object || r.object->status != st || r.head_only || st < 200 || st == 204 || st == 304)
        return;
    r.stream = std::move(source);
    if (length_known) return;
    if (req.msg.version() >= 11) {
        r.chunked = true;
        r.extra.append("Transfer-Encoding: chunked\r\n");
    } else {
        r.close = true;  // HTTP/1.0: the end of the connection ends the body
    }
}

asio::awaitable<Reply> EdgeHandler::pass(const Gen& g, const Request& req, const OriginGroup& group,
                                         const Target& t, std::string_view why) {
    upstream::OriginRequest oreq = origin_request(g, req, group, t, false);
    const TimePoint request_time = shared_.clock.now();
    const auto asked = std::chrono::steady_clock::now();
    auto res = co_await fetch_from(g, group, t, oreq, nullptr, &req);
    const TimePoint response_time = shared_.clock.now();
    if (!res && static_cast<Errc>(res.error().value()) == Errc::bad_request)
        co_return unreadable_body(req);  // the client's deferred body, not the origin
    if (!res)
        co_return origin_failure(g, static_cast<Errc>(res.error().value()), Outcome::pass, req);
    const SteadyDuration origin_time = std::chrono::steady_clock::now() - asked;
    invalidate_after_unsafe(g, req, t, res->head);
    if (group.early_hints.enabled && req.msg.method() == beast_http::verb::get)
        learn_hints(group, cache::make_cache_key(req.scheme, t.host, t.path, g.config.key),
                    res->head.result_int(), res->head);
    const cache::ResponseFacts f = facts_of(res->head.result_int(), res->head, g.config.cc_sources);
    const auto meta = cache::make_meta(f, request_time, response_time, g.config.freshness);
    const bool head = req.msg.method() == beast_http::verb::head;
    const std::optional<std::uint64_t> length = res->body->content_length();
    auto obj = build_object(
        {}, res->head.result_int(), res->head.reason(), res->head, nullptr, meta, response_time,
        {.head_response = head, .content_length = length, .no_length = !length});
    Reply r = deliver(g, obj, Outcome::pass, req, response_time, why, false);
    stream_body(r, obj, std::make_unique<OriginBodySource>(std::move(res->body)),
                length.has_value(), req);
    r.origin_time = origin_time;
    co_return r;
}

Reply EdgeHandler::deliver(const Gen& g, storage::ObjectPtr obj, Outcome outcome,
                           const Request& req, TimePoint now, std::string_view status_params,
                           bool conditional) const {
    // The client's own validators are answered from the cache (RFC 9110 section 13.2.1).
    if (conditional && obj->status == 200) {
        const std::string_view inm = req.msg[beast_http::field::if_none_match];
        const std::string_view ims = req.msg[beast_http::field::if_modified_since];
        if ((!inm.empty() || !ims.empty()) &&
            cache::not_modified(inm, ims, obj->etag(), obj->last_modified()))
            obj = not_modified_reply(*obj);
    }
    Reply r;
    // Byte ranges of a full stored response (GET only; a HEAD ignores Range).
    if (conditional && obj->status == 200 && obj->body &&
        req.msg.method() == beast_http::verb::get) {
        const std::string_view range = req.msg[beast_http::field::range];
        if (!range.empty() && if_range_matches(req.msg[beast_http::field::if_range], obj->etag(),
                                               obj->last_modified())) {
            const auto set = http_range::parse_range(range, obj->body_size());
            if (set.status == http_range::RangeStatus::unsatisfiable) {
                obj = unsatisfiable_object(*obj);
            } else if (set.status == http_range::RangeStatus::satisfiable &&
                       set.ranges.size() == 1) {
                r.body_offset = static_cast<std::size_t>(set.ranges[0].first);
                r.body_length = static_cast<std::size_t>(set.ranges[0].length());
                obj = partial_object(*obj, set.ranges[0]);
            } else if (set.status == http_range::RangeStatus::satisfiable) {
                obj = multipart_object(*obj, set.ranges);
            }
        }
    }
    // Fields meant for CDNs (CDN-Cache-Control...) go only to another cache (a request with
    // CDN-Loop), unless the operator forwards them to everyone.
    if (obj->meta.cdn_fields && !g.config.forward_cdn_fields &&
        req.msg.find("CDN-Loop") == req.msg.end())
        obj = without_cdn_fields(std::move(obj), g.config.cc_sources);
    // One formatting, one allocation, X-Request-Id included: this runs on every hit.
    const bool id = !req.id.empty();
    r.extra = fmt::format("Age: {}\r\nX-Cache: {}\r\nCache-Status: {}; {}\r\n{}{}{}",
                          cache::current_age(obj->meta, now).count(), cache::x_cache(outcome),
                          g.config.name, status_params, id ? "X-Request-Id: " : "", req.id.view(),
                          id ? "\r\n" : "");
    r.object = std::move(obj);
    r.outcome = to_label(outcome);
    r.head_only = req.msg.method() == beast_http::verb::head;
    return r;
}

Reply EdgeHandler::serve_stale(const Gen& g, storage::ObjectPtr stale, const Request& req,
                               TimePoint now, std::string_view why) const {
    Reply r =
        deliver(g, stale, Outcome::stale, req, now,
                fmt::format("hit; ttl={}; detail=\"{}\"", cache::ttl_left(stale->meta, now), why));
    r.detail = why;
    return r;
}

void EdgeHandler::start_refresh(const std::shared_ptr<const Pinned>& pin, const Request& req,
                                const OriginGroup& group, const Target& t, const std::string& key,
                                const cache::RequestFacts& facts, storage::ObjectPtr stale) {
    if (!shared_.refreshing.try_acquire(key)) return;  // one refresh per key at a time
    RefreshJob job{pin, req, &group, t, key, facts, std::move(stale)};
    job.req.interim = nullptr;  // the client is served already; nobody takes hints
    asio::co_spawn(executor_, refresh(std::move(job)), asio::detached);
}

asio::awaitable<void> EdgeHandler::refresh(RefreshJob job) {
    // Released however the refresh ends, so a failure cannot pin the key.
    struct Release {
        cache::InflightKeys& keys;
        const std::string& key;
        ~Release() { keys.release(key); }
    } release{shared_.refreshing, job.key};
    (void)co_await fetch_and_store(*job.pin->gen, job.req, *job.group, job.target, job.key,
                                   job.facts, job.stale, nullptr);
}

Reply EdgeHandler::origin_failure(const Gen& g, Errc e, Outcome outcome, const Request& req) const {
    const unsigned status = e == Errc::origin_timeout ? 504 : e == Errc::no_origin ? 503 : 502;
    const char* what = status == 504   ? "Gateway timeout"
                       : status == 503 ? "Service unavailable"
                                       : "Bad gateway";
    Reply r = make_reply(status, fmt::format("{}: {}\n", what, make_error_code(e).message()),
                         Outcome::error);
    const char* detail = e == Errc::origin_timeout        ? "origin-timeout"
                         : e == Errc::origin_unreachable  ? "origin-unreachable"
                         : e == Errc::origin_bad_response ? "origin-bad-response"
                         : e == Errc::origin_tls          ? "origin-tls"
                         : e == Errc::no_origin           ? "no-origin-available"
                                                          : "origin-closed";
    r.extra = fmt::format("X-Cache: {}\r\nCache-Status: {}; fwd={}; detail=\"{}\"\r\n",
                          cache::x_cache(Outcome::error), g.config.name,
                          outcome == Outcome::pass ? "bypass" : "uri-miss", detail);
    add_request_id(r, req);
    r.detail = detail;
    // The access log gets the TLS reason (certificate, name...); the client only the category.
    // Called right after the failed fetch, with no suspension in between, so the pool's last
    // TLS failure is this request's.
    if (e == Errc::origin_tls && !upstream_->last_tls_failure().empty())
        r.detail += ": " + upstream_->last_tls_failure();
    return r;
}

asio::awaitable<Result<upstream::UpstreamResponse>> EdgeHandler::fetch_from(
    const Gen& g, const OriginGroup& group, const Target& t, upstream::OriginRequest& req,
    const std::string* key, const Request* client) {
    upstream::InterimHandler hints;
    if (client && client->interim)
        hints = [writer = client->interim](const upstream::OriginHead& h) {
            return relay_early_hints(writer, h);
        };
    upstream::UpstreamCall call;
    call.req = &req;
    call.host = t.host;
    call.origins = g.origin_sets[g.config.index_of(group)].get();
    call.retries = group.retries;
    if (key && !g.parent_routes.empty()) {
        if (const ParentGroup* p = g.config.parents_for(t.host)) {
            call.parents = &g.parent_routes[g.config.index_of(*p)];
            call.key_hash = upstream::hrw_key_hash(*key);
        }
    }
    call.hints = hints ? &hints : nullptr;
    upstream::UploadProvider upload;
    if (client && client->deferred_body) {
        upload = [body = client->deferred_body] { return body->read(); };
        call.upload = &upload;
    }
    auto res = co_await upstream_->fetch(call);
    if (res)
        res->body =
            std::make_unique<CountingBody>(std::move(res->body), shared_.metrics.origin_body_bytes);
    co_return res;
}

// The field that marks a request from a PoP peer: the receiver fetches it itself, so a key is
// never passed on twice inside a PoP. Never sent further upstream.
constexpr std::string_view kPeerField = "CDN-Peer";

asio::awaitable<std::optional<Reply>> EdgeHandler::from_peer(const Gen& g, const Request& req,
                                                             const OriginGroup& group,
                                                             const Target& t,
                                                             const std::string& key) {
    if (req.msg.find(kPeerField) != req.msg.end()) co_return std::nullopt;
    const std::size_t self = *g.config.peering->self;
    bool spilled = false;
    auto lease = g.peer_set->pick_bounded(upstream::hrw_key_hash(key), shared_.clock.now(),
                                          g.config.peering->load_cap, self, &spilled);
    if (spilled) shared_.metrics.peer_spills.inc();  // to another peer, or to this edge
    if (!lease || lease->index() == self) co_return std::nullopt;
    // The client's own request (conditionals and Range included: the owner answers them from
    // its copy), to the peer, for the Host the client asked for.
    upstream::OriginRequest oreq = origin_request(g, req, group, t, false);
    oreq.set(beast_http::field::host, t.host);
    oreq.set(kPeerField, g.config.name);
    upstream::UpstreamCall call;
    call.req = &oreq;
    call.host = t.host;
    call.peer = &lease->server();
    shared_.metrics.peer_fetches.inc();
    const TimePoint request_time = shared_.clock.now();
    const auto asked = std::chrono::steady_clock::now();
    auto res = co_await upstream_->fetch(call);
    const unsigned status = res ? res->head.result_int() : 0;
    const bool failed = !res || upstream::parent_failed(status);
    g.peer_set->report(lease->index(), !failed, shared_.clock.now());
    if (failed) {
        shared_.metrics.peer_failures.inc();
        co_return std::nullopt;  // fetch it here, as its owner would have
    }
    const TimePoint response_time = shared_.clock.now();
    const cache::ResponseFacts f = facts_of(status, res->head, g.config.cc_sources);
    const auto meta = cache::make_meta(f, request_time, response_time, g.config.freshness);
    const bool head = req.msg.method() == beast_http::verb::head;
    const std::optional<std::uint64_t> length = res->body->content_length();
    auto obj =
        build_object({}, status, res->head.reason(), res->head, nullptr, meta, response_time,
                     {.head_response = head, .content_length = length, .no_length = !length});
    Reply r = deliver(g, obj, Outcome::miss, req, response_time,
                      fmt::format("fwd=uri-miss; fwd-status={}; detail=\"peer {}\"", status,
                                  lease->server().url.authority()),
                      false);
    stream_body(r, obj, std::make_unique<OriginBodySource>(std::move(res->body)),
                length.has_value(), req);
    r.origin_time = std::chrono::steady_clock::now() - asked;
    co_return r;
}

bool EdgeHandler::is_loop(const Gen& g, const Request& req) const {
    unsigned hops = 0;
    // equal_range: a lookup in the fields' index, not a scan of every field, on every hit.
    const auto [first, last] = req.msg.equal_range("CDN-Loop");
    for (auto it = first; it != last; ++it) {
        const auto& f = *it;
        // cdn-info = cdn-id *( OWS ";" OWS parameter ), comma-separated (RFC 8586 section 2).
        for (std::string_view rest = f.value(); !rest.empty();) {
            const auto comma = rest.find(',');
            std::string_view info = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            info = http_util::trim(info.substr(0, info.find(';')));
            if (info.empty()) continue;
            if (info == g.config.name || ++hops >= g.config.max_hops) return true;
        }
    }
    return false;
}

upstream::OriginRequest EdgeHandler::origin_request(const Gen& g, const Request& req,
                                                    const OriginGroup& group, const Target& t,
                                                    bool for_cache) const {
    upstream::OriginRequest o;
    if (req.msg.method() == beast_http::verb::unknown)
        o.method_string(req.msg.method_string());
    else
        o.method(req.msg.method());
    o.target(t.path);
    o.version(11);
    const std::string_view connection = req.msg[beast_http::field::connection];
    std::string forwarded_for;
    for (const auto& f : req.msg) {
        const std::string_view name = f.name_string();
        if (http_util::is_hop_by_hop(name) || http_util::list_has_token(connection, name)) continue;
        if (http_util::iequals(name, "host") || http_util::iequals(name, "expect") ||
            http_util::iequals(name, "content-length") ||
            http_util::iequals(name, "x-request-id") || http_util::iequals(name, kPeerField))
            continue;
        if (http_util::iequals(name, "x-forwarded-for")) {
            forwarded_for.append(f.value()).append(", ");
            continue;
        }
        if (for_cache && is_conditional_or_range(name)) continue;
        if (cache::is_unkeyed_override(name) && !passes(group, name)) continue;
        o.insert(name, f.value());
    }
    // The scheme the client used, as the edge knows it (a client's own claim was dropped above).
    if (!passes(group, "x-forwarded-proto")) o.set("X-Forwarded-Proto", req.scheme);
    // The Host the key was made from (normalised, or the target's authority), never the
    // client's spelling of it: what the origin sees is what the cache files it under.
    o.set(beast_http::field::host, group.host_header.empty() ? std::string_view(t.host)
                                                             : std::string_view(group.host_header));
    forwarded_for.append(to_string(req.client.address()));
    o.set("X-Forwarded-For", forwarded_for);
    // RFC 8586: this edge's own entry after those of the caches before it (copied above).
    o.insert("CDN-Loop", g.config.name);
    std::string via(req.msg[beast_http::field::via]);
    via.append(via.empty() ? "" : ", ").append("1.1 ").append(g.config.name);
    o.set(beast_http::field::via, via);
    // The request's own id (the client's when sane, see assign_request_id), so the origin's
    // logs can be joined with the edge's.
    if (!req.id.empty()) o.set("X-Request-Id", req.id.view());
    if (!for_cache &&
        (!req.msg.body().empty() || req.msg.has_content_length() || req.msg.chunked())) {
        o.body() = req.msg.body();
        o.prepare_payload();
        // Still on the client's wire: the origin is asked first (Expect), the body sent after.
        if (req.deferred_body) {
            o.set(beast_http::field::content_length, req.msg[beast_http::field::content_length]);
            o.set(beast_http::field::expect, "100-continue");
        }
    }
    return o;
}

void EdgeHandler::invalidate_after_unsafe(const Gen& g, const Request& req, const Target& t,
                                          const upstream::OriginHead& res) {
    using beast_http::verb;
    const verb m = req.msg.method();
    const bool safe = m == verb::get || m == verb::head || m == verb::options || m == verb::trace;
    if (safe || res.result_int() >= 400) return;
    auto drop = [&](std::string_view target) {
        shared_.store.remove(cache::make_cache_key(req.scheme, t.host, target, g.config.key));
    };
    drop(t.path);
    for (const auto field : {beast_http::field::location, beast_http::field::content_location}) {
        std::string_view uri = res[field];
        if (uri.starts_with("http://") || uri.starts_with("https://")) {
            // Same host only: another host's cache entries are not this response's to drop.
            uri.remove_prefix(uri.find("//") + 2);
            const auto slash = uri.find('/');
            if (cache::normalize_host(req.scheme, uri.substr(0, slash)) != t.host) continue;
            uri = slash == std::string_view::npos ? "/" : uri.substr(slash);
        }
        if (uri.starts_with('/')) drop(uri);
    }
}

storage::ObjectPtr EdgeHandler::lookup(const std::string& key, const Request& req,
                                       bool* coding_fallback) {
    storage::ObjectPtr obj = select_variant(shared_.store.lookup(key), req, coding_fallback);
    if (!obj || shared_.purges.empty()) return obj;
    switch (shared_.purges.check(*obj)) {
        case cache::PurgeVerdict::none: return obj;
        case cache::PurgeVerdict::hard:
            // With every variant (and slice): a purge covers them all.
            remove_with_slices(shared_.store, key);
            return nullptr;
        case cache::PurgeVerdict::soft: {
            // Stale from now on: the next use revalidates, and stale-if-error may still serve.
            auto stale = storage::CachedObject::copy(*obj);
            stale->meta.lifetime = storage::Secs32(0);
            stale->meta.stale_while_revalidate = storage::Secs32(0);
            stale->meta.initial_age = std::max(stale->meta.initial_age, storage::Secs32(1));
            return stale;
        }
    }
    return obj;
}

storage::ObjectPtr EdgeHandler::select_variant(storage::ObjectPtr entry, const Request& req,
                                               bool* coding_fallback) {
    if (!entry || !entry->variants) return entry;
    auto get = [&](const std::string& name) { return req.msg[name]; };
    const std::string id = cache::variant_id(entry->variants->fields, get);
    if (auto v = entry->variants->find(id)) return v;
    // The edge's own codings: identity serves every client until the coding it takes is made.
    if (!cache::has_coding_variant(entry->variants->fields)) return nullptr;
    if (coding_fallback) *coding_fallback = true;
    return entry->variants->find(cache::variant_id(entry->variants->fields, get, "identity"));
}

storage::ObjectPtr EdgeHandler::store_response(const std::string& key, const Request& req,
                                               storage::ObjectPtr obj, std::string_view vary) {
    auto entry = variant_entry(key, req, std::move(obj), vary, true);
    return shared_.store.insert(entry) ? entry : nullptr;
}

storage::ObjectPtr EdgeHandler::variant_entry(const std::string& key, const Request& req,
                                              storage::ObjectPtr obj, std::string_view vary,
                                              bool keep_stored_variants) const {
    const cache::VaryFields v = cache::parse_vary(vary);
    if (v.names.empty()) return obj;
    // The new variant first, then the others already stored (if Vary did not change), capped.
    constexpr std::size_t kMaxVariants = 32;
    // Under the edge's own codings an object is filed by its coding (identity from the origin).
    const bool coded = cache::has_coding_variant(v.names);
    const std::string_view coding = obj->field("content-encoding");
    const std::string id = cache::variant_id(
        v.names, [&](const std::string& name) { return req.msg[name]; },
        !coded           ? std::string_view()
        : coding.empty() ? "identity"
                         : coding);
    auto set = storage::make_variant_set();
    set->fields = v.names;
    set->variants.emplace_back(id, obj);
    // peek, not lookup: merging variants is not a use of the stored entry.
    if (auto existing = keep_stored_variants ? shared_.store.peek(key) : nullptr;
        existing && existing->variants && existing->variants->fields == v.names) {
        for (const auto& [other_id, other] : existing->variants->variants)
            // A new identity outdates the variants compressed from the old one.
            if (other_id != id && set->variants.size() < kMaxVariants &&
                !(coded && coding.empty() && !other->field("content-encoding").empty()))
                set->variants.emplace_back(other_id, other);
    }
    auto entry = storage::CachedObject::make(key);
    entry->status = obj->status;
    entry->seq = storage::next_object_sequence();
    entry->meta = obj->meta;
    entry->variants = std::move(set);
    return entry;
}

}  // namespace cdn::edge::proxy
