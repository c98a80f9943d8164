#pragma once
// The request pipeline, read top to bottom as phases: recv (where is it going?), key, lookup,
// then hit / stale / miss, fetch, store, deliver. One handler per worker (it owns that worker's
// origin connections); the store, config and metrics are shared.
#include "common/clock.hpp"
#include "edge/cache/fill_registry.hpp"
#include "edge/cache/hint_table.hpp"
#include "edge/cache/inflight_keys.hpp"
#include "edge/cache/purge_rules.hpp"
#include "edge/config.hpp"
#include "edge/http/exchange.hpp"
#include "edge/proxy/body_stream.hpp"
#include "edge/proxy/edge_metrics.hpp"
#include "edge/proxy/inflight_budget.hpp"
#include "edge/proxy/request_id.hpp"
#include "edge/proxy/response_fields.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/upstream/origin_pool.hpp"
#include "edge/upstream/upstream.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <random>

namespace cdn::edge::proxy {

// One loaded configuration and what is built from it. A request takes the current one when it
// starts and keeps it to its end, so a reload (SIGHUP) never changes a request under way.
struct EdgeGeneration {
    EdgeConfig config;
    // One per config.origins entry, same order: health, breakers and load of each origin. A
    // reload keeps the sets of groups whose servers did not change, with their state.
    std::vector<std::shared_ptr<upstream::OriginSet>> origin_sets;
    // One per config.parents entry, same order, and the routes requests take through them.
    std::vector<std::shared_ptr<upstream::OriginSet>> parent_sets;
    std::vector<upstream::ParentRoute> parent_routes;
    std::shared_ptr<upstream::OriginSet> peer_set;  // [peering] peers, this edge included
    std::uint64_t number = 1;                       // 1 at start-up, +1 per reload
};

struct EdgeShared {
    storage::ObjectStore& store;
    EdgeMetrics& metrics;
    const Clock& clock;
    cache::InflightKeys& refreshing;  // keys with a background refresh under way
    cache::FillRegistry& fills;       // request collapsing
    const cache::PurgeRules& purges;  // what purges cover, checked on every lookup
    InflightBudget& inflight;         // memory for bodies being filled and read, outside the cache
    cache::HintTable* hints = nullptr;  // learned Early Hints ([origin.early_hints]); null: none
};

class EdgeHandler final : public http::RequestHandler {
  public:
    // `upstream`: where misses and passes go; null: the real one (parents, then origins), with
    // a connection pool of this worker's own.
    EdgeHandler(EdgeShared shared, std::shared_ptr<const EdgeGeneration> generation,
                boost::asio::any_io_executor executor,
                std::unique_ptr<upstream::Upstream> upstream = nullptr);
    boost::asio::awaitable<http::Reply> handle(http::Request& req) override;
    // Expect: 100-continue: the refusals handle() would give without the body (precheck.cpp).
    std::optional<http::Reply> precheck(const http::Request& req) override;
    // Requests from now on use `generation`; those under way keep theirs. Call on the
    // handler's executor.
    void set_generation(std::shared_ptr<const EdgeGeneration> generation);
    std::uint64_t generation() const { return current_->gen->number; }

