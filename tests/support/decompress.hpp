#pragma once
// Test-only decoders for the edge's compressed variants: gzip (zlib) and brotli. nullopt when the
// input is not a complete, valid stream.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::test {

std::optional<std::string> gunzip(std::string_view in);
// At most max_size bytes of output.
std::optional<std::string> unbrotli(std::string_view in, std::size_t max_size);

}  // namespace cdn::test
