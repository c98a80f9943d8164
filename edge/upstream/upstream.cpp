#include "edge/upstream/upstream.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/container/small_vector.hpp>

namespace cdn::edge::upstream {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;

namespace {

void inc(Counter* c) {
    if (c) c->inc();
}

bool idempotent(beast_http::verb m) {
    using beast_http::verb;
    return m == verb::get || m == verb::head || m == verb::options || m == verb::put ||
           m == verb::delete_ || m == verb::trace;
}

}  // namespace

UpstreamClient::UpstreamClient(asio::any_io_executor executor, const PoolSettings& settings,
                               const Clock& clock, UpstreamMetrics metrics,
                               std::function<double()> random01)
    : pool_(std::move(executor), settings),
      clock_(clock),
      metrics_(std::move(metrics)),
      random01_(std::move(random01)) {}

asio::awaitable<Result<UpstreamResponse>> UpstreamClient::fetch(const UpstreamCall& call) {
    if (call.peer) {
        auto res = co_await pool_.fetch_head(*call.peer, *call.req, call.hints);
        if (!res) co_return res.error();
        res->head.erase("X-Cache");
        co_return UpstreamResponse{std::move(res->head), std::move(res->body), Hop::peer};
    }
    if (!call.parents || !call.parents->set) co_return co_await from_origins(call);
    auto res = co_await from_parents(call);
    if (res || !call.parents->origin_on_failure) co_return res;
    inc(metrics_.parent_fallbacks);
    co_return co_await from_origins(call);
}

asio::awaitable<Result<UpstreamResponse>> UpstreamClient::from_parents(const UpstreamCall& call) {
    OriginSet& set = *call.parents->set;
    OriginRequest& req = *call.req;
    // A parent is an edge: it files the object under the Host the client asked for.
    const std::string origin_host(req[beast_http::field::host]);
    req.set(beast_http::field::host, call.host);
    boost::container::small_vector<std::size_t, 4> tried;
    Result<UpstreamResponse> last = Errc::no_origin;
    const unsigned tries = idempotent(req.method()) ? call.parents->tries : 1;
    for (unsigned a = 0; a < tries; ++a) {
        auto lease = set.pick_hashed(call.key_hash, clock_.now(), tried);
        if (!lease) break;  // every parent is down, open, or already tried
        tried.push_back(lease->index());
        inc(metrics_.parent_fetches);
        auto res = co_await pool_.fetch_head(lease->server(), req, call.hints);
        const unsigned status = res ? res->head.result_int() : 0;
        const bool failed = !res || parent_failed(status);
        set.report(lease->index(), !failed, clock_.now());
        if (status == 508) inc(metrics_.parent_loops);
        if (!failed) {
            // Our own X-Cache says what this tier did; the parent's Cache-Status stays, as the
            // hop nearer the origin (RFC 9211 section 2).
            res->head.erase("X-Cache");
            req.set(beast_http::field::host, origin_host);
            co_return UpstreamResponse{std::move(res->head), std::move(res->body), Hop::parent};
        }
        inc(metrics_.parent_failures);
        if (res)
            last = UpstreamResponse{std::move(res->head), std::move(res->body), Hop::parent};
        else
            last = res.error();
    }
    req.set(beast_http::field::host, origin_host);
    // A failed parent's answer (a 502 with a body) is dropped when the origins are asked next.
    if (last && call.parents->origin_on_failure) co_return Errc::origin_unreachable;
    co_return last;
}

asio::awaitable<Result<UpstreamResponse>> UpstreamClient::from_origins(const UpstreamCall& call) {
    OriginSet& set = *call.origins;
    const OriginRequest& req = *call.req;
    const unsigned attempts = 1 + (idempotent(req.method()) ? call.retries : 0);
    boost::container::small_vector<std::size_t, 4> tried;
    Result<UpstreamResponse> last = Errc::no_origin;
    for (unsigned a = 0; a < attempts; ++a) {
        auto lease = set.pick(clock_.now(), tried, random01_());
        if (!lease) break;  // every origin is down, open, or already tried
        tried.push_back(lease->index());
        if (a > 0) inc(metrics_.origin_retries);
        inc(metrics_.origin_fetches);
        auto res = co_await pool_.fetch_head(lease->server(), req, call.hints, call.upload);
        if (!res && static_cast<Errc>(res.error().value()) == Errc::bad_request)
            co_return res.error();  // the client's body could not be read: no origin's fault
        const unsigned status = res ? res->head.result_int() : 0;
        const bool failed = !res || status == 502 || status == 503 || status == 504;
        set.report(lease->index(), !failed, clock_.now());
        if (!res && metrics_.origin_error)
            metrics_.origin_error(static_cast<Errc>(res.error().value()));
        if (!failed)
            co_return UpstreamResponse{std::move(res->head), std::move(res->body), Hop::origin};
        if (res)
            last = UpstreamResponse{std::move(res->head), std::move(res->body), Hop::origin};
        else
            last = res.error();
    }
    if (!last && static_cast<Errc>(last.error().value()) == Errc::no_origin &&
        metrics_.origin_error)
        metrics_.origin_error(Errc::no_origin);
    co_return last;
}

}  // namespace cdn::edge::upstream
