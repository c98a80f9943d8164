#pragma once
// A synthetic CDN request trace (issue 19): Zipf popularity over a catalogue whose ranks drift,
// heavy-tailed object sizes (lognormal body, Pareto tail) fixed per id, a share of one-hit
// wonders interleaved uniformly, and periodic scans of never-seen ids. Pure and deterministic for
// a given spec (std::mt19937_64 and our own transforms, no std distributions); no I/O.
#include <cstdint>
#include <string>
#include <vector>

namespace cdn::bench {

struct CdnTraceSpec {
    std::uint64_t seed = 1;
    std::uint64_t requests = 500'000;
    std::uint64_t catalogue = 100'000;  // objects ranked by Zipf popularity at any time
    double alpha = 0.85;                // Zipf exponent (0.7 .. 1.0 are CDN-like)
    // Share of the trace's distinct objects requested exactly once, in [0, 1). Fresh ids are
    // added, each requested once at a uniformly random position, until the measured share (the
    // catalogue's own singletons and scan ids included) reaches it.
    double one_hit_share = 0.75;
    // Sizes: ln(bytes) ~ Normal(size_mu, size_sigma); with probability pareto_fraction instead
    // Pareto(pareto_min, pareto_alpha); clamped to [min_size, max_size]. Fixed per id.
    double size_mu = 9.7;  // ln(16 KiB)
    double size_sigma = 1.5;
    double pareto_fraction = 0.02;
    double pareto_alpha = 1.2;
    std::uint64_t pareto_min = 1 << 20;
    std::uint64_t min_size = 100;
    std::uint64_t max_size = 64 << 20;
    // Every drift_every Zipf draws (0 = never): drift_fraction of the ranks, chosen at random,
    // swap their objects among themselves, and drift_new never-seen objects take the top ranks
    // (the others move down; the last drift_new leave the catalogue).
    std::uint64_t drift_every = 0;
    double drift_fraction = 0.0;
    std::uint64_t drift_new = 0;
    // Every scan_every Zipf draws (0 = never): scan_length never-seen ids, consecutive, one
    // request each.
    std::uint64_t scan_every = 0;
    std::uint64_t scan_length = 0;
};

// Empty if the spec is usable, else what is wrong with it.
std::string validate(const CdnTraceSpec& spec);

struct CdnRequest {
    std::uint64_t id;
    std::uint64_t size;
    bool operator==(const CdnRequest&) const = default;
};

struct CdnTraceStats {
    std::uint64_t requests = 0;
    std::uint64_t objects = 0;          // distinct ids
    std::uint64_t one_hit_objects = 0;  // ids requested exactly once
    std::uint64_t footprint_bytes = 0;  // sum of the distinct objects' sizes
    std::uint64_t requested_bytes = 0;  // sum over requests
    double one_hit_share() const {
        return objects == 0 ? 0.0 : static_cast<double>(one_hit_objects) / objects;
    }
};

// The size of object `id` under `spec` (the same for every request of it).
std::uint64_t object_size(const CdnTraceSpec& spec, std::uint64_t id);

// Precondition: validate(spec) is empty.
std::vector<CdnRequest> make_cdn_trace(const CdnTraceSpec& spec);

// Measured on any trace (ids with one size each, as make_cdn_trace makes them).
CdnTraceStats measure(const std::vector<CdnRequest>& trace);

}  // namespace cdn::bench
