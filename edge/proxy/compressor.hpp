#pragma once
// gzip (zlib, gzip format) and brotli encoders behind small owner classes: one call compresses a
// whole body in memory. Not thread-safe per object; make one per use (they are cheap to make).
#include "edge/cache/content_coding.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::proxy {

// The body compressed with `coding` (gzip at `gzip_level` 1..9, brotli at `brotli_quality`
// 0..11 with a 4 MiB window); nullopt when the encoder fails or coding is identity.
std::optional<std::string> compress_body(cache::Coding coding, std::string_view body,
                                         int gzip_level, int brotli_quality);

}  // namespace cdn::edge::proxy
