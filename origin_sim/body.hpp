#pragma once
// Deterministic bodies and validators. The byte at absolute offset i of an object's body depends
// only on (seed, i), so any slice can be produced on its own, in any order, without holding the
// body in memory; edge tests call make_body() to know what the origin sent. Pure; thread-safe.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cdn::origin_sim {

// The seed of the body of an object identity ("/app.js?v=2") at a version (1 and up).
std::uint64_t body_seed(std::string_view identity, std::uint64_t version) noexcept;

// Writes bytes [offset, offset + n) of the body for seed into out: printable [a-zA-Z0-9].
void fill_body(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t n) noexcept;

// The whole body of an object (for tests; the server generates bodies in chunks).
std::string make_body(std::string_view identity, std::uint64_t version, std::size_t size);

// The opaque part of the entity tag of (identity, version, size): 16 hex digits, unquoted.
std::string etag_value(std::string_view identity, std::uint64_t version, std::uint64_t size);
// The ETag header value: "\"<hex>\"" or, when weak, "W/\"<hex>\"".
std::string make_etag(std::string_view identity, std::uint64_t version, std::uint64_t size,
                      bool weak = false);

}  // namespace cdn::origin_sim
