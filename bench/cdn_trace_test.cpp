// The synthetic CDN trace generator (bench/cdn_trace.hpp): the one-hit-wonder share it is asked
// for is the one measured on its output, the seed fixes the trace, sizes stay in bounds and fixed
// per id with a heavy tail, Zipf skew, drift and scans.
#include "bench/cdn_trace.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <vector>

using namespace cdn::bench;

namespace {

CdnTraceSpec small_spec() {
    CdnTraceSpec s;
    s.requests = 50'000;
    s.catalogue = 5'000;
    s.seed = 7;
    return s;
}

}  // namespace

TEST_CASE("cdn_trace: the measured one-hit-wonder share is the one asked for") {
    for (const double share : {0.5, 0.75, 0.9}) {
        for (const bool drift_and_scans : {false, true}) {
            auto s = small_spec();
            s.one_hit_share = share;
            if (drift_and_scans) {
                s.drift_every = 5'000;
                s.drift_fraction = 0.1;
                s.drift_new = 20;
                s.scan_every = 10'000;
                s.scan_length = 300;
            }
            REQUIRE(validate(s).empty());
            const auto trace = make_cdn_trace(s);
            const auto st = measure(trace);
            INFO("share " << share << " drift/scans " << drift_and_scans << " measured "
                          << st.one_hit_share() << " objects " << st.objects);
            CHECK(st.requests == s.requests);
            CHECK(std::abs(st.one_hit_share() - share) < 0.002);
        }
    }
}

TEST_CASE("cdn_trace: one-hit wonders are spread over the whole trace") {
    auto s = small_spec();
    const auto trace = make_cdn_trace(s);
    std::unordered_map<std::uint64_t, int> counts;
    for (const auto& r : trace)
        ++counts[r.id];
    // Singletons in each quarter of the trace: about equal.
    std::vector<int> quarter(4);
    for (std::size_t i = 0; i < trace.size(); ++i)
        if (counts[trace[i].id] == 1) ++quarter[i * 4 / trace.size()];
    const auto [lo, hi] = std::minmax_element(quarter.begin(), quarter.end());
    CHECK(*lo > 0);
    CHECK(*hi < *lo * 1.15);
}

TEST_CASE("cdn_trace: the seed fixes the trace") {
    auto s = small_spec();
    s.drift_every = 5'000;
    s.drift_fraction = 0.2;
    s.drift_new = 10;
    s.scan_every = 8'000;
    s.scan_length = 100;
    const auto a = make_cdn_trace(s);
    const auto b = make_cdn_trace(s);
    CHECK(a == b);
    s.seed = 8;
    const auto c = make_cdn_trace(s);
    CHECK(a != c);
}

TEST_CASE("cdn_trace: sizes are clamped, fixed per id and heavy-tailed") {
    auto s = small_spec();
    s.size_sigma = 3;  // pushes the lognormal against both clamps
    s.pareto_fraction = 0.05;
    s.pareto_alpha = 0.8;  // a tail heavy enough to reach the upper clamp
    const auto trace = make_cdn_trace(s);
    std::unordered_map<std::uint64_t, std::uint64_t> size_of;
    std::uint64_t at_min = 0, at_max = 0, over_1mib = 0;
    for (const auto& r : trace) {
        REQUIRE(r.size >= 100);
        REQUIRE(r.size <= 64u << 20);
        const auto [it, inserted] = size_of.try_emplace(r.id, r.size);
        REQUIRE(it->second == r.size);
        if (!inserted) continue;
        at_min += r.size == 100;
        at_max += r.size == 64u << 20;
        over_1mib += r.size >= 1u << 20;
    }
    CHECK(at_min > 0);
    CHECK(at_max > 0);
    // The Pareto share alone puts ~5% of the objects at >= 1 MiB.
    CHECK(over_1mib > size_of.size() / 25);
    // Default sizes: the median near exp(size_mu) = 16 KiB.
    const auto d = make_cdn_trace(small_spec());
    std::vector<std::uint64_t> sizes;
    std::unordered_map<std::uint64_t, bool> seen;
    for (const auto& r : d)
        if (seen.try_emplace(r.id, true).second) sizes.push_back(r.size);
    std::nth_element(sizes.begin(), sizes.begin() + sizes.size() / 2, sizes.end());
    const double median = static_cast<double>(sizes[sizes.size() / 2]);
    CHECK(median > 16384 * 0.85);
    CHECK(median < 16384 * 1.2);
}

TEST_CASE("cdn_trace: Zipf skew") {
    for (const double alpha : {0.7, 1.0}) {
        auto s = small_spec();
        s.requests = 200'000;
        s.catalogue = 10'000;
        s.alpha = alpha;
        s.one_hit_share = 0;  // the catalogue stream alone
        const auto trace = make_cdn_trace(s);
        std::unordered_map<std::uint64_t, double> counts;
        for (const auto& r : trace)
            ++counts[r.id];
        // Without drift, id == rank: count(rank 1) / count(rank 10) ~ 10^alpha, and
        // count(rank 1) / count(rank 100) ~ 100^alpha.
        INFO("alpha " << alpha << " c1 " << counts[0] << " c10 " << counts[9] << " c100 "
                      << counts[99]);
        CHECK(counts[0] / counts[9] == Approx(std::pow(10, alpha)).epsilon(0.12));
        CHECK(counts[0] / counts[99] == Approx(std::pow(100, alpha)).epsilon(0.2));
        CHECK(measure(trace).objects <= s.catalogue);
    }
}

TEST_CASE("cdn_trace: drift brings new objects to the top, scans add consecutive fresh ids") {
    auto s = small_spec();
    s.one_hit_share = 0;
    s.drift_every = 10'000;
    s.drift_new = 5;
    s.scan_every = 20'000;
    s.scan_length = 500;
    const auto trace = make_cdn_trace(s);
    std::map<std::uint64_t, std::uint64_t> counts;  // ordered: ids above the catalogue's are new
    for (const auto& r : trace)
        ++counts[r.id];
    std::uint64_t hot_new = 0, scan_ids = 0;
    for (const auto& [id, c] : counts) {
        if (id < s.catalogue) continue;
        if (c >= 100) ++hot_new;  // a top-5 rank for 10,000 draws gets 140 .. 560
        if (c == 1) ++scan_ids;
    }
    CHECK(hot_new >= 5 * 3);  // 4 drifts, 5 new objects each; the last ones have less time
    CHECK(scan_ids >= 2 * 500);
    // A scan is a run of consecutive ids.
    std::size_t longest = 0, run = 1;
    for (std::size_t i = 1; i < trace.size(); ++i) {
        run = trace[i].id == trace[i - 1].id + 1 ? run + 1 : 1;
        longest = std::max(longest, run);
    }
    CHECK(longest == 500);
}

TEST_CASE("cdn_trace: validate refuses bad specs") {
    auto s = small_spec();
    CHECK(validate(s).empty());
    s.one_hit_share = 1;
    CHECK_FALSE(validate(s).empty());
    s = small_spec();
    s.catalogue = 0;
    CHECK_FALSE(validate(s).empty());
    s = small_spec();
    s.min_size = 1000;
    s.max_size = 100;
    CHECK_FALSE(validate(s).empty());
}
