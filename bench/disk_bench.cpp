// disk_bench: measures the edge's disk tier (DiskStore) on this machine: how long a restart
// takes with many objects on disk, after a clean stop (every segment has its summary) and after
// a crash (the active segment is scanned record by record), and how many disk hits per second
// it serves with one and two threads.
//
// Per configuration (small objects, then large ones): fill a fresh store with N objects, close
// it, time the constructor of a new store on the directory (clean restart); random lookups
// against that store; then fill it a second time (new versions of the same keys), flush and,
// while it is still open, copy its files to another directory, as a kill -9 would leave them,
// and time a store opened there (crash restart). Lookups read through the page cache (the file
// was just written): this is the CPU and syscall cost of a disk hit, not the device's.
//
// Everything lives in a fresh directory (under --dir, default /tmp) removed at exit. Every loop
// is bounded in count and in time.
#include "common/clock.hpp"
#include "common/units.hpp"
#include "edge/storage/cached_object.hpp"
#include "edge/storage/disk_store.hpp"
#include "edge/storage/record_codec.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using cdn::edge::storage::CachedObject;
using cdn::edge::storage::DiskSettings;
using cdn::edge::storage::DiskStore;
using cdn::edge::storage::ObjectPtr;
using Steady = std::chrono::steady_clock;

double seconds_since(Steady::time_point start) {
    return std::chrono::duration<double>(Steady::now() - start).count();
}

// A fresh directory, removed (with everything in it) when this goes away.
class TempDir {
  public:
    explicit TempDir(const fs::path& parent) {
        fs::create_directories(parent);
        std::string templ = (parent / "disk_bench.XXXXXX").string();
        if (!::mkdtemp(templ.data()))
            throw std::runtime_error(fmt::format("{}: cannot create a directory", templ));
        path_ = templ;
    }
    ~TempDir() {
        if (keep_) return;
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    void keep() { keep_ = true; }

  private:
    fs::path path_;
    bool keep_ = false;
};

struct Workload {
    std::string name;
    std::uint64_t objects = 0;
    std::uint64_t body_bytes = 0;
    bool crash = true;  // also measure the crash restart (needs a copy of the store)
};

struct Options {
    std::uint32_t segment_bytes = 64u << 20;
    double seconds = 3;
    std::uint64_t lookups = 0;  // per thread count; 0 = until `seconds`
    std::vector<unsigned> threads = {1, 2};
    std::uint64_t seed = 42;
    double fill_timeout = 300;  // seconds, per fill
    unsigned restarts = 1;      // clean restarts timed (the median is reported)
    bool keep = false;          // stop after the first workload's lookups, keep its directory
};

std::string key_of(std::uint64_t i) {
    return fmt::format("http://bench/obj/{}", i);
}

ObjectPtr make_object(std::uint64_t i, const cdn::BodyPtr& body, const cdn::Clock& clock) {
    auto o = CachedObject::make(
        key_of(i), fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body->size()));
    o->status = 200;
    o->seq = cdn::edge::storage::next_object_sequence();
    o->body = body;  // every object shares one body: the store writes its bytes anyway
    o->meta.response_time = clock.now();
    o->meta.lifetime = std::chrono::hours(1);
    return o;
}

struct FillResult {
    double seconds = 0;
    std::uint64_t record_bytes = 0;
};

// Inserts objects 0..n-1 and waits until they are written. When the write queue is full the
// filler waits for it to drain (DiskStore refuses rather than blocks).
FillResult fill(DiskStore& store, const Workload& w, const cdn::BodyPtr& body,
                const cdn::Clock& clock, double timeout) {
    const auto start = Steady::now();
    const std::uint64_t written_before = store.stats().write_bytes.load();
    for (std::uint64_t i = 0; i < w.objects; ++i) {
        ObjectPtr o = make_object(i, body, clock);
        if (store.insert(o)) continue;
        store.flush();
        if (store.degraded() || !store.insert(std::move(o)))
            throw std::runtime_error(
                fmt::format("{}: the disk store refused object {}", store.path().string(), i));
        if (seconds_since(start) > timeout)
            throw std::runtime_error(fmt::format("filling took over {} s", timeout));
    }
    store.flush();
    FillResult r;
    r.seconds = seconds_since(start);
    r.record_bytes = store.stats().write_bytes.load() - written_before;
    return r;
}

