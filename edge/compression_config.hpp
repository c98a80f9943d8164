#pragma once
// [origin.compression]: the per-host settings of the edge's gzip/brotli variants, read and
// validated (errors name file:line and the key).
#include "common/config.hpp"
#include "edge/cache/content_coding.hpp"

namespace cdn::edge {

cache::CompressionPolicy parse_compression(const ConfigSection& s);

}  // namespace cdn::edge
