// Large objects in slices ([origin.slice]): the pipeline's side of edge/cache/slicing.hpp. A
// miss of a group that slices asks the origin for one slice (slice_request); a 206 for an object
// larger than a slice is stored as that slice plus a manifest under the URL's key
// (on_slice_response); a manifest is served by walking the slices, fetching the missing ones
// as the client reads (serve_slices, SliceBodySource). Every slice is checked against the
// manifest's version: a slice of another version drops the object, and a body under way ends
// abnormally rather than splice two versions.
#include "edge/proxy/slices.hpp"

#include "common/http_range.hpp"
#include "common/http_util.hpp"
#include "edge/cache/slicing.hpp"
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/range_reply.hpp"
#include "edge/proxy/response_fields.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using cache::Outcome;
using http::Reply;
using http::Request;

bool is_slice_manifest(const storage::CachedObject& obj) {
    // Cheap tests first: this runs on lookups. Every other stored 200 has a body.
    return obj.status == 200 && !obj.body && !obj.variants &&
           !obj.field(cache::kManifestField).empty();
}

std::size_t remove_slices(storage::ObjectStore& store, const storage::CachedObject& manifest) {
    const auto marker = cache::parse_manifest_marker(manifest.field(cache::kManifestField));
    if (!marker) return 0;
    std::size_t n = 0;
    const std::uint64_t count = cache::slice_count(marker->total, marker->slice_size);
    for (std::uint64_t k = 0; k < count; ++k)
        n += store.remove(cache::slice_key(manifest.key(), k)) ? 1 : 0;
    return n;
}

bool remove_with_slices(storage::ObjectStore& store, std::string_view key) {
    if (auto obj = store.peek(key); obj && is_slice_manifest(*obj)) remove_slices(store, *obj);
    return store.remove(key);
}

namespace {

struct Manifest {
    cache::ManifestMarker marker;
    std::string_view etag;
    std::string_view last_modified;
};

Manifest manifest_of(const storage::CachedObject& m) {
    return {cache::parse_manifest_marker(m.field(cache::kManifestField))
                .value_or(cache::ManifestMarker{1, 0}),
            m.etag(), m.last_modified()};
}

// The manifest as clients see it: its head without the marker (Content-Length is the object's).
storage::ObjectPtr client_view(const storage::CachedObject& manifest) {
    std::string h(manifest.head());
    for (std::size_t at = h.find("\r\n"); at != std::string::npos;) {
        const std::size_t start = at + 2;
        const std::size_t end = h.find("\r\n", start);
        const std::string_view line(h.data() + start,
                                    (end == std::string::npos ? h.size() : end) - start);
        if (line.size() > cache::kManifestField.size() &&
            line[cache::kManifestField.size()] == ':' &&
            http_util::iequals(line.substr(0, cache::kManifestField.size()),
                               cache::kManifestField)) {
            h.erase(at, (end == std::string::npos ? h.size() : end) - at);
            break;
        }
        at = end;
    }
    return storage::CachedObject::copy(manifest, h);
}

// The manifest's fields without those a partial response replaces, plus its Content-Range.
storage::ObjectPtr partial_view(const storage::CachedObject& view, unsigned status,
                                std::string content_range, std::uint64_t length) {
    ParsedHead p = parse_head(view.head());
    p.fields.erase(beast_http::field::content_length);
    p.fields.erase(beast_http::field::content_range);
    if (status == 416) p.fields.erase(beast_http::field::content_type);
    p.fields.set(beast_http::field::content_range, content_range);
    return build_object(view.key(), status, "", p.fields, status == 416 ? new_body() : nullptr,
                        view.meta, view.meta.response_time,
                        {.content_length = static_cast<std::size_t>(length)});
}

// Reads a body of known length whole (a slice: at most 64 MiB).
asio::awaitable<Result<MutableBodyPtr>> read_whole(upstream::ResponseBody& body,
                                                   std::uint64_t length,
                                                   std::chrono::milliseconds limit) {
    body.set_deadline(std::chrono::steady_clock::now() + limit);
    auto buffer = Body::make_for_overwrite(static_cast<std::size_t>(length));
    std::size_t got = 0;
    for (;;) {
        char end[1];
        const bool full = got == buffer->size();
        auto n = co_await body.read_some(full ? end : buffer->data() + got,
                                         full ? sizeof end : buffer->size() - got);
        if (!n) co_return n.error();
        if (*n == 0) break;
        if (full) co_return make_error_code(Errc::origin_bad_response);
        got += *n;
    }
    if (got != buffer->size()) co_return make_error_code(Errc::origin_closed);
    co_return buffer;
}

}  // namespace