struct LookupResult {
    unsigned threads = 0;
    std::uint64_t lookups = 0;
    std::uint64_t misses = 0;
    std::uint64_t bytes = 0;  // body bytes returned
    double seconds = 0;
};

LookupResult lookups(DiskStore& store, const Workload& w, const Options& opt, unsigned threads) {
    struct PerThread {
        std::uint64_t lookups = 0, misses = 0, bytes = 0;
    };
    std::vector<PerThread> per(threads);
    const std::uint64_t limit =
        opt.lookups > 0 ? (opt.lookups + threads - 1) / threads : std::uint64_t{1} << 40;
    const auto start = Steady::now();
    const auto deadline = start + std::chrono::duration_cast<Steady::duration>(
                                      std::chrono::duration<double>(opt.seconds));
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::mt19937_64 rng(opt.seed * 1000 + t);
            PerThread& p = per[t];
            char key[64];
            for (std::uint64_t n = 0; n < limit; ++n) {
                if ((n & 255) == 0 && Steady::now() >= deadline) break;
                const std::uint64_t i = rng() % w.objects;
                const auto end = fmt::format_to_n(key, sizeof key, "http://bench/obj/{}", i).out;
                const ObjectPtr o = store.lookup(std::string_view(key, end - key));
                ++p.lookups;
                if (!o || o->body_size() != w.body_bytes)
                    ++p.misses;
                else
                    p.bytes += o->body_size();
            }
        });
    for (auto& th : pool)
        th.join();
    LookupResult r;
    r.threads = threads;
    r.seconds = seconds_since(start);
    for (const auto& p : per) {
        r.lookups += p.lookups;
        r.misses += p.misses;
        r.bytes += p.bytes;
    }
    return r;
}

std::string describe(const cdn::edge::storage::DiskRecovery& r) {
    return fmt::format(
        "objects {} segments {} from_summary {} scanned {} discarded {} recovery.duration {} ms",
        r.objects, r.segments, r.from_summary, r.scanned, r.discarded, r.duration.count());
}

struct Row {
    std::string name;
    std::uint64_t objects = 0;
    std::uint64_t record_bytes = 0;  // per object on disk
    std::uint64_t capacity = 0;
    FillResult fill;
    double clean_ms = 0;
    std::optional<double> crash_ms;
    std::uint64_t recovered = 0, crash_recovered = 0;
    std::vector<LookupResult> lookups;
};