  private:
    // The current generation behind a pointer of this worker's own: a request pins it with a
    // reference count no other worker touches.
    struct Pinned {
        std::shared_ptr<const EdgeGeneration> gen;
    };
    using Gen = EdgeGeneration;
    struct Target {
        std::string host;  // normalised
        std::string path;  // origin-form: path and query
    };
    std::optional<Target> recv(const http::Request& req) const;
    // What handle() answers before any cache work, counted: a bad target or Host (400, closes),
    // a loop (508), a host no group serves (421); nullopt when the request goes ahead. Also
    // precheck's answer, before an upload's 100 Continue.
    std::optional<http::Reply> refuse_early(const Gen& g, const http::Request& req,
                                            const std::optional<Target>& target);
    // The stored response for key that this request may use, after purges had their say: a
    // hard-purged object is dropped (a miss), a soft-purged one comes back already stale.
    // coding_fallback (may be null): set when the client takes a coding whose compressed variant
    // is not made yet, and the identity was selected instead (see select_variant).
    storage::ObjectPtr lookup(const std::string& key, const http::Request& req,
                              bool* coding_fallback = nullptr);
    boost::asio::awaitable<http::Reply> pass(const Gen& g, const http::Request& req,
                                             const OriginGroup& group, const Target& t,
                                             std::string_view why);
    // A miss or a stale entry: collapse onto a fetch already under way, or lead one.
    boost::asio::awaitable<http::Reply> miss(const Gen& g, const http::Request& req,
                                             const OriginGroup& group, const Target& t,
                                             std::string key, const cache::RequestFacts& facts,
                                             storage::ObjectPtr stale, TimePoint now);
    // Fetches; a cacheable body is filled into the cache by its own coroutine while clients
    // read it as it arrives. A leader's guard is handed to the fill.
    boost::asio::awaitable<http::Reply> fetch_and_store(const Gen& g, const http::Request& req,
                                                        const OriginGroup& group, const Target& t,
                                                        std::string key,
                                                        const cache::RequestFacts& facts,
                                                        storage::ObjectPtr stale,
                                                        std::unique_ptr<cache::FillGuard> guard);
    // A HEAD that found its stored GET stale: revalidated with a conditional HEAD (RFC 9111
    // section 4.3.5; head_refresh.cpp).
    boost::asio::awaitable<http::Reply> refresh_by_head(const Gen& g, const http::Request& req,
                                                        const OriginGroup& group, const Target& t,
                                                        const std::string& key,
                                                        storage::ObjectPtr stale);
    // Early Hints (early_hints.cpp): learn the hint Links of a response for key; send the
    // learned ones to the client as a 103 before a miss or revalidation asks the origin.
    void learn_hints(const OriginGroup& group, const std::string& key, unsigned status,
                     const Fields& head);
    boost::asio::awaitable<void> send_learned_hints(const OriginGroup& group,
                                                    const std::string& key,
                                                    const http::Request& req);
    struct FillJob {
        std::unique_ptr<upstream::ResponseBody> origin_body;
        std::shared_ptr<BodyStream> body;
        std::string key;
        http::Request req;  // for the variant id
        unsigned status;
        std::string reason;
        Fields fields;
        storage::ObjectMeta meta;
        TimePoint response_time;
        std::string vary;
        std::uint64_t limit;
        std::chrono::milliseconds fill_timeout;  // [timeouts] origin_fill
        std::uint64_t seq;                       // reserved when the fetch started
        std::unique_ptr<cache::FillGuard> guard;
    };
    boost::asio::awaitable<void> fill(FillJob job);
    // A complete cacheable body (from a fill, or taken with the head): the object the cache keeps
    // (no Set-Cookie; Accept-Ranges on a 200), stored under key, counted, and handed to the
    // collapsed waiters through guard (may be null). Returns that object.
    storage::ObjectPtr store_filled(const std::string& key, const http::Request& req,
                                    unsigned status, std::string_view reason, const Fields& fields,
                                    BodyPtr body, const storage::ObjectMeta& meta,
                                    TimePoint response_time, std::uint64_t seq,
                                    std::string_view vary, cache::FillGuard* guard);
    // Attaches a body source to a reply whose object is `head`, with the framing the client
    // needs (chunked when the length is unknown; close-delimited for HTTP/1.0).
    void stream_body(http::Reply& r, const storage::ObjectPtr& head,
                     std::unique_ptr<http::BodySource> source, bool length_known,
                     const http::Request& req) const;
    static std::chrono::milliseconds body_timeout(const Gen& g) {
        return g.config.origin_pool.response_timeout + std::chrono::seconds(5);
    }
    // Builds the reply; answers a matching conditional GET/HEAD with 304 when `conditional`.
    http::Reply deliver(const Gen& g, storage::ObjectPtr obj, cache::Outcome outcome,
                        const http::Request& req, TimePoint now, std::string_view status_params,
                        bool conditional = true) const;
    http::Reply origin_failure(const Gen& g, Errc e, cache::Outcome outcome,
                               const http::Request& req) const;
    // A 400 for a request whose deferred body (Expect: 100-continue) could not be read.
    static http::Reply unreadable_body(const http::Request& req);
    http::Reply serve_stale(const Gen& g, storage::ObjectPtr stale, const http::Request& req,
                            TimePoint now, std::string_view why) const;

