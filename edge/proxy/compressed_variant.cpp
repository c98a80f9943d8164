#include "edge/proxy/compressed_variant.hpp"

#include "edge/cache/freshness.hpp"
#include "edge/cache/vary.hpp"
#include "edge/proxy/compressor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cdn::edge::proxy {

namespace beast_http = boost::beast::http;

namespace {

std::size_t metric_index(cache::Coding c) {
    return c == cache::Coding::br ? 1 : 0;
}

// The request's value of a field, for variant ids.
auto request_getter(const http::Request& req) {
    return [&req](const std::string& name) { return req.msg[name]; };
}

}  // namespace

std::string compression_vary(std::string keyed, const cache::CompressionPolicy& p, unsigned status,
                             const Fields& fields, std::optional<std::uint64_t> length) {
    if (status != 200 || (length && !cache::may_compress_size(p, *length))) return keyed;
    if (!cache::may_compress(p, fields[beast_http::field::content_type],
                             fields[beast_http::field::content_encoding],
                             join_values(fields, beast_http::field::cache_control),
                             join_values(fields, beast_http::field::vary)))
        return keyed;
    // The origin's own Accept-Encoding (if it varies on it) stays: its variants stay apart.
    std::vector<std::string> names;
    for (auto& n : cache::parse_vary(keyed).names)
        if (!cache::is_coding_variant_name(n)) names.push_back(n);
    names.push_back(cache::coding_variant_name(p.codings));
    return fmt::format("{}", fmt::join(names, ", "));
}

std::string revalidated_vary(storage::ObjectStore& store, const std::string& key, std::string keyed,
                             const cache::CompressionPolicy& p, unsigned status,
                             const Fields& fields, std::uint64_t length) {
    if (const auto entry = store.peek(key);
        entry && entry->variants && cache::has_coding_variant(entry->variants->fields)) {
        std::vector<std::string> names;
        for (const auto& n : entry->variants->fields)
            if (!cache::is_coding_variant_name(n)) names.push_back(n);
        keyed = fmt::format("{}", fmt::join(names, ", "));
    }
    return compression_vary(std::move(keyed), p, status, fields, length);
}

bool varies_on_coding(std::string_view keyed) noexcept {
    return keyed.find("accept-encoding;edge=") != std::string_view::npos;
}

storage::ObjectPtr make_compressed_variant(const storage::CachedObject& identity,
                                           cache::Coding coding,
                                           const cache::CompressionPolicy& p) {
    if (!identity.body) return nullptr;
    auto out = compress_body(coding, *identity.body, p.gzip_level, p.brotli_quality);
    if (!out) return nullptr;
    ParsedHead h = parse_head(identity.head());
    h.fields.set(beast_http::field::content_encoding, cache::coding_name(coding));
    if (auto etag = h.fields[beast_http::field::etag]; !etag.empty())
        h.fields.set(beast_http::field::etag, cache::suffixed_etag(etag, coding));
    const std::string vary =
        cache::vary_with_accept_encoding(join_values(h.fields, beast_http::field::vary));
    h.fields.set(beast_http::field::vary, vary);
    return build_object(identity.key(), identity.status, h.reason, h.fields, new_body(*out),
                        identity.meta, identity.meta.response_time, {.seq = identity.seq});
}

storage::ObjectPtr with_compression(storage::ObjectStore& store, EdgeMetrics& metrics,
                                    const cache::CompressionPolicy& p, const std::string& key,
                                    const http::Request& req, storage::ObjectPtr cached,
                                    TimePoint now) {
    if (!cached || !p.enabled || cached->status != 200) return cached;
    const bool fresh = cache::decide_use(cached->meta, now) == cache::Use::fresh;
    // A fresh hit for a client that takes no coding (what load generators and many API clients
    // send): nothing to make, no look into the head.
    if (fresh && req.msg.find(beast_http::field::accept_encoding) == req.msg.end()) return cached;
    const bool encoded = !cached->field("content-encoding").empty();
    if (encoded && fresh) return cached;  // the common hit: no look into the set
    if (!encoded && (!fresh || !cached->body || !cached->meta.content_length_known)) return cached;
    if (!encoded) {
        const auto ae = req.msg[beast_http::field::accept_encoding];
        if (ae.empty() || cache::select_coding(ae, p.codings) == cache::Coding::identity)
            return cached;
        if (!cache::may_compress_size(p, cached->body_size())) return cached;
    }
    // Only a set keyed on the edge's coding holds the edge's variants.
    const storage::ObjectPtr entry = store.peek(key);
    if (!entry || !entry->variants || !cache::has_coding_variant(entry->variants->fields))
        return cached;
    const storage::VariantSet& set = *entry->variants;
    const std::string identity_id = cache::variant_id(set.fields, request_getter(req),
                                                      cache::coding_name(cache::Coding::identity));
    const storage::ObjectPtr identity = set.find(identity_id);
    if (encoded) {
        // A stale variant the edge made (an origin's own encoding is never in such a set):
        // its identity, as stale as it (a soft purge marked only the copy found).
        if (!identity) return nullptr;
        auto copy = storage::CachedObject::copy(*identity);
        copy->meta = cached->meta;
        return copy;
    }
    if (identity != cached) return cached;  // replaced meanwhile, or not this set's
    const std::string name = cache::coding_variant_name(p.codings);
    const auto field = std::find_if(set.fields.begin(), set.fields.end(), [](const std::string& n) {
        return cache::is_coding_variant_name(n);
    });
    if (*field != name) return cached;  // stored under other settings: the next fetch re-keys it
    const cache::Coding coding =
        cache::select_coding(req.msg[beast_http::field::accept_encoding], p.codings);
    if (!cache::may_compress(p, cached->field("content-type"), cached->field("content-encoding"),
                             cached->field("cache-control"), {}))
        return cached;
    auto variant = make_compressed_variant(*cached, coding, p);
    if (!variant) {
        metrics.compress_failures.inc();
        return cached;
    }
    const std::size_t i = metric_index(coding);
    metrics.compressions[i]->inc();
    metrics.compress_bytes_in[i]->inc(cached->body_size());
    metrics.compress_bytes_out[i]->inc(variant->body_size());
    // The set again with this variant added (or replacing one of its coding).
    const std::string id =
        cache::variant_id(set.fields, request_getter(req), cache::coding_name(coding));
    auto next = storage::make_variant_set();
    next->fields = set.fields;
    next->variants.emplace_back(id, variant);
    constexpr std::size_t kMaxVariants = 32;  // as EdgeHandler::variant_entry
    for (const auto& [other_id, other] : set.variants)
        if (other_id != id && next->variants.size() < kMaxVariants)
            next->variants.emplace_back(other_id, other);
    auto stored = storage::CachedObject::make(key);
    stored->status = entry->status;
    stored->seq = storage::next_object_sequence();
    stored->meta = entry->meta;
    stored->variants = std::move(next);
    if (!store.insert(stored)) metrics.compress_failures.inc();
    return variant;
}

}  // namespace cdn::edge::proxy