// Walks the slices of [first, last], fetching each missing one when the reader gets to it: at
// most one slice is held here at a time. A slice of another version ends the body with an
// error, which the sessions turn into an abnormal end (a connection closed short of its
// Content-Length, an HTTP/2 RST_STREAM).
class SliceBodySource final : public http::BodySource {
  public:
    SliceBodySource(EdgeHandler& handler, std::shared_ptr<const EdgeHandler::Pinned> pin,
                    const Request& req, EdgeHandler::Target t, std::string key,
                    storage::ObjectPtr manifest, std::uint64_t first, std::uint64_t last,
                    storage::ObjectPtr slice, std::uint64_t slice_k)
        : handler_(handler),
          pin_(std::move(pin)),
          req_(req),
          target_(std::move(t)),
          key_(std::move(key)),
          manifest_(std::move(manifest)),
          size_(manifest_of(*manifest_).marker.slice_size),
          pos_(first),
          last_(last),
          slice_(std::move(slice)),
          slice_k_(slice_k) {
        req_.interim = nullptr;
    }

    asio::awaitable<Result<std::string_view>> next() override {
        if (pos_ > last_) co_return std::string_view();
        const std::uint64_t k = cache::slice_of(pos_, size_);
        if (!slice_ || slice_k_ != k) {
            slice_.reset();  // never two slices held by one reader
            auto got = co_await handler_.get_slice(pin_, req_, target_, key_, manifest_, k);
            if (!got.obj)
                co_return make_error_code(got.changed ? Errc::origin_bad_response : got.error);
            slice_ = std::move(got.obj);
            slice_k_ = k;
        }
        constexpr std::uint64_t kPiece = 256 * 1024;
        const std::uint64_t start = k * size_;
        const std::uint64_t end = std::min(start + slice_->body_size(), last_ + 1);
        if (pos_ >= end) co_return make_error_code(Errc::origin_bad_response);
        const std::uint64_t n = std::min(end - pos_, kPiece);
        const std::string_view piece = std::string_view(*slice_->body).substr(pos_ - start, n);
        pos_ += n;
        co_return piece;
    }

  private:
    EdgeHandler& handler_;
    std::shared_ptr<const EdgeHandler::Pinned> pin_;
    Request req_;
    EdgeHandler::Target target_;
    std::string key_;
    storage::ObjectPtr manifest_;
    std::uint64_t size_;
    std::uint64_t pos_;
    std::uint64_t last_;
    storage::ObjectPtr slice_;
    std::uint64_t slice_k_;
};

std::optional<std::uint64_t> EdgeHandler::slice_request(const OriginGroup& group,
                                                        const Request& req,
                                                        upstream::OriginRequest& oreq) const {
    if (group.slice_size == 0) return std::nullopt;
    const std::uint64_t first = req.msg.method() == beast_http::verb::get
                                    ? cache::first_wanted_byte(req.msg[beast_http::field::range])
                                    : 0;
    const std::uint64_t k = cache::slice_of(first, group.slice_size);
    oreq.set(beast_http::field::range, cache::slice_range_field(k, group.slice_size));
    return k;
}

