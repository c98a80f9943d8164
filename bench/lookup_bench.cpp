// lookup_bench: memory-tier lookups per second on one core (issue 19, item 5b). Fills a
// MemoryStore (16 shards, as the edge builds it) with N small objects (empty CachedObjects with
// CDN-like keys, charged a fixed size, nothing evicted), then times single-thread lookups of
// pre-generated keys: uniform over the N objects and Zipf(alpha) by rank. Every lookup is a hit
// and returns its ObjectPtr as the proxy's lookup does. Bounded in lookups and in seconds; no
// network, no clock in the store.
#include "bench/zipf_trace.hpp"
#include "edge/storage/memory_store.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using cdn::edge::storage::CachedObject;
using cdn::edge::storage::MemoryStore;
using cdn::edge::storage::PolicyKind;

// N keys "<prefix><i>" in one buffer, so the timed loop builds no string.
struct Keys {
    std::string bytes;
    std::vector<std::uint32_t> ends;  // key i is bytes[ends[i-1], ends[i])

    std::string_view operator[](std::size_t i) const {
        const std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
        return std::string_view(bytes).substr(begin, ends[i] - begin);
    }
};

Keys make_keys(std::uint64_t n, std::string_view prefix) {
    Keys k;
    k.bytes.reserve(n * (prefix.size() + 8));
    k.ends.reserve(n);
    char buf[24];
    for (std::uint64_t i = 0; i < n; ++i) {
        const auto res = std::to_chars(buf, buf + sizeof buf, i);
        k.bytes.append(prefix).append(buf, res.ptr);
        if (k.bytes.size() > UINT32_MAX) throw std::runtime_error("keys exceed 4 GiB");
        k.ends.push_back(static_cast<std::uint32_t>(k.bytes.size()));
    }
    return k;
}

struct Run {
    std::uint64_t lookups = 0;
    std::uint64_t hits = 0;
    double seconds = 0;
    double cpu_seconds = 0;  // this thread's CPU time: the per-core figure on a shared machine
};

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// keys[order[0]], keys[order[1]]... laid out one after the other: the timed loop reads its
// keys in sequence, as a proxy finds each request's key in the request it is parsing, instead
// of missing the cache twice per lookup in a key table of N entries.
Keys in_order(const Keys& keys, const std::vector<std::uint32_t>& order) {
    Keys k;
    k.ends.reserve(order.size());
    for (const std::uint32_t i : order) {
        k.bytes.append(keys[i]);
        if (k.bytes.size() > UINT32_MAX) throw std::runtime_error("keys exceed 4 GiB");
        k.ends.push_back(static_cast<std::uint32_t>(k.bytes.size()));
    }
    return k;
}

// Looks up each of `sequence` in turn, at most max_seconds (checked every 64 Ki lookups).
Run time_lookups(MemoryStore& store, const Keys& sequence, double max_seconds) {
    Run r;
    const double cpu_start = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    const auto limit = std::chrono::duration<double>(max_seconds);
    for (std::size_t i = 0; i < sequence.ends.size(); ++i) {
        if (store.lookup(sequence[i])) ++r.hits;
        ++r.lookups;
        if ((i & 0xffff) == 0xffff && std::chrono::steady_clock::now() - start > limit) break;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.cpu_seconds = thread_cpu_seconds() - cpu_start;
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Fills the edge's memory store with N small objects and times single-thread lookups "
        "(uniform and Zipf keys, pre-generated): lookups per second per core."};
    std::uint64_t objects = 10'000'000;
    std::uint64_t lookups = 20'000'000;
    std::size_t shards = 16;
    double alpha = 0.9;
    double max_seconds = 30;
    std::string prefix = "www.example.com/assets/img/";
    std::string policy_text = "s3fifo-tlfu";  // the edge's default
    std::uint64_t seed = 1;
    app.add_option("--objects", objects, "objects stored")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 31));
    app.add_option("--lookups", lookups, "lookups per key pattern")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 31));
    app.add_option("--shards", shards, "store shards (the edge uses 16)")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    app.add_option("--alpha", alpha, "Zipf exponent of the skewed pattern")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3.0));
    app.add_option("--max-seconds", max_seconds, "time bound of each timed pattern")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--key-prefix", prefix, "keys are this prefix and the object's number")
        ->capture_default_str();
    app.add_option("--policy", policy_text,
                   "eviction policy: s3fifo-tlfu (the default), s3fifo, lru or w-tinylfu")
        ->capture_default_str();
    app.add_option("--seed", seed, "seed of the key orders")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        const auto policy = cdn::edge::storage::parse_policy_kind(policy_text);
        if (!policy)
            throw std::runtime_error("--policy: expected s3fifo-tlfu, s3fifo, lru or w-tinylfu");
        const Keys keys = make_keys(objects, prefix);

        // Charged 1 KiB each in a store twice that large: nothing is evicted.
        constexpr std::uint64_t kCharge = 1024;
        MemoryStore store(objects * kCharge * 2, shards, *policy);
        const auto fill_start = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < objects; ++i) {
            auto o = CachedObject::make(keys[i]);
            o->seq = i + 1;
            store.insert(std::move(o), kCharge);
        }
        const double fill_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count();
        if (store.objects() != objects)
            throw std::runtime_error(
                fmt::format("stored {} of {} objects", store.objects(), objects));

        std::vector<std::uint32_t> uniform(lookups);
        std::mt19937_64 rng(seed);
        for (auto& k : uniform)
            k = static_cast<std::uint32_t>(rng() % objects);
        cdn::bench::ZipfSpec z;
        z.objects = objects;
        z.alpha = alpha;
        z.requests = lookups;
        z.seed = seed;
        std::vector<std::uint32_t> zipf = cdn::bench::make_zipf_trace(z, {}).requests;

        fmt::print(
            "# objects {}  shards {}  policy {}  key \"{}\" ({} B)  filled in {:.2f} s "
            "({:.2f} M inserts/s)\n",
            objects, shards, cdn::edge::storage::to_string(*policy), keys[objects - 1],
            keys[objects - 1].size(), fill_seconds,
            static_cast<double>(objects) / fill_seconds / 1e6);
        fmt::print("{:>10} {:>12} {:>12} {:>9} {:>18} {:>11} {:>22}\n", "keys", "lookups", "hits",
                   "seconds", "M_lookups_per_s", "cpu_seconds", "M_lookups_per_cpu_s");
        const auto report = [&](std::string_view name, const Run& r) {
            fmt::print("{:>10} {:>12} {:>12} {:>9.3f} {:>18.2f} {:>11.3f} {:>22.2f}\n", name,
                       r.lookups, r.hits, r.seconds,
                       static_cast<double>(r.lookups) / r.seconds / 1e6, r.cpu_seconds,
                       static_cast<double>(r.lookups) / r.cpu_seconds / 1e6);
            if (r.hits != r.lookups)
                throw std::runtime_error(fmt::format("{}: {} misses", name, r.lookups - r.hits));
        };
        report("uniform", time_lookups(store, in_order(keys, uniform), max_seconds));
        report(fmt::format("zipf{:.2f}", alpha),
               time_lookups(store, in_order(keys, zipf), max_seconds));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lookup_bench: %s\n", e.what());
        return 2;
    }
    return 0;
}
