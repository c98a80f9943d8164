// RFC 9111 section 4.3.5: a HEAD for a stored GET response that needs revalidation is
// revalidated with a conditional HEAD, not a full GET. A 304, or a 200 whose validators match
// the stored response (edge/cache/head_refresh.hpp), refreshes the stored fields and freshness
// and keeps the stored body; anything else says the stored response is out of date: it is
// removed, and the next GET fetches.
#include "edge/cache/head_refresh.hpp"
#include "common/http_date.hpp"
#include "edge/cache/conditional.hpp"
#include "edge/proxy/edge_handler.hpp"

#include <fmt/format.h>

#include <charconv>

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using cache::Outcome;
using http::Reply;
using http::Request;

namespace {

std::optional<std::uint64_t> content_length_of(const Fields& fields) {
    const std::string_view v = fields[beast_http::field::content_length];
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
    return n;
}

// As keyed_vary in edge_handler.cpp: the response's Vary plus the fields the group passes on.
std::string stored_vary(std::string_view vary, const OriginGroup& group) {
    if (group.pass_headers_vary.empty()) return std::string(vary);
    if (vary.empty()) return group.pass_headers_vary;
    return std::string(vary) + ", " + group.pass_headers_vary;
}

}  // namespace

asio::awaitable<Reply> EdgeHandler::refresh_by_head(const Gen& g, const Request& req,
                                                    const OriginGroup& group, const Target& t,
                                                    const std::string& key,
                                                    storage::ObjectPtr stale) {
    const auto& policy = g.config.freshness;
    upstream::OriginRequest oreq = origin_request(g, req, group, t, true);
    oreq.method(beast_http::verb::head);
    if (!stale->etag().empty()) oreq.set(beast_http::field::if_none_match, stale->etag());
    if (!stale->last_modified().empty())
        oreq.set(beast_http::field::if_modified_since, stale->last_modified());
    const TimePoint request_time = shared_.clock.now();
    const std::uint64_t seq = storage::next_object_sequence();  // see fetch_and_store
    const auto asked = std::chrono::steady_clock::now();
    auto res = co_await fetch_from(g, group, t, oreq, &key, &req);
    const TimePoint response_time = shared_.clock.now();
    if (!res) {
        const auto e = static_cast<Errc>(res.error().value());
        if (cache::may_serve_stale_on_error(stale->meta, response_time, policy))
            co_return serve_stale(g, std::move(stale), req, response_time,
                                  fmt::format("stale-if-error; {}", make_error_code(e).message()));
        co_return origin_failure(g, e, Outcome::expired, req);
    }
    const auto origin_time = std::chrono::steady_clock::now() - asked;
    const upstream::OriginHead& head = res->head;
    const unsigned status = head.result_int();
    res->body.reset();  // a HEAD response has none
    learn_hints(group, key, status, head);
    if (cache::is_origin_error_status(status) &&
        cache::may_serve_stale_on_error(stale->meta, response_time, policy)) {
        Reply r = serve_stale(g, std::move(stale), req, response_time,
                              fmt::format("stale-if-error; origin status {}", status));
        r.origin_time = origin_time;
        co_return r;
    }

    const std::string_view head_etag = head[beast_http::field::etag];
    bool matches = false;
    if (status == 304)  // the conditional matched; an ETag it names must be the stored one
        matches = head_etag.empty() || stale->etag().empty() ||
                  cache::if_none_match_matches(stale->etag(), head_etag);
    else if (status == 200)
        matches = cache::head_matches_stored(
            {stale->etag(), stale->last_modified(),
             stale->meta.content_length_known ? std::optional<std::uint64_t>(stale->body_size())
                                              : std::nullopt},
            {head_etag, head[beast_http::field::last_modified], content_length_of(head)});

    if (matches) {
        // Refreshed: the stored fields updated from the HEAD response, the stored body kept.
        ParsedHead stored = parse_head(stale->head());
        merge_not_modified(stored.fields, head);
        if (head.find(beast_http::field::date) == head.end())
            stored.fields.set(beast_http::field::date, format_http_date(response_time));
        const cache::ResponseFacts f = facts_of(stored.status, stored.fields, g.config.cc_sources);
        auto meta = cache::make_meta(f, request_time, response_time, policy, random01());
        meta.content_length_known = stale->meta.content_length_known;
        auto fresh = build_object(key, stored.status, stored.reason, stored.fields, stale->body,
                                  meta, response_time, {.seq = seq});
        if (store_response(key, req, fresh,
                           stored_vary(stored.fields[beast_http::field::vary], group)))
            shared_.metrics.stores.inc();
        Reply r = deliver(g, std::move(fresh), Outcome::revalidated, req, response_time,
                          fmt::format("fwd=stale; fwd-status={}; detail=\"head\"; ttl={}", status,
                                      meta.lifetime.count()));
        r.origin_time = origin_time;
        co_return r;
    }

    // Out of date (another representation, or gone): the stored response goes. An origin
    // error says nothing about it and leaves it.
    if (!cache::is_origin_error_status(status)) shared_.store.remove(key);
    const cache::ResponseFacts f = facts_of(status, head, g.config.cc_sources);
    const auto meta = cache::make_meta(f, request_time, response_time, policy);
    const std::optional<std::uint64_t> length = content_length_of(head);
    auto obj =
        build_object({}, status, head.reason(), head, nullptr, meta, response_time,
                     {.head_response = true, .content_length = length, .no_length = !length});
    Reply r = deliver(g, std::move(obj), Outcome::expired, req, response_time,
                      fmt::format("fwd=stale; fwd-status={}; detail=\"head-invalidated\"", status),
                      false);
    r.origin_time = origin_time;
    co_return r;
}

}  // namespace cdn::edge::proxy