asio::awaitable<std::optional<Reply>> EdgeHandler::on_slice_response(
    const Gen& g, const Request& req, const OriginGroup& group, const Target& t,
    const std::string& key, std::uint64_t k, upstream::UpstreamResponse& res,
    std::unique_ptr<cache::FillGuard>& guard, bool expired, TimePoint request_time,
    TimePoint response_time, std::uint64_t seq) {
    auto& metrics = shared_.metrics;
    const std::uint64_t size = group.slice_size;
    const upstream::OriginHead& head = res.head;
    const auto cr = cache::parse_content_range(head[beast_http::field::content_range]);
    const std::optional<std::uint64_t> length = res.body->content_length();
    if (head.result_int() == 206) metrics.slice_fetches.inc();
    if (head.result_int() == 206 && cr && cache::is_slice_response(*cr, k, size, length) &&
        cr->first == 0 && cr->last + 1 == cr->total) {
        // The 206 completed the object: it is an ordinary 200 from here on.
        res.head.result(beast_http::status::ok);
        res.head.reason("OK");
        res.head.erase(beast_http::field::content_range);
        co_return std::nullopt;
    }
    const std::string_view etag = head[beast_http::field::etag];
    const std::string_view last_modified = head[beast_http::field::last_modified];
    cache::RequestFacts facts;
    facts.method_cacheable = true;
    facts.has_authorization = req.msg.count(beast_http::field::authorization) > 0;
    facts.cc = cache::parse_cache_control(join_values(req.msg, beast_http::field::cache_control));
    // Judged as the 200 the slices make up.
    const cache::ResponseFacts f = facts_of(200, head, g.config.cc_sources);
    const auto& policy = g.config.freshness;
    // A 416 (the wanted slice starts past the end, or the object is empty), a Content-Range
    // that is not the slice asked for, or a response that cannot be kept in slices.
    const bool sliceable =
        head.result_int() == 206 && cr && cache::is_slice_response(*cr, k, size, length) &&
        cache::storability(facts, f, response_time, policy) == cache::StoreVerdict::store &&
        cache::sliceable(etag, last_modified) && f.vary.empty() &&
        group.pass_headers_vary.empty() && !f.has_set_cookie;
    if (!sliceable) {
        // Fetched whole instead, as without slicing: fetch_and_store goes on with that response
        // (its guard still held, so collapsed waiters get what it stores).
        res.body.reset();
        upstream::OriginRequest whole = origin_request(g, req, group, t, true);
        whole.method(beast_http::verb::get);
        auto again = co_await fetch_from(g, group, t, whole, &key, &req);
        if (!again) {
            if (guard) guard->finish({}, Seconds(0));
            guard.reset();
            co_return origin_failure(g, static_cast<Errc>(again.error().value()),
                                     expired ? Outcome::expired : Outcome::miss, req);
        }
        res = std::move(*again);
        co_return std::nullopt;
    }
    auto meta = cache::make_meta(f, request_time, response_time, policy, random01());
    auto body = co_await read_whole(*res.body, *length, g.config.origin_fill_timeout);
    if (!body) {
        const auto e = static_cast<Errc>(body.error().value());
        metrics.origin_error(e);
        if (guard) guard->finish({}, Seconds(0));
        guard.reset();
        co_return origin_failure(g, e, expired ? Outcome::expired : Outcome::miss, req);
    }
    // The manifest: a stored one of the same version keeps its slices; another version's go.
    if (auto old = shared_.store.peek(key); old && is_slice_manifest(*old)) {
        const Manifest m = manifest_of(*old);
        if (m.marker.slice_size != size ||
            !cache::same_version(m.etag, m.last_modified, m.marker.total, etag, last_modified,
                                 cr->total)) {
            if (m.marker.slice_size == size) metrics.slice_version_changes.inc();
            remove_slices(shared_.store, *old);
        }
    }
    Fields mf(head);
    mf.erase(beast_http::field::content_range);
    mf.set(cache::kManifestField, cache::format_manifest_marker({size, cr->total}));
    auto manifest = build_object(key, 200, "OK", mf, nullptr, meta, response_time,
                                 {.strip_set_cookie = true,
                                  .accept_ranges = true,
                                  .content_length = static_cast<std::size_t>(cr->total),
                                  .seq = seq});
    auto slice = build_object(cache::slice_key(key, k), 206, head.reason(), head, std::move(*body),
                              meta, response_time, {.strip_set_cookie = true, .seq = seq});
    for (const auto& obj : {slice, manifest}) {
        if (shared_.store.insert(obj))
            metrics.stores.inc();
        else
            metrics.store_rejected.inc();
    }
    // Waiters for the URL serve from the manifest (and fetch the slices they need).
    if (guard) guard->finish({manifest, nullptr}, Seconds(0));
    guard.reset();
    co_return co_await serve_slices(
        g, req, group, t, key, nullptr, manifest, slice, k,
        expired ? Outcome::expired : Outcome::miss,
        fmt::format("{}; fwd-status=206; stored; ttl={}", expired ? "fwd=stale" : "fwd=uri-miss",
                    meta.lifetime.count()));
}