Row run(const Workload& w, const Options& opt, const fs::path& root, const cdn::Clock& clock) {
    Row row;
    row.name = w.name;
    row.objects = w.objects;
    const auto body = cdn::new_body(w.body_bytes, 'x');
    {
        const auto sample = make_object(w.objects, body, clock);  // the longest key
        row.record_bytes = cdn::edge::storage::encode_object(*sample, 0).header.record_size();
    }
    // Room for every object and 30 % more, in whole segments; at least 8 segments.
    const std::uint64_t want =
        static_cast<std::uint64_t>(static_cast<double>(w.objects * row.record_bytes) * 1.3);
    std::uint32_t seg = opt.segment_bytes;
    while (seg > (1u << 20) && (want + seg - 1) / seg < 8)
        seg /= 2;
    if (row.record_bytes + 4096 + cdn::edge::storage::SegmentLog::kSegmentHeader > seg)
        throw std::runtime_error(
            fmt::format("an object of {} B does not fit a segment of {} B", row.record_bytes, seg));
    const std::uint64_t segments = std::max<std::uint64_t>(8, (want + seg - 1) / seg);
    row.capacity = segments * seg;
    const std::uint64_t need = row.capacity * (w.crash ? 2 : 1);
    if (const auto space = fs::space(root); space.available < need + (1ull << 30))
        throw std::runtime_error(fmt::format("{}: {} needs {} B of disk, {} B free", root.string(),
                                             w.name, need, space.available));

    DiskSettings settings;
    settings.path = root / w.name;
    settings.capacity_bytes = row.capacity;
    settings.segment_bytes = seg;
    settings.write_queue_bytes = 256ull << 20;
    fmt::print("# {}: {} objects of {} B body ({} B on disk each), {} segments of {} MiB\n", w.name,
               w.objects, w.body_bytes, row.record_bytes, segments, seg >> 20);
    std::fflush(stdout);

    {
        DiskStore store(settings, clock);
        row.fill = fill(store, w, body, clock, opt.fill_timeout);
        store.close();
    }
    fmt::print("# {}: filled in {:.2f} s\n", w.name, row.fill.seconds);

    // Extra clean restarts first (each stop writes the active segment's summary again), for a
    // median on a noisy machine.
    std::vector<double> clean;
    for (unsigned i = 1; i < opt.restarts; ++i) {
        const auto t0 = Steady::now();
        DiskStore again(settings, clock);
        clean.push_back(seconds_since(t0) * 1e3);
        fmt::print("# {}: clean restart {:.0f} ms: {}\n", w.name, clean.back(),
                   describe(again.recovery()));
        again.close();
    }
    auto start = Steady::now();
    DiskStore store(settings, clock);
    const double last_ms = seconds_since(start) * 1e3;
    clean.push_back(last_ms);
    std::sort(clean.begin(), clean.end());
    row.clean_ms = clean[clean.size() / 2];
    row.recovered = store.recovery().objects;
    fmt::print("# {}: clean restart {:.0f} ms{}: {}\n", w.name, last_ms,
               clean.size() > 1 ? fmt::format(" (last; median of {}: {:.0f} ms, min {:.0f} ms)",
                                              clean.size(), row.clean_ms, clean.front())
                                : std::string(),
               describe(store.recovery()));
    std::fflush(stdout);

    for (unsigned t : opt.threads) {
        row.lookups.push_back(lookups(store, w, opt, t));
        const auto& l = row.lookups.back();
        if (l.misses > 0)
            fmt::print("# {}: {} of {} lookups with {} threads missed\n", w.name, l.misses,
                       l.lookups, t);
    }

    if (opt.keep) {
        store.close();
        fmt::print("# {}: kept {}\n", w.name, settings.path.string());
        return row;
    }
    if (w.crash) {
        // Fill again without a stop, then take the files as a kill -9 leaves them.
        const FillResult again = fill(store, w, body, clock, opt.fill_timeout);
        const fs::path crashed = root / (w.name + "-crash");
        fs::create_directories(crashed);
        start = Steady::now();
        for (const auto& entry : fs::directory_iterator(settings.path))
            if (entry.is_regular_file())
                fs::copy_file(entry.path(), crashed / entry.path().filename());
        fmt::print("# {}: filled again in {:.2f} s; files copied in {:.2f} s\n", w.name,
                   again.seconds, seconds_since(start));
        store.close();
        fs::remove_all(settings.path);

        DiskSettings copy = settings;
        copy.path = crashed;
        start = Steady::now();
        DiskStore after(copy, clock);
        row.crash_ms = seconds_since(start) * 1e3;
        row.crash_recovered = after.recovery().objects;
        fmt::print("# {}: crash restart {:.0f} ms: {}\n", w.name, *row.crash_ms,
                   describe(after.recovery()));
        Options check = opt;
        check.lookups = std::min<std::uint64_t>(10000, w.objects);
        check.seconds = 10;
        const LookupResult v = lookups(after, w, check, 1);
        fmt::print("# {}: after the crash {} of {} random lookups hit\n", w.name,
                   v.lookups - v.misses, v.lookups);
        after.close();
        fs::remove_all(crashed);
    } else {
        store.close();
        fs::remove_all(settings.path);
    }
    std::fflush(stdout);
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Measures the edge's disk tier: restart time (clean stop and crash) with many objects on "
        "disk, and disk-hit throughput with one and two threads (page-cache warm)."};
    std::string dir = "/tmp", segment_text = "64MiB", restart_only;
    Workload small{"small", 1000000, 200, true};
    Workload large{"large", 20000, 65536, false};
    bool large_crash = false;
    Options opt;
    app.add_option("--dir", dir, "parent of the working directory (created, removed at exit)")
        ->capture_default_str();
    app.add_option("--objects", small.objects, "objects of the first workload")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000000}));
    app.add_option("--size", small.body_bytes, "body bytes of each object of the first workload")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{64} << 20));
    app.add_option("--large-objects", large.objects, "objects of the second workload (0 skips it)")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{10000000}));
    app.add_option("--large-size", large.body_bytes, "body bytes of the second workload")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{64} << 20));
    app.add_flag("--large-crash", large_crash,
                 "also measure the crash restart of the second workload (needs twice its disk)");
    app.add_option("--segment-size", segment_text,
                   "segment size (halved down to 1MiB while the ring would have under 8)")
        ->capture_default_str();
    app.add_option("--seconds", opt.seconds, "lookup time per thread count")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 600.0));
    app.add_option("--lookups", opt.lookups,
                   "lookups per thread count instead (still bounded by --seconds)");
    app.add_option("--threads", opt.threads, "lookup thread counts")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(1u, 64u));
    app.add_option("--seed", opt.seed, "random seed of the lookups")->capture_default_str();
    app.add_option("--restarts", opt.restarts,
                   "clean restarts to time (the table shows their median)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 20u));
    app.add_option("--restart-only", restart_only,
                   "time --restarts clean restarts of an existing store directory (a copy of one "
                   "this bench filled; --segment-size must be its segment size), nothing else");
    app.add_flag("--keep", opt.keep,
                 "stop after the first workload's clean restart and lookups and keep its store "
                 "directory (for --restart-only)");
    CLI11_PARSE(app, argc, argv);
    large.crash = large_crash;

    try {
        const auto seg = cdn::parse_size(segment_text);
        if (!seg || *seg < (1u << 20) || *seg > (1u << 30))
            throw std::runtime_error(fmt::format(
                "--segment-size \"{}\": expected a size from 1MiB to 1GiB", segment_text));
        opt.segment_bytes = static_cast<std::uint32_t>(*seg);
        if (!restart_only.empty()) {
            DiskSettings settings;
            settings.path = restart_only;
            settings.capacity_bytes = fs::file_size(settings.path / "cache.dat");
            settings.segment_bytes = opt.segment_bytes;
            const auto& clock = cdn::SystemClock::instance();
            for (unsigned i = 0; i < opt.restarts; ++i) {
                const auto start = Steady::now();
                DiskStore store(settings, clock);
                const double ms = seconds_since(start) * 1e3;
                fmt::print("# clean restart {:.0f} ms: {}\n", ms, describe(store.recovery()));
                std::fflush(stdout);
                store.close();  // writes the active segment's summary again
            }
            return 0;
        }
        TempDir root(dir);
        if (opt.keep) root.keep();
        fmt::print("# working directory {}\n", root.path().string());
        const auto& clock = cdn::SystemClock::instance();
        std::vector<Row> rows;
        rows.push_back(run(small, opt, root.path(), clock));
        if (large.objects > 0 && !opt.keep) rows.push_back(run(large, opt, root.path(), clock));

        fmt::print("\n{:<6} {:>8} {:>8} {:>9} {:>10} {:>9} {:>9} {:>8} {:>11} {:>9}\n", "load",
                   "objects", "record_B", "store_MiB", "fill_obj/s", "clean_ms", "crash_ms",
                   "threads", "lookups/s", "MB/s");
        for (const Row& r : rows) {
            bool first = true;
            for (const LookupResult& l : r.lookups) {
                const std::string crash = r.crash_ms ? fmt::format("{:.0f}", *r.crash_ms) : "-";
                if (first)
                    fmt::print("{:<6} {:>8} {:>8} {:>9} {:>10.0f} {:>9.0f} {:>9} ", r.name,
                               r.objects, r.record_bytes, r.capacity >> 20,
                               static_cast<double>(r.objects) / r.fill.seconds, r.clean_ms, crash);
                else
                    fmt::print("{:<6} {:>8} {:>8} {:>9} {:>10} {:>9} {:>9} ", "", "", "", "", "",
                               "", "");
                fmt::print("{:>8} {:>11.0f} {:>9.1f}\n", l.threads,
                           static_cast<double>(l.lookups) / l.seconds,
                           static_cast<double>(l.bytes) / l.seconds / 1e6);
                first = false;
            }
        }
        fmt::print(
            "# clean_ms / crash_ms: wall time of the DiskStore constructor (recovery); lookups "
            "uniform over the keys, page-cache warm; MB/s of bodies returned\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "disk_bench: %s\n", e.what());
        return 2;
    }
    return 0;
}