    // stale-while-revalidate: one background refresh per key, never blocking a client.
    struct RefreshJob {
        std::shared_ptr<const Pinned> pin;  // the generation of that request
        http::Request req;                  // a copy of the request that found the entry stale
        const OriginGroup* group;
        Target target;
        std::string key;
        cache::RequestFacts facts;
        storage::ObjectPtr stale;
    };
    void start_refresh(const std::shared_ptr<const Pinned>& pin, const http::Request& req,
                       const OriginGroup& group, const Target& t, const std::string& key,
                       const cache::RequestFacts& facts, storage::ObjectPtr stale);
    boost::asio::awaitable<void> refresh(RefreshJob job);
    upstream::OriginRequest origin_request(const Gen& g, const http::Request& req,
                                           const OriginGroup& group, const Target& t,
                                           bool for_cache) const;
    // Sends req upstream: for a cacheable fetch (`key` set) to the key's parent when the host
    // has parents, then to the group's origins (upstream.hpp has the order and the retries).
    // Errc::no_origin when nothing is available. The client's 103s (Early Hints) are relayed
    // as they come when `client` has an interim writer.
    boost::asio::awaitable<Result<upstream::UpstreamResponse>> fetch_from(
        const Gen& g, const OriginGroup& group, const Target& t, upstream::OriginRequest& req,
        const std::string* key, const http::Request* client = nullptr);
    // PoP peering: a miss whose key another peer owns is answered from that peer (not stored
    // here); nullopt when this edge is to fetch it itself (it owns the key, the request came
    // from a peer, or the peer failed).
    boost::asio::awaitable<std::optional<http::Reply>> from_peer(const Gen& g,
                                                                 const http::Request& req,
                                                                 const OriginGroup& group,
                                                                 const Target& t,
                                                                 const std::string& key);
    // RFC 8586: a request that already went through this edge (its name in CDN-Loop), or
    // through max_hops caches, is a loop.
    bool is_loop(const Gen& g, const http::Request& req) const;
    // The entry for this request: the URL's object, or its variant for the request's fields.
    // Under the edge's own codings, the identity stands in for a coding not made yet; then
    // *coding_fallback (when given) is set.
    static storage::ObjectPtr select_variant(storage::ObjectPtr entry, const http::Request& req,
                                             bool* coding_fallback = nullptr);
    // Stores a response under key (in the URL's variant set when it varies); returns the entry
    // now stored under key, or nullptr when the store refused it.
    storage::ObjectPtr store_response(const std::string& key, const http::Request& req,
                                      storage::ObjectPtr obj, std::string_view vary);
    // The entry to store under key for obj: obj itself, or a variant set holding it (and, when
    // keep_stored_variants, the other variants already stored).
    storage::ObjectPtr variant_entry(const std::string& key, const http::Request& req,
                                     storage::ObjectPtr obj, std::string_view vary,
                                     bool keep_stored_variants) const;
    // RFC 9111 section 4.4: a non-error response to an unsafe method invalidates the target and
    // the Location / Content-Location URIs on the same host.
    void invalidate_after_unsafe(const Gen& g, const http::Request& req, const Target& t,
                                 const upstream::OriginHead& res);
    double random01() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

    // Slicing ([origin.slice]; defined in edge/proxy/slices.cpp).
    friend class SliceBodySource;
    // For a cacheable fetch of a group that slices: sets the Range of the slice holding the
    // first byte the client wants; that slice's index, or nullopt when not slicing.
    std::optional<std::uint64_t> slice_request(const OriginGroup& group, const http::Request& req,
                                               upstream::OriginRequest& oreq) const;
    // A 206 or 416 to a slice request: nullopt when the 206 holds the whole object (its head is
    // now that of a 200, stored as usual); otherwise the reply (from the slices just stored,
    // or passed to the origin when the response cannot be sliced).
    boost::asio::awaitable<std::optional<http::Reply>> on_slice_response(
        const Gen& g, const http::Request& req, const OriginGroup& group, const Target& t,
        const std::string& key, std::uint64_t k, upstream::UpstreamResponse& res,
        std::unique_ptr<cache::FillGuard>& guard, bool expired, TimePoint request_time,
        TimePoint response_time, std::uint64_t seq);
    // A lookup (or a collapsed wait) found a sliced object's manifest.
    boost::asio::awaitable<http::Reply> from_manifest(const Gen& g, const http::Request& req,
                                                      const OriginGroup& group, const Target& t,
                                                      std::string key,
                                                      const cache::RequestFacts& facts,
                                                      storage::ObjectPtr manifest, TimePoint now,
                                                      bool just_fetched);
    // The reply from a manifest and its slices; `first` (may be null) is slice first_k.
    boost::asio::awaitable<http::Reply> serve_slices(
        const Gen& g, const http::Request& req, const OriginGroup& group, const Target& t,
        const std::string& key, const cache::RequestFacts* facts, storage::ObjectPtr manifest,
        storage::ObjectPtr first, std::uint64_t first_k, cache::Outcome outcome,
        std::string params);

  public:
    struct SliceGet {
        storage::ObjectPtr obj;
        bool changed = false;  // the origin has another version now: the object was dropped
        Errc error = Errc::ok;
    };

  private:
    // Slice k of a manifest's object: from the cache, or fetched (collapsed per slice).
    boost::asio::awaitable<SliceGet> get_slice(std::shared_ptr<const Pinned> pin,
                                               const http::Request& req, Target t, std::string key,
                                               storage::ObjectPtr manifest, std::uint64_t k);

    EdgeShared shared_;
    std::shared_ptr<const Pinned> current_;
    boost::asio::any_io_executor executor_;
    std::unique_ptr<upstream::Upstream> upstream_;
    std::minstd_rand rng_{std::random_device{}()};
    RequestIdGenerator ids_;  // this worker's X-Request-Id values
};

}  // namespace cdn::edge::proxy