asio::awaitable<Reply> EdgeHandler::from_manifest(const Gen& g, const Request& req,
                                                  const OriginGroup& group, const Target& t,
                                                  std::string key, const cache::RequestFacts& facts,
                                                  storage::ObjectPtr manifest, TimePoint now,
                                                  bool just_fetched) {
    if (group.slice_size == 0) {
        // Slicing was turned off: fetch the object whole, as any other.
        remove_with_slices(shared_.store, key);
        co_return co_await miss(g, req, group, t, std::move(key), facts, nullptr, now);
    }
    if (!just_fetched && cache::decide_use(manifest->meta, now) != cache::Use::fresh) {
        // Stale: the slice this request needs is fetched again; the same version refreshes the
        // manifest and keeps the slices, another one replaces them.
        co_return co_await miss(g, req, group, t, std::move(key), facts, nullptr, now);
    }
    if (just_fetched) shared_.metrics.collapsed.inc();
    std::string params =
        just_fetched
            ? fmt::format("hit; ttl={}; detail=\"collapsed\"", cache::ttl_left(manifest->meta, now))
            : fmt::format("hit; ttl={}", cache::ttl_left(manifest->meta, now));
    co_return co_await serve_slices(g, req, group, t, key, &facts, std::move(manifest), nullptr, 0,
                                    Outcome::hit, std::move(params));
}

asio::awaitable<Reply> EdgeHandler::serve_slices(
    const Gen& g, const Request& req, const OriginGroup& group, const Target& t,
    const std::string& key, const cache::RequestFacts* facts, storage::ObjectPtr manifest,
    storage::ObjectPtr first, std::uint64_t first_k, Outcome outcome, std::string params) {
    const Manifest m = manifest_of(*manifest);
    const TimePoint now = shared_.clock.now();
    storage::ObjectPtr view = client_view(*manifest);
    // HEAD and the client's own validators are answered from the manifest.
    Reply r = deliver(g, view, outcome, req, now, params, true);
    // A 304 made from the manifest has another status (a copy without the CDN's fields, the same).
    if (r.head_only || r.object->status != view->status) co_return r;
    std::uint64_t from = 0;
    std::uint64_t to = m.marker.total - 1;
    const std::string_view range = req.msg[beast_http::field::range];
    if (!range.empty() && if_range_matches(req.msg[beast_http::field::if_range], view->etag(),
                                           view->last_modified())) {
        const auto set = http_range::parse_range(range, m.marker.total);
        if (set.status == http_range::RangeStatus::unsatisfiable)
            co_return deliver(
                g,
                partial_view(*view, 416, http_range::format_unsatisfied_range(m.marker.total), 0),
                outcome, req, now, params, false);
        if (set.status == http_range::RangeStatus::satisfiable && set.ranges.size() > 1)
            co_return co_await pass(g, req, group, t, "fwd=miss; detail=\"sliced-multipart\"");
        if (set.status == http_range::RangeStatus::satisfiable) {
            from = set.ranges[0].first;
            to = set.ranges[0].last;
            r = deliver(
                g,
                partial_view(*view, 206,
                             http_range::format_content_range(set.ranges[0], m.marker.total),
                             set.ranges[0].length()),
                outcome, req, now, params, false);
        }
    }
    // The first slice is had before the head goes out: a change found there starts over.
    const std::uint64_t k = cache::slice_of(from, m.marker.slice_size);
    std::shared_ptr<const Pinned> pin = current_;
    if (!first || first_k != k) {
        auto got = co_await get_slice(pin, req, t, key, manifest, k);
        if (got.changed && facts)
            // Nothing sent yet: once more, with the new version.
            co_return co_await miss(g, req, group, t, key, *facts, nullptr, shared_.clock.now());
        if (!got.obj)
            co_return origin_failure(g, got.changed ? Errc::origin_bad_response : got.error,
                                     outcome, req);
        first = std::move(got.obj);
    }
    r.stream = std::make_unique<SliceBodySource>(
        *this, std::move(pin), req, t, key, std::move(manifest), from, to, std::move(first), k);
    co_return r;
}

namespace {

EdgeHandler::SliceGet slice_failed(Errc e) {
    EdgeHandler::SliceGet r;
    r.error = e;
    return r;
}

EdgeHandler::SliceGet slice_got(storage::ObjectPtr obj) {
    EdgeHandler::SliceGet r;
    r.obj = std::move(obj);
    return r;
}

}  // namespace

