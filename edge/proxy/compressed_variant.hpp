#pragma once
// The edge's own compression of stored responses (gzip, brotli), as variants of the URL's entry:
// a compressible 200 is stored in a variant set keyed on the SELECTED coding (a pseudo Vary name,
// cache/content_coding.hpp), identity first; the first request that selects br or gzip while the
// identity variant is fresh compresses it once and adds the result to the set, so later ones are
// plain hits. Compressed variants share the identity's metadata and are dropped whenever the
// identity is stored again (a 304 or a new body): revalidation always uses the identity's
// validators. Thread-safe as the store is (two workers may both compress; the last insert wins).
#include "common/clock.hpp"
#include "edge/cache/content_coding.hpp"
#include "edge/http/exchange.hpp"
#include "edge/proxy/edge_metrics.hpp"
#include "edge/proxy/response_fields.hpp"
#include "edge/storage/object_store.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::proxy {

// The Vary a response is keyed on (keyed_vary) extended for the edge's compression: when the
// response may be compressed (200, listed type, identity, no no-transform, size within bounds
// when known), the pseudo name of p.codings is added (after the origin's own names).
// Otherwise keyed unchanged.
std::string compression_vary(std::string keyed, const cache::CompressionPolicy& p, unsigned status,
                             const Fields& fields, std::optional<std::uint64_t> length);

// compression_vary for a stored response refreshed by a 304: its stored head's Vary holds the
// Accept-Encoding the edge added, so when the URL's entry is keyed on the edge's coding, that
// entry's own names are kept instead (else the refresh would key it on the raw header too).
std::string revalidated_vary(storage::ObjectStore& store, const std::string& key, std::string keyed,
                             const cache::CompressionPolicy& p, unsigned status,
                             const Fields& fields, std::uint64_t length);

// Whether a keyed Vary (from compression_vary) holds the pseudo name: the stored head then also
// says Vary: Accept-Encoding (BuildOptions::vary_accept_encoding).
bool varies_on_coding(std::string_view keyed) noexcept;

// The object a request uses after lookup. `cached` as found (variant selected, purges applied):
//  - a fresh identity variant the client wants compressed: compressed now, stored in the set,
//    returned (counted in metrics);
//  - a stale compressed variant: a copy of its identity with the same metadata, so the edge
//    revalidates (or serves stale) with the origin's validators;
//  - anything else: cached itself.
storage::ObjectPtr with_compression(storage::ObjectStore& store, EdgeMetrics& metrics,
                                    const cache::CompressionPolicy& p, const std::string& key,
                                    const http::Request& req, storage::ObjectPtr cached,
                                    TimePoint now);

// The compressed variant of a stored identity 200 (exposed for tests): same status, fields,
// metadata and sequence, plus Content-Encoding, the suffixed ETag, Vary with Accept-Encoding and
// the compressed Content-Length. nullptr when the encoder failed.
storage::ObjectPtr make_compressed_variant(const storage::CachedObject& identity,
                                           cache::Coding coding, const cache::CompressionPolicy& p);

}  // namespace cdn::edge::proxy
