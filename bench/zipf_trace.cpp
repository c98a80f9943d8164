#include "bench/zipf_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <random>

namespace cdn::bench {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto pos = text.find(sep);
        parts.push_back(text.substr(0, pos));
        if (pos == std::string_view::npos) return parts;
        text.remove_prefix(pos + 1);
    }
}

template <typename T>
std::optional<T> number(std::string_view s) {
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// Uniform in [0, 1) from the top 53 bits.
double uniform(std::mt19937_64& rng) {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

std::optional<ZipfSpec> parse_zipf_spec(std::string_view text) {
    const auto parts = split(text, ',');
    if (parts.size() != 3 && parts.size() != 4) return std::nullopt;
    ZipfSpec z;
    auto objects = number<std::uint64_t>(parts[0]);
    auto alpha = number<double>(parts[1]);
    auto requests = number<std::uint64_t>(parts[2]);
    if (!objects || !alpha || !requests) return std::nullopt;
    if (*objects == 0 || *objects > (std::uint64_t{1} << 32) || *alpha < 0 || *alpha > 10)
        return std::nullopt;
    z.objects = *objects;
    z.alpha = *alpha;
    z.requests = *requests;
    if (parts.size() == 4) {
        auto seed = number<std::uint64_t>(parts[3]);
        if (!seed) return std::nullopt;
        z.seed = *seed;
    }
    return z;
}

std::optional<SizeSpec> parse_size_spec(std::string_view text) {
    SizeSpec s;
    if (text.starts_with("fixed:")) {
        auto bytes = number<std::uint64_t>(text.substr(6));
        if (!bytes) return std::nullopt;
        s.bytes = *bytes;
        return s;
    }
    if (text.starts_with("lognormal:")) {
        const auto parts = split(text.substr(10), ',');
        if (parts.size() != 2) return std::nullopt;
        auto median = number<std::uint64_t>(parts[0]);
        auto sigma = number<double>(parts[1]);
        if (!median || *median == 0 || !sigma || *sigma < 0 || *sigma > 10) return std::nullopt;
        s.kind = SizeSpec::Kind::lognormal;
        s.bytes = *median;
        s.sigma = *sigma;
        return s;
    }
    return std::nullopt;
}

std::string describe(const ZipfSpec& z, const SizeSpec& s) {
    const std::string sizes = s.kind == SizeSpec::Kind::fixed
                                  ? fmt::format("fixed {} B", s.bytes)
                                  : fmt::format("lognormal median {} B sigma {}", s.bytes, s.sigma);
    return fmt::format("zipf objects={} alpha={} requests={} seed={} sizes={}", z.objects, z.alpha,
                       z.requests, z.seed, sizes);
}

SyntheticTrace make_zipf_trace(const ZipfSpec& z, const SizeSpec& s) {
    SyntheticTrace t;
    // Sizes first, from their own stream, so they do not depend on the request count.
    std::mt19937_64 size_rng(z.seed ^ 0x5bd1e995u);
    t.sizes.resize(z.objects);
    for (auto& size : t.sizes) {
        if (s.kind == SizeSpec::Kind::fixed) {
            size = s.bytes;
            continue;
        }
        // Box-Muller; 1 - u keeps the logarithm finite.
        const double u1 = 1.0 - uniform(size_rng);
        const double u2 = uniform(size_rng);
        const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
        const double bytes = static_cast<double>(s.bytes) * std::exp(s.sigma * normal);
        size = static_cast<std::uint64_t>(std::clamp(std::llround(bytes), 1ll, 1ll << 30));
    }
    // Inverse CDF by binary search over the cumulative weights 1 / rank^alpha.
    std::vector<double> cdf(z.objects);
    double total = 0;
    for (std::uint64_t i = 0; i < z.objects; ++i) {
        total += std::pow(static_cast<double>(i + 1), -z.alpha);
        cdf[i] = total;
    }
    std::mt19937_64 rng(z.seed);
    t.requests.resize(z.requests);
    for (auto& r : t.requests) {
        const double u = uniform(rng) * total;
        const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
        r = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(static_cast<std::uint64_t>(it - cdf.begin()), z.objects - 1));
    }
    return t;
}

}  // namespace cdn::bench
