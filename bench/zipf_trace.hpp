#pragma once
// Synthetic request traces for bench/trace_replay: object popularity follows Zipf(alpha) over
// N objects; object sizes are fixed or lognormal. Deterministic for a given spec and seed (the
// generator is std::mt19937_64, whose output the standard fixes; no std distributions, whose
// output it does not). Not thread-safe; no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::bench {

struct ZipfSpec {
    std::uint64_t objects = 0;
    double alpha = 1.0;
    std::uint64_t requests = 0;
    std::uint64_t seed = 1;
};

struct SizeSpec {
    enum class Kind { fixed, lognormal };
    Kind kind = Kind::fixed;
    std::uint64_t bytes = 4096;  // the size, or the median of the lognormal
    double sigma = 1.0;          // lognormal: standard deviation of ln(size)
};

// "N_OBJECTS,ALPHA,N_REQUESTS[,SEED]", e.g. "100000,0.8,1000000,7".
std::optional<ZipfSpec> parse_zipf_spec(std::string_view text);
// "fixed:BYTES" or "lognormal:MEDIAN_BYTES,SIGMA", e.g. "lognormal:8192,1.5".
std::optional<SizeSpec> parse_size_spec(std::string_view text);
std::string describe(const ZipfSpec& zipf, const SizeSpec& sizes);

struct SyntheticTrace {
    std::vector<std::uint32_t> requests;  // object rank per request; rank 0 is the most popular
    std::vector<std::uint64_t> sizes;     // size of each object, by rank
};

// Precondition: 0 < objects <= 2^32, alpha >= 0.
SyntheticTrace make_zipf_trace(const ZipfSpec& zipf, const SizeSpec& sizes);

}  // namespace cdn::bench
