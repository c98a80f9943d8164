// cdn_trace_gen: writes a synthetic CDN trace (bench/cdn_trace.hpp) as gzip text in the shared
// format, "timestamp object_id size_bytes" per line, and prints what it wrote (requests, distinct
// objects, the one-hit-wonder share of objects, footprint) so the realised shape can be checked.
#include "bench/cdn_trace.hpp"

#include <fmt/format.h>
#include <zlib.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <string>

int main(int argc, char** argv) {
    using cdn::bench::CdnTraceSpec;
    CdnTraceSpec s;
    std::string out_path;
    double rate = 1000;
    CLI::App app{
        "Synthetic CDN trace: Zipf popularity with drift, lognormal + Pareto sizes, one-hit "
        "wonders, scans; gzip \"timestamp object_id size_bytes\" lines."};
    app.add_option("-o,--output", out_path, "gzip trace to write")->required();
    app.add_option("--seed", s.seed, "random seed (same seed and options, same file)")
        ->capture_default_str();
    app.add_option("--requests", s.requests, "requests in the trace")->capture_default_str();
    app.add_option("--catalogue", s.catalogue, "objects ranked by Zipf popularity")
        ->capture_default_str();
    app.add_option("--alpha", s.alpha, "Zipf exponent (CDN-like: 0.7 .. 1.0)")
        ->capture_default_str();
    app.add_option("--one-hit-share", s.one_hit_share,
                   "share of distinct objects requested exactly once, in [0, 1)")
        ->capture_default_str();
    app.add_option("--size-mu", s.size_mu, "lognormal sizes: mean of ln(bytes)")
        ->capture_default_str();
    app.add_option("--size-sigma", s.size_sigma, "lognormal sizes: std dev of ln(bytes)")
        ->capture_default_str();
    app.add_option("--pareto-fraction", s.pareto_fraction,
                   "share of objects whose size is Pareto instead (the heavy tail)")
        ->capture_default_str();
    app.add_option("--pareto-alpha", s.pareto_alpha, "Pareto tail index")->capture_default_str();
    app.add_option("--pareto-min", s.pareto_min, "Pareto scale (smallest tail size), bytes")
        ->capture_default_str();
    app.add_option("--min-size", s.min_size, "sizes clamped to at least this")
        ->capture_default_str();
    app.add_option("--max-size", s.max_size, "sizes clamped to at most this")
        ->capture_default_str();
    app.add_option("--drift-every", s.drift_every, "Zipf draws between drifts (0: no drift)")
        ->capture_default_str();
    app.add_option("--drift-fraction", s.drift_fraction,
                   "share of the ranks whose objects are reshuffled at each drift")
        ->capture_default_str();
    app.add_option("--drift-new", s.drift_new, "new objects that take the top ranks at each drift")
        ->capture_default_str();
    app.add_option("--scan-every", s.scan_every, "Zipf draws between scans (0: no scans)")
        ->capture_default_str();
    app.add_option("--scan-length", s.scan_length, "never-seen sequential ids per scan")
        ->capture_default_str();
    app.add_option("--rate", rate, "requests per second (timestamps are whole seconds)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    if (const auto err = cdn::bench::validate(s); !err.empty()) {
        fmt::print(stderr, "cdn_trace_gen: {}\n", err);
        return 2;
    }

    const auto trace = cdn::bench::make_cdn_trace(s);
    gzFile f = gzopen(out_path.c_str(), "wb6");
    if (f == nullptr) {
        fmt::print(stderr, "cdn_trace_gen: cannot open {}\n", out_path);
        return 1;
    }
    gzbuffer(f, 1 << 18);
    std::string buf;
    bool ok = true;
    for (std::size_t i = 0; i < trace.size() && ok; ++i) {
        const auto ts = static_cast<std::uint64_t>(std::floor(static_cast<double>(i) / rate));
        buf += fmt::format("{} {} {}\n", ts, trace[i].id, trace[i].size);
        if (buf.size() >= (1 << 16) || i + 1 == trace.size()) {
            ok = gzwrite(f, buf.data(), static_cast<unsigned>(buf.size())) ==
                 static_cast<int>(buf.size());
            buf.clear();
        }
    }
    if (gzclose(f) != Z_OK || !ok) {
        fmt::print(stderr, "cdn_trace_gen: write error on {}\n", out_path);
        return 1;
    }
    const auto st = cdn::bench::measure(trace);
    fmt::print("# wrote {}: seed {} alpha {} catalogue {}\n", out_path, s.seed, s.alpha,
               s.catalogue);
    fmt::print(
        "# requests {}  objects {}  one-hit-wonder share {:.4f} (asked {:.4f})  footprint {} B  "
        "requested {} B\n",
        st.requests, st.objects, st.one_hit_share(), s.one_hit_share, st.footprint_bytes,
        st.requested_bytes);
    if (st.one_hit_share() > s.one_hit_share + 0.001)
        fmt::print(stderr,
                   "cdn_trace_gen: the catalogue's own singletons and scans already exceed the "
                   "one-hit share asked for; a smaller catalogue or fewer scans lower it\n");
    return 0;
}
