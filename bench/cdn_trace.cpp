#include "bench/cdn_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <unordered_map>

namespace cdn::bench {
namespace {

// Uniform in [0, 1) from the top 53 bits.
double uniform(std::uint64_t bits) {
    return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) {
    return std::min(static_cast<std::uint64_t>(uniform(rng()) * static_cast<double>(n)), n - 1);
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

std::string validate(const CdnTraceSpec& s) {
    if (s.catalogue == 0 || s.catalogue > (std::uint64_t{1} << 32))
        return "catalogue must be 1 .. 2^32 objects";
    if (!(s.alpha > 0 && s.alpha <= 2)) return "alpha must be in (0, 2]";
    if (!(s.one_hit_share >= 0 && s.one_hit_share < 1)) return "one-hit share must be in [0, 1)";
    if (!(s.size_sigma >= 0 && s.size_sigma <= 5)) return "size sigma must be in [0, 5]";
    if (!(s.pareto_fraction >= 0 && s.pareto_fraction <= 1))
        return "Pareto fraction must be in [0, 1]";
    if (!(s.pareto_alpha > 0)) return "Pareto alpha must be > 0";
    if (s.min_size == 0 || s.min_size > s.max_size) return "need 1 <= min size <= max size";
    if (!(s.drift_fraction >= 0 && s.drift_fraction <= 1))
        return "drift fraction must be in [0, 1]";
    if (s.drift_new > s.catalogue) return "drift-new must not exceed the catalogue";
    return {};
}

std::uint64_t object_size(const CdnTraceSpec& s, std::uint64_t id) {
    const std::uint64_t a = splitmix64(s.seed * 0x2545f4914f6cdd1dull ^ id);
    const std::uint64_t b = splitmix64(a);
    const std::uint64_t c = splitmix64(b);
    double bytes;
    if (uniform(a) < s.pareto_fraction) {
        bytes =
            static_cast<double>(s.pareto_min) * std::pow(1.0 - uniform(b), -1.0 / s.pareto_alpha);
    } else {
        // Box-Muller; 1 - u keeps the logarithm finite.
        const double normal = std::sqrt(-2.0 * std::log(1.0 - uniform(b))) *
                              std::cos(2 * std::numbers::pi * uniform(c));
        bytes = std::exp(s.size_mu + s.size_sigma * normal);
    }
    if (!(bytes < static_cast<double>(s.max_size))) return s.max_size;  // also inf / NaN
    return std::max(s.min_size, static_cast<std::uint64_t>(std::llround(bytes)));
}

std::vector<CdnRequest> make_cdn_trace(const CdnTraceSpec& s) {
    std::mt19937_64 rng(s.seed);
    std::vector<double> cdf(s.catalogue);
    double total = 0;
    for (std::uint64_t i = 0; i < s.catalogue; ++i) {
        total += std::pow(static_cast<double>(i + 1), -s.alpha);
        cdf[i] = total;
    }
    std::vector<std::uint64_t> rank_to_id(s.catalogue);
    for (std::uint64_t i = 0; i < s.catalogue; ++i)
        rank_to_id[i] = i;
    std::uint64_t next_id = s.catalogue;

    // The catalogue stream (Zipf draws, scans), with the measured counts of its prefix.
    std::vector<std::uint64_t> stream;
    std::vector<std::uint32_t> counts;
    std::uint64_t objects = 0, singles = 0;
    const double p = s.one_hit_share;
    // Fresh one-hit ids that bring the share of singletons to p: (singles + h) / (objects + h).
    const auto one_hit_needed = [&] {
        const double h = std::ceil((p * static_cast<double>(objects) - singles) / (1 - p) - 1e-9);
        return h > 0 ? static_cast<std::uint64_t>(h) : std::uint64_t{0};
    };
    const auto add = [&](std::uint64_t id) {
        if (id >= counts.size()) counts.resize(std::max<std::uint64_t>(id + 1, counts.size() * 2));
        const auto c = ++counts[id];
        if (c == 1) {
            ++objects;
            ++singles;
        } else if (c == 2) {
            --singles;
        }
        stream.push_back(id);
    };
    const auto drift = [&] {
        const auto k = static_cast<std::uint64_t>(std::llround(s.drift_fraction * s.catalogue));
        if (k > 1) {
            std::vector<std::uint64_t> ranks(s.catalogue);
            for (std::uint64_t i = 0; i < s.catalogue; ++i)
                ranks[i] = i;
            for (std::uint64_t i = 0; i < k; ++i)  // a random k-subset of the ranks
                std::swap(ranks[i], ranks[i + below(rng, s.catalogue - i)]);
            std::vector<std::uint64_t> ids(k);
            for (std::uint64_t i = 0; i < k; ++i)
                ids[i] = rank_to_id[ranks[i]];
            for (std::uint64_t i = k - 1; i > 0; --i)
                std::swap(ids[i], ids[below(rng, i + 1)]);
            for (std::uint64_t i = 0; i < k; ++i)
                rank_to_id[ranks[i]] = ids[i];
        }
        const auto n = s.drift_new;
        std::move_backward(rank_to_id.begin(), rank_to_id.end() - static_cast<std::ptrdiff_t>(n),
                           rank_to_id.end());
        for (std::uint64_t i = 0; i < n; ++i)
            rank_to_id[i] = next_id++;
    };

    std::uint64_t draws = 0, scan_left = 0;
    while (stream.size() + one_hit_needed() < s.requests) {
        if (scan_left > 0) {
            --scan_left;
            add(next_id++);
            continue;
        }
        const double u = uniform(rng()) * total;
        const auto r = std::min<std::uint64_t>(
            static_cast<std::uint64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()),
            s.catalogue - 1);
        add(rank_to_id[r]);
        ++draws;
        if (s.drift_every != 0 && draws % s.drift_every == 0) drift();
        if (s.scan_every != 0 && draws % s.scan_every == 0) scan_left = s.scan_length;
    }

    // Interleave the one-hit wonders uniformly: each of the remaining slots is one with
    // probability (one-hit ids left) / (slots left).
    std::uint64_t one_hit_left = s.requests - stream.size();
    std::vector<CdnRequest> out;
    out.reserve(s.requests);
    std::size_t j = 0;
    for (std::uint64_t left = s.requests; left > 0; --left) {
        std::uint64_t id;
        if (one_hit_left > 0 && below(rng, left) < one_hit_left) {
            --one_hit_left;
            id = next_id++;
        } else {
            id = stream[j++];
        }
        out.push_back({id, object_size(s, id)});
    }
    return out;
}

CdnTraceStats measure(const std::vector<CdnRequest>& trace) {
    CdnTraceStats st;
    std::unordered_map<std::uint64_t, std::uint64_t> counts;
    counts.reserve(trace.size());
    for (const auto& r : trace) {
        ++st.requests;
        st.requested_bytes += r.size;
        auto& c = ++counts[r.id];
        if (c == 1) {
            ++st.objects;
            ++st.one_hit_objects;
            st.footprint_bytes += r.size;
        } else if (c == 2) {
            --st.one_hit_objects;
        }
    }
    return st;
}

}  // namespace cdn::bench