asio::awaitable<EdgeHandler::SliceGet> EdgeHandler::get_slice(std::shared_ptr<const Pinned> pin,
                                                              const Request& req, Target t,
                                                              std::string key,
                                                              storage::ObjectPtr manifest,
                                                              std::uint64_t k) {
    auto& metrics = shared_.metrics;
    const Gen& g = *pin->gen;
    const OriginGroup* group = g.config.origin_for(t.host);
    if (!group) co_return slice_failed(Errc::no_origin);
    const Manifest m = manifest_of(*manifest);
    const std::uint64_t size = m.marker.slice_size;
    const std::string skey = cache::slice_key(key, k);
    // A stored slice serves when it is this version's slice k, whole, and not purged.
    auto usable = [&](const storage::ObjectPtr& o) {
        if (!o || !o->body) return false;
        const auto cr = cache::parse_content_range(o->field("content-range"));
        return cr && cache::is_slice_response(*cr, k, size, o->body_size()) &&
               cache::same_version(m.etag, m.last_modified, m.marker.total, o->etag(),
                                   o->last_modified(), cr->total);
    };
    auto changed = [&] {
        // The origin has another version: this one goes, manifest and slices (unless a newer
        // manifest already replaced it).
        metrics.slice_version_changes.inc();
        if (auto now_stored = shared_.store.peek(key);
            now_stored && now_stored->seq == manifest->seq)
            shared_.store.remove(key);
        remove_slices(shared_.store, *manifest);
        SliceGet r;
        r.changed = true;
        return r;
    };
    if (auto stored = shared_.store.lookup(skey)) {
        const auto verdict =
            shared_.purges.empty() ? cache::PurgeVerdict::none : shared_.purges.check(*stored);
        if (verdict == cache::PurgeVerdict::hard) shared_.store.remove(skey);
        if (verdict == cache::PurgeVerdict::none && usable(stored)) {
            metrics.slice_hits.inc();
            co_return slice_got(std::move(stored));
        }
    }
    // Concurrent misses of one slice are collapsed like any key.
    cache::FillRegistry::Ticket ticket = shared_.fills.join(skey, shared_.clock.now());
    using Role = cache::FillRegistry::Ticket::Role;
    std::unique_ptr<cache::FillGuard> guard;
    if (ticket.role == Role::follower) {
        auto result = co_await cache::FillRegistry::wait(ticket.fill, g.config.collapse_timeout);
        if (usable(result.object)) {
            metrics.slice_hits.inc();
            co_return slice_got(std::move(result.object));
        }
        if (result.object) co_return changed();
    } else if (ticket.role == Role::leader) {
        guard = std::make_unique<cache::FillGuard>(shared_.fills, skey, std::move(ticket.fill),
                                                   shared_.clock);
    }
    upstream::OriginRequest oreq = origin_request(g, req, *group, t, true);
    oreq.method(beast_http::verb::get);
    oreq.set(beast_http::field::range, cache::slice_range_field(k, size));
    const std::uint64_t seq = storage::next_object_sequence();
    const TimePoint request_time = shared_.clock.now();
    metrics.slice_fetches.inc();
    auto res = co_await fetch_from(g, *group, t, oreq, &key, nullptr);
    if (!res) co_return slice_failed(static_cast<Errc>(res.error().value()));
    const TimePoint response_time = shared_.clock.now();
    const upstream::OriginHead& head = res->head;
    const std::string_view etag = head[beast_http::field::etag];
    const std::string_view last_modified = head[beast_http::field::last_modified];
    const auto length = res->body->content_length();
    if (head.result_int() == 200) {
        // The origin stopped taking ranges: the same version is not a slice, another one is a
        // change.
        if (length && !cache::same_version(m.etag, m.last_modified, m.marker.total, etag,
                                           last_modified, *length))
            co_return changed();
        co_return slice_failed(Errc::origin_bad_response);
    }
    const auto cr = cache::parse_content_range(head[beast_http::field::content_range]);
    if (head.result_int() != 206 || !cr) {
        if (head.result_int() == 416) co_return changed();  // it got shorter
        co_return slice_failed(Errc::origin_bad_response);
    }
    if (!cache::same_version(m.etag, m.last_modified, m.marker.total, etag, last_modified,
                             cr->total))
        co_return changed();
    if (!cache::is_slice_response(*cr, k, size, length))
        co_return slice_failed(Errc::origin_bad_response);
    auto body = co_await read_whole(*res->body, *length, g.config.origin_fill_timeout);
    if (!body) {
        const auto e = static_cast<Errc>(body.error().value());
        metrics.origin_error(e);
        co_return slice_failed(e);
    }
    const auto meta = cache::make_meta(facts_of(200, head, g.config.cc_sources), request_time,
                                       response_time, g.config.freshness);
    auto obj = build_object(skey, 206, head.reason(), head, std::move(*body), meta, response_time,
                            {.strip_set_cookie = true, .seq = seq});
    if (shared_.store.insert(obj))
        metrics.stores.inc();
    else
        metrics.store_rejected.inc();
    if (guard) guard->finish({obj, nullptr}, Seconds(0));
    co_return slice_got(std::move(obj));
}

}  // namespace cdn::edge::proxy
