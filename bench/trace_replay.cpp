// trace_replay: replays a request trace through the edge's MemoryStore (no network, no clock in
// the store) at several cache sizes, under the default policy (S3-FIFO with a TinyLFU and a size
// gate), S3-FIFO, W-TinyLFU and LRU in the same run, and prints the object and byte hit ratios
// of each and the default's gain over the best of the others. With
// a disk size (--disk-fraction or --disk-bytes) it models the memory + disk tiers of TieredStore
// instead and prints, per memory and disk size, the hit ratios of each tier and the bytes
// written to disk.
//
// Trace: one request per line, "timestamp object_id size_bytes", whitespace separated, plain
// or gzip. Conventions (those of the team's simulator, so numbers compare): every line is one
// GET; an object_id that re-appears with a different size is a different object; footprint =
// sum of the sizes of the distinct (id, size) objects; no warm-up is excluded. A miss stores the
// object charged at its trace size (no body is allocated); an object larger than a shard is a
// miss that is not stored.
//
// The disk tier is modelled without I/O by SegmentLog (the placement and index DiskStore uses)
// and AdmissionFilter (TieredStore's admission rule), wired as TieredStore wires them: every
// request is counted by the rule (the `frequency` sketch counts every lookup); an
// object memory evicts goes to disk if the rule admits it and the disk does not already hold
// it; a memory miss found on disk is a disk hit and is copied back into memory (it stays on
// disk); an object too large for memory goes to disk through the rule as a first request. A
// record is the trace size plus the 80-byte record header, padded to 8 bytes (the key, the
// metadata and the HTTP head a real record also holds are left out).
#include "bench/zipf_trace.hpp"
#include "common/units.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/storage/record_codec.hpp"
#include "edge/storage/segment_log.hpp"
#include "edge/storage/tiered_store.hpp"

#include <fmt/format.h>
#include <zlib.h>
#include <CLI/CLI.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

using cdn::edge::storage::AdmissionFilter;
using cdn::edge::storage::AdmissionSettings;
using cdn::edge::storage::CachedObject;
using cdn::edge::storage::DiskAdmission;
using cdn::edge::storage::DiskSlot;
using cdn::edge::storage::MemoryStore;
using cdn::edge::storage::ObjectPtr;
using cdn::edge::storage::PolicyKind;
using cdn::edge::storage::RecordHeader;
using cdn::edge::storage::SegmentLog;

struct Trace {
    std::string name;
    std::vector<std::uint32_t> requests;  // object index per request
    std::vector<std::uint64_t> sizes;     // size per object index
    std::uint64_t footprint = 0;          // sum of sizes of the distinct objects
    std::uint64_t requested_bytes = 0;
};

// The bytes every object of the trace needs, and its totals.
void finish(Trace& t) {
    t.footprint = 0;
    for (auto s : t.sizes)
        t.footprint += s;
    t.requested_bytes = 0;
    for (auto r : t.requests)
        t.requested_bytes += t.sizes[r];
}

class GzFile {
  public:
    explicit GzFile(const std::string& path) : f_(gzopen(path.c_str(), "rb")) {
        if (!f_)
            throw std::runtime_error(fmt::format("{}: cannot open: {}", path, strerror(errno)));
        gzbuffer(f_, 1 << 18);
    }
    ~GzFile() { gzclose(f_); }
    GzFile(const GzFile&) = delete;
    GzFile& operator=(const GzFile&) = delete;
    gzFile get() const { return f_; }

  private:
    gzFile f_;
};

std::string_view next_token(std::string_view& line) {
    const auto start = line.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(start);
    const auto end = std::min(line.find_first_of(" \t\r\n"), line.size());
    const std::string_view token = line.substr(0, end);
    line.remove_prefix(end);
    return token;
}

// Reads a "timestamp object_id size" trace, plain or gzip. Blank lines and lines starting
// with '#' are skipped. Throws std::runtime_error naming the file and line on bad input.
Trace load_trace(const std::string& path) {
    Trace t;
    t.name = path;
    GzFile file(path);
    boost::unordered_flat_map<std::string, std::uint32_t> ids;  // "id size" -> object index
    std::string key;
    char buf[4096];
    std::uint64_t lineno = 0;
    while (gzgets(file.get(), buf, sizeof buf)) {
        ++lineno;
        std::string_view line(buf);
        if (!line.ends_with('\n') && !gzeof(file.get()))
            throw std::runtime_error(fmt::format("{}:{}: line too long", path, lineno));
        const auto fail = [&](std::string_view what) {
            return std::runtime_error(
                fmt::format("{}:{}: {}; expected \"timestamp object_id "
                            "size_bytes\"",
                            path, lineno, what));
        };
        std::string_view rest = line;
        const std::string_view ts = next_token(rest);
        if (ts.empty() || ts.starts_with('#')) continue;
        const std::string_view id = next_token(rest);
        const std::string_view size_text = next_token(rest);
        if (id.empty() || size_text.empty()) throw fail("too few fields");
        if (!next_token(rest).empty()) throw fail("too many fields");
        std::uint64_t size = 0;
        const auto [end, ec] =
            std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
        if (ec != std::errc{} || end != size_text.data() + size_text.size())
            throw fail(fmt::format("size \"{}\" is not a whole number", size_text));
        key.assign(id);
        key += ' ';
        key += std::to_string(size);
        auto [it, inserted] = ids.try_emplace(key, static_cast<std::uint32_t>(t.sizes.size()));
        if (inserted) {
            if (t.sizes.size() == UINT32_MAX) throw fail("more than 2^32-1 distinct objects");
            t.sizes.push_back(size);
        }
        t.requests.push_back(it->second);
    }
    int err = 0;
    const char* msg = gzerror(file.get(), &err);
    if (err != Z_OK && err != Z_STREAM_END)
        throw std::runtime_error(fmt::format("{}: read error: {}", path, msg));
    finish(t);
    return t;
}

Trace zipf_trace(const cdn::bench::ZipfSpec& z, const cdn::bench::SizeSpec& s) {
    auto synthetic = cdn::bench::make_zipf_trace(z, s);
    Trace t;
    t.name = cdn::bench::describe(z, s);
    t.requests = std::move(synthetic.requests);
    t.sizes = std::move(synthetic.sizes);
    // Objects never requested are not part of the footprint.
    std::vector<bool> seen(t.sizes.size());
    for (auto r : t.requests)
        seen[r] = true;
    for (std::size_t i = 0; i < t.sizes.size(); ++i)
        if (!seen[i]) t.sizes[i] = 0;
    finish(t);
    return t;
}

void write_trace(const Trace& t, const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), std::fclose);
    if (!f) throw std::runtime_error(fmt::format("{}: cannot write: {}", path, strerror(errno)));
    std::uint64_t ts = 0;
    for (auto r : t.requests)
        fmt::print(f.get(), "{} {} {}\n", ++ts, r, t.sizes[r]);
}

std::size_t heap_in_use() {
#if defined(__GLIBC__)
    const auto m = mallinfo2();
    return m.uordblks + m.hblkhd;
#else
    return 0;
#endif
}

struct Result {
    std::uint64_t hits = 0;
    std::uint64_t hit_bytes = 0;
    std::uint64_t evictions = 0;
    std::uint64_t resident = 0;
    double seconds = 0;
    double store_heap = 0;  // heap bytes the store holds beyond its objects, per resident object
    // The same when the store held the most objects of the replay (its index, ghost and sketch
    // are then sized for what they hold; at the end they may be sized for more).
    double peak_store_heap = 0;  // NaN: never more than 256 objects
};

// One replay object: an empty CachedObject with the trace's key, as every replay stores it.
ObjectPtr trace_object(std::string_view key, std::uint32_t object) {
    auto o = CachedObject::make(key);    // the key in the object's own block
    o->seq = std::uint64_t{object} + 1;  // one identity per (id, size): a version never changes
    return o;
}

// Heap bytes of one replay object as it is allocated (trace_object: the key in its tail and
// malloc's rounding included), measured with mallinfo2 over `n` objects with keys as long as
// the trace's longest (its highest object index).
double object_heap_bytes(std::uint32_t highest_object) {
    constexpr std::uint32_t n = 4096;
    std::vector<ObjectPtr> v;
    v.reserve(n);
    char buf[16];
    const std::size_t before = heap_in_use();
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t id = highest_object - std::min(i, highest_object);
        const auto res = std::to_chars(buf, buf + sizeof buf, id);
        v.push_back(
            trace_object(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)), id));
    }
    return static_cast<double>(heap_in_use() - before) / n;
}

Result replay(const Trace& t, PolicyKind policy, std::uint64_t capacity, std::size_t shards,
              double object_heap) {
    Result r;
    const std::size_t heap_before = heap_in_use();
    auto store = std::make_unique<MemoryStore>(capacity, shards, policy);
    // Per object beyond the objects, `n` objects resident, from the heap in use now.
    const auto store_heap = [&](std::uint64_t n) {
        return (static_cast<double>(heap_in_use() - heap_before) -
                object_heap * static_cast<double>(n)) /
               static_cast<double>(n);
    };
    std::uint64_t peak = 0;
    r.peak_store_heap = std::numeric_limits<double>::quiet_NaN();
    char buf[16];
    const auto start = std::chrono::steady_clock::now();
    for (const std::uint32_t object : t.requests) {
        const auto res = std::to_chars(buf, buf + sizeof buf, object);
        const std::string_view key(buf, static_cast<std::size_t>(res.ptr - buf));
        const std::uint64_t size = t.sizes[object];
        if (store->lookup(key)) {
            ++r.hits;
            r.hit_bytes += size;
            continue;
        }
        store->insert(trace_object(key, object), size);
        // Sampled at each new most-objects count past the first 256 (--metadata only: it
        // costs a mallinfo2 per sample).
        if (object_heap > 0 && store->objects() > std::max<std::uint64_t>(peak, 256)) {
            peak = store->objects();
            r.peak_store_heap = store_heap(peak);
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.evictions = store->evictions();
    r.resident = store->objects();
    if (r.resident > 0 && heap_before > 0) r.store_heap = store_heap(r.resident);
    return r;
}

double ratio(std::uint64_t a, std::uint64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

// The disk tier of one row: a ring of `segments` segments of `segment_bytes`; 0 segments = no
// disk.
struct DiskGeometry {
    std::uint64_t requested = 0;  // the capacity asked for
    std::uint32_t segments = 0;
    std::uint32_t segment_bytes = 0;
    std::uint64_t capacity() const { return std::uint64_t{segments} * segment_bytes; }
};

// At most `segment_bytes`, but small enough for a ring of at least 8 segments.
DiskGeometry disk_geometry(std::uint64_t capacity, std::uint64_t segment_bytes) {
    DiskGeometry g;
    g.requested = capacity;
    if (capacity == 0) return g;
    constexpr std::uint64_t kMinSegments = 8;
    constexpr std::uint64_t kMinSegment = SegmentLog::kSegmentHeader + 64;
    const std::uint64_t seg =
        std::max(kMinSegment, std::min({segment_bytes, capacity / kMinSegments,
                                        std::uint64_t{std::numeric_limits<std::uint32_t>::max()}}));
    g.segment_bytes = static_cast<std::uint32_t>(seg);
    g.segments = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::max<std::uint64_t>(capacity / seg, 2), UINT32_MAX));
    return g;
}

struct TierResult {
    std::uint64_t memory_hits = 0;
    std::uint64_t memory_hit_bytes = 0;
    std::uint64_t disk_hits = 0;
    std::uint64_t disk_hit_bytes = 0;
    std::uint64_t disk_write_bytes = 0;  // records, header and padding included
    std::uint64_t too_large = 0;         // larger than a segment
    double seconds = 0;
};

struct TierConfig {
    PolicyKind policy;
    DiskAdmission admission;
    std::string name() const {
        return fmt::format("{}+{}", cdn::edge::storage::to_string(policy),
                           cdn::edge::storage::to_string(admission));
    }
};

// Memory + disk, wired as TieredStore wires MemoryStore and DiskStore (see the file comment).
TierResult replay_tiered(const Trace& t, TierConfig config, std::uint64_t memory_bytes,
                         const DiskGeometry& disk, std::size_t shards,
                         AdmissionSettings admission_settings) {
    TierResult r;
    MemoryStore memory(memory_bytes, shards, config.policy);
    std::optional<SegmentLog> log;
    if (disk.segments > 0) log.emplace(disk.segments, disk.segment_bytes);
    if (admission_settings.sketch_objects == 0 && disk.segments > 0)  // objects the disk holds
        admission_settings.sketch_objects = static_cast<std::size_t>(std::max<std::uint64_t>(
            disk.capacity() / std::max<std::uint64_t>(t.footprint / t.sizes.size(), 1), 64));
    AdmissionFilter admission(config.admission, admission_settings);
    const auto write = [&](std::uint64_t hash, std::uint64_t seq) {
        const std::uint64_t record = RecordHeader::padded(sizeof(RecordHeader) + t.sizes[seq - 1]);
        const auto p = record <= log->max_record() ? log->place(static_cast<std::uint32_t>(record))
                                                   : std::nullopt;
        if (!p) {
            ++r.too_large;
            return;
        }
        log->commit(hash, *p, static_cast<std::uint32_t>(record), seq, 0);
        r.disk_write_bytes += record;
    };
    const auto to_disk = [&](std::uint64_t hash, std::uint64_t seq, bool reused) {
        if (admission.admit(hash, reused)) write(hash, seq);
    };
    if (log)
        memory.set_eviction_listener([&](ObjectPtr o, bool reused) {
            const std::uint64_t hash = cdn::edge::storage::key_hash(o->key());
            // Promoted from disk and still there: nothing to write.
            if (const DiskSlot* s = log->find(hash); s && s->seq == o->seq) return;
            to_disk(hash, o->seq, reused);
        });
    char buf[16];
    const auto start = std::chrono::steady_clock::now();
    for (const std::uint32_t object : t.requests) {
        const auto res = std::to_chars(buf, buf + sizeof buf, object);
        const std::string_view key(buf, static_cast<std::size_t>(res.ptr - buf));
        const std::uint64_t size = t.sizes[object];
        if (log && config.admission == DiskAdmission::frequency)
            admission.record(cdn::edge::storage::key_hash(key));  // as TieredStore::lookup does
        if (memory.lookup(key)) {
            ++r.memory_hits;
            r.memory_hit_bytes += size;
            continue;
        }
        if (!log) {
            memory.insert(trace_object(key, object), size);
            continue;
        }
        const std::uint64_t hash = cdn::edge::storage::key_hash(key);
        const std::uint64_t seq = std::uint64_t{object} + 1;
        if (const DiskSlot* s = log->find(hash); s && s->seq == seq) {
            ++r.disk_hits;
            r.disk_hit_bytes += size;
            memory.insert(trace_object(key, object), size);  // promoted; stays on disk
            continue;
        }
        // Too large for memory: disk only, on the second request.
        if (!memory.insert(trace_object(key, object), size)) to_disk(hash, seq, false);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    memory.set_eviction_listener(nullptr);
    return r;
}

// The policies of the memory-only table, in its column order: the edge's default first, then
// S3-FIFO, W-TinyLFU and LRU (each once).
std::vector<PolicyKind> table_policies() {
    std::vector<PolicyKind> v = {MemoryStore(1).policy()};
    for (PolicyKind k : {PolicyKind::s3fifo, PolicyKind::wtinylfu, PolicyKind::lru})
        if (k != v.front()) v.push_back(k);
    return v;
}

// A column name for a policy: "s3fifo-tlfu" -> "s3tlfu", "w-tinylfu" -> "wtlfu".
std::string column(PolicyKind k) {
    switch (k) {
        case PolicyKind::s3fifo_tlfu: return "s3tlfu";
        case PolicyKind::wtinylfu: return "wtlfu";
        default: return std::string(cdn::edge::storage::to_string(k));
    }
}

// The memory-only table, per cache size: the default policy first, then S3-FIFO, W-TinyLFU and
// LRU side by side, for object and then byte hit ratio; each gain is the default's over the
// best of the others.
void print_memory_table(const Trace& trace, const std::vector<std::uint64_t>& capacities,
                        std::size_t shards, bool metadata) {
    const auto requests = static_cast<std::uint64_t>(trace.requests.size());
    const std::vector<PolicyKind> policies = table_policies();
    fmt::print("# default policy: {} ([cache] policy)\n",
               cdn::edge::storage::to_string(policies.front()));
    fmt::print("{:>9} {:>14}", "fraction", "cache_bytes");
    for (const char* metric : {"ohr", "bhr"}) {
        for (PolicyKind k : policies)
            fmt::print(" {:>11}", column(k) + "_" + metric);
        fmt::print(" {:>9}", std::string(metric) + "_gain");
    }
    if (metadata) {
        for (PolicyKind k : policies)
            fmt::print(" {:>13}", column(k) + "_meta_B");
        for (PolicyKind k : policies)
            fmt::print(" {:>12}", column(k) + "_obj_B");
        for (PolicyKind k : policies)
            fmt::print(" {:>13}", column(k) + "_peak_B");
    }
    fmt::print("\n");

    const double object_heap = metadata ? object_heap_bytes(static_cast<std::uint32_t>(
                                              trace.sizes.empty() ? 0 : trace.sizes.size() - 1))
                                        : 0.0;
    std::vector<double> seconds(policies.size());
    std::vector<double> most(policies.size());  // bytes per object, the most of any size
    std::vector<double> most_at_peak(policies.size());
    std::uint64_t replayed = 0;
    for (const std::uint64_t capacity : capacities) {
        std::vector<Result> results;
        for (std::size_t i = 0; i < policies.size(); ++i) {
            results.push_back(replay(trace, policies[i], capacity, shards, object_heap));
            seconds[i] += results.back().seconds;
        }
        replayed += requests;
        fmt::print("{:>9.4f} {:>14}", ratio(capacity, trace.footprint), capacity);
        for (const bool bytes : {false, true}) {
            const auto value = [&](const Result& r) {
                return bytes ? ratio(r.hit_bytes, trace.requested_bytes) : ratio(r.hits, requests);
            };
            double best_other = 0;
            for (std::size_t i = 0; i < results.size(); ++i) {
                fmt::print(" {:>11.4f}", value(results[i]));
                if (i > 0) best_other = std::max(best_other, value(results[i]));
            }
            fmt::print(" {:>+9.4f}", value(results.front()) - best_other);
        }
        if (metadata) {
            for (const Result& r : results)
                fmt::print(" {:>13.1f}", r.store_heap);
            // Per resident object: the object block as allocated plus the store's heap.
            for (std::size_t i = 0; i < results.size(); ++i) {
                const double total = object_heap + results[i].store_heap;
                most[i] = std::max(most[i], total);
                fmt::print(" {:>12.1f}", total);
            }
            for (std::size_t i = 0; i < results.size(); ++i) {
                const double total = object_heap + results[i].peak_store_heap;
                if (!std::isnan(total)) most_at_peak[i] = std::max(most_at_peak[i], total);
                fmt::print(" {:>13.1f}", total);
            }
        }
        fmt::print("\n");
    }
    fmt::print("# replay (M requests/s):");
    for (std::size_t i = 0; i < policies.size(); ++i)
        fmt::print(" {} {:.2f}", cdn::edge::storage::to_string(policies[i]),
                   static_cast<double>(replayed) / seconds[i] / 1e6);
    fmt::print(" ({} requests per policy)\n", replayed);
    fmt::print("# gain: the default's hit ratio minus the best of the others'\n");
    if (metadata) {
        fmt::print(
            "# meta_B: heap per resident object held by the store beyond the objects "
            "(index, policy, ghost); obj_B: that plus the object block as allocated ({:.1f} B "
            "here: an empty CachedObject with the trace's key in its tail, malloc's "
            "rounding included, by mallinfo2), at the end of the replay; peak_B: obj_B when the "
            "store held the most objects (nan: never more than 256)\n",
            object_heap);
        fmt::print("# bytes per object (obj_B, the most of any size; budget < 150):");
        for (std::size_t i = 0; i < policies.size(); ++i)
            fmt::print(" {} {:.1f}", cdn::edge::storage::to_string(policies[i]), most[i]);
        fmt::print("\n# at the most objects held (peak_B, the most of any size):");
        for (std::size_t i = 0; i < policies.size(); ++i)
            fmt::print(" {} {:.1f}", cdn::edge::storage::to_string(policies[i]), most_at_peak[i]);
        fmt::print("\n");
    }
}

// The tiered table: every memory size with every disk size, one row per configuration.
void print_tier_table(const Trace& trace, const std::vector<std::uint64_t>& capacities,
                      const std::vector<DiskGeometry>& disks,
                      const std::vector<TierConfig>& configs, std::size_t shards,
                      const AdmissionSettings& admission) {
    const auto requests = static_cast<std::uint64_t>(trace.requests.size());
    for (const DiskGeometry& d : disks)
        if (d.segments > 0)
            fmt::print("# disk {:.4f} of footprint: {} B asked, {} segments of {} B = {} B\n",
                       ratio(d.requested, trace.footprint), d.requested, d.segments,
                       d.segment_bytes, d.capacity());
    fmt::print("{:>8} {:>9} {:<21} {:>7} {:>8} {:>9} {:>7} {:>8} {:>9} {:>14} {:>7} {:>10} {:>9}\n",
               "mem_frac", "disk_frac", "config", "mem_ohr", "disk_ohr", "total_ohr", "mem_bhr",
               "disk_bhr", "total_bhr", "disk_written_B", "wr/req", "dohr/GBwr", "dhitB/wrB");
    double seconds = 0;
    std::uint64_t replayed = 0, too_large = 0;
    for (const std::uint64_t capacity : capacities)
        for (const DiskGeometry& disk : disks)
            for (const TierConfig& config : configs) {
                const TierResult r =
                    replay_tiered(trace, config, capacity, disk, shards, admission);
                seconds += r.seconds;
                replayed += requests;
                too_large += r.too_large;
                const double written_gb = static_cast<double>(r.disk_write_bytes) / 1e9;
                fmt::print(
                    "{:>8.4f} {:>9.4f} {:<21} {:>7.4f} {:>8.4f} {:>9.4f} {:>7.4f} {:>8.4f} "
                    "{:>9.4f} {:>14} {:>7.3f} {:>10.4f} {:>9.4f}\n",
                    ratio(capacity, trace.footprint), ratio(disk.requested, trace.footprint),
                    config.name(), ratio(r.memory_hits, requests), ratio(r.disk_hits, requests),
                    ratio(r.memory_hits + r.disk_hits, requests),
                    ratio(r.memory_hit_bytes, trace.requested_bytes),
                    ratio(r.disk_hit_bytes, trace.requested_bytes),
                    ratio(r.memory_hit_bytes + r.disk_hit_bytes, trace.requested_bytes),
                    r.disk_write_bytes, ratio(r.disk_write_bytes, trace.requested_bytes),
                    written_gb > 0 ? ratio(r.disk_hits, requests) / written_gb : 0.0,
                    ratio(r.disk_hit_bytes, r.disk_write_bytes));
            }
    fmt::print(
        "# wr/req: bytes written to disk (records: trace size + 80-byte header, padded to 8) "
        "per requested byte; dohr/GBwr: disk OHR per GB written; dhitB/wrB: bytes served from disk "
        "per byte written\n");
    if (too_large > 0)
        fmt::print("# {} admitted objects were larger than a segment and not written\n", too_large);
    fmt::print("# replay: {:.2f} M requests/s ({} requests)\n",
               static_cast<double>(replayed) / seconds / 1e6, replayed);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Replays a cache trace through the edge's memory store under the default policy, S3-FIFO, "
        "W-TinyLFU and LRU and prints "
        "object (OHR) and byte (BHR) hit ratios; with a disk size, through a model of the memory "
        "+ disk tiers. Trace lines: \"timestamp object_id size_bytes\", plain or gzip."};
    std::string trace_path, zipf_text, sizes_text = "fixed:4096", write_path;
    std::string segment_text = "16MiB";
    std::vector<std::string> cache_bytes_text, disk_bytes_text;
    std::vector<std::string> admission_text = {"reused", "all", "frequency"};
    std::vector<double> fractions, disk_fractions;
    std::size_t shards = 1;
    AdmissionSettings admission;
    admission.sketch_objects = 0;  // sized per disk: the objects it holds at the mean size
    bool metadata = false;
    auto* trace_opt = app.add_option("--trace", trace_path, "trace file (plain or .gz)");
    auto* zipf_opt = app.add_option("--zipf", zipf_text,
                                    "generate a Zipf trace: N_OBJECTS,ALPHA,N_REQUESTS[,SEED]");
    trace_opt->excludes(zipf_opt);
    app.add_option("--sizes", sizes_text,
                   "object sizes of a --zipf trace: fixed:BYTES or lognormal:MEDIAN,SIGMA")
        ->capture_default_str();
    app.add_option("--cache-bytes", cache_bytes_text,
                   "memory size(s) in bytes (\"64MiB\" works); repeat or list with commas")
        ->delimiter(',');
    app.add_option("--cache-fraction", fractions,
                   "memory size(s) as a fraction of the footprint; repeat or list with commas "
                   "(default 0.01,0.05,0.1,0.2 when no size is given)")
        ->delimiter(',')
        ->check(CLI::PositiveNumber);
    app.add_option("--disk-bytes", disk_bytes_text,
                   "disk size(s) in bytes; any disk size switches to the memory + disk table, "
                   "every memory size with every disk size (0 = no disk tier)")
        ->delimiter(',');
    app.add_option("--disk-fraction", disk_fractions,
                   "disk size(s) as a fraction of the footprint (default 0: no disk tier)")
        ->delimiter(',')
        ->check(CLI::NonNegativeNumber);
    app.add_option("--segment-size", segment_text,
                   "disk segment size, made smaller when needed for a ring of at least 8")
        ->capture_default_str();
    app.add_option("--admission", admission_text,
                   "disk admission rule(s) for the default policy's rows: reused, all, frequency "
                   "(the baseline row lru+all is always printed)")
        ->delimiter(',')
        ->capture_default_str();
    app.add_option("--doorkeeper", admission.doorkeeper_entries,
                   "key hashes the \"reused\" rule remembers after turning them away")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    app.add_option("--frequency-threshold", admission.frequency_threshold,
                   "the \"frequency\" rule writes an object whose estimate reaches this")
        ->capture_default_str()
        ->check(CLI::Range(1u, 16u));
    app.add_option("--sketch-objects", admission.sketch_objects,
                   "objects the \"frequency\" rule's sketch is sized for (default: the disk's "
                   "capacity / the trace's mean object size)");
    app.add_option("--shards", shards, "memory store shards (1 replays the policy exactly)")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    app.add_option("--write-trace", write_path, "also write the (generated) trace to this file");
    app.add_flag("--metadata", metadata,
                 "also print the heap the store holds per resident object beyond the objects "
                 "(index, policy nodes, ghost), measured with mallinfo2 (memory-only table)");
    CLI11_PARSE(app, argc, argv);
    if (trace_path.empty() && zipf_text.empty()) {
        std::fprintf(stderr, "trace_replay: give --trace FILE or --zipf N,ALPHA,REQUESTS[,SEED]\n");
        return 2;
    }

    try {
        std::vector<TierConfig> configs = {{PolicyKind::lru, DiskAdmission::all}};
        for (const auto& text : admission_text) {
            const auto a = cdn::edge::storage::parse_disk_admission(text);
            if (!a)
                throw std::runtime_error(
                    fmt::format("--admission \"{}\": expected reused, all or frequency", text));
            configs.push_back({MemoryStore(1).policy(), *a});
        }
        const auto segment_bytes = cdn::parse_size(segment_text);
        if (!segment_bytes || *segment_bytes < 4096 || *segment_bytes > (1ull << 31))
            throw std::runtime_error(fmt::format(
                "--segment-size \"{}\": expected a size from 4KiB to 2GiB", segment_text));
        std::vector<std::uint64_t> disk_bytes;
        for (const auto& text : disk_bytes_text) {
            auto v = cdn::parse_size(text);
            if (!v)
                throw std::runtime_error(fmt::format(
                    "--disk-bytes \"{}\": expected a size like 1073741824 or 1GiB", text));
            disk_bytes.push_back(*v);
        }

        const auto load_start = std::chrono::steady_clock::now();
        Trace trace;
        if (!trace_path.empty()) {
            trace = load_trace(trace_path);
        } else {
            const auto z = cdn::bench::parse_zipf_spec(zipf_text);
            if (!z)
                throw std::runtime_error(
                    fmt::format("--zipf \"{}\": expected N_OBJECTS,ALPHA,"
                                "N_REQUESTS[,SEED]",
                                zipf_text));
            const auto s = cdn::bench::parse_size_spec(sizes_text);
            if (!s)
                throw std::runtime_error(
                    fmt::format("--sizes \"{}\": expected fixed:BYTES "
                                "or lognormal:MEDIAN,SIGMA",
                                sizes_text));
            trace = zipf_trace(*z, *s);
        }
        const double load_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
        if (!write_path.empty()) write_trace(trace, write_path);
        if (trace.requests.empty()) throw std::runtime_error(trace.name + ": no requests");

        std::vector<std::uint64_t> capacities;
        for (const auto& text : cache_bytes_text) {
            auto v = cdn::parse_size(text);
            if (!v || *v == 0)
                throw std::runtime_error(fmt::format(
                    "--cache-bytes \"{}\": expected a size like 1048576 or 64MiB", text));
            capacities.push_back(*v);
        }
        if (capacities.empty() && fractions.empty()) fractions = {0.01, 0.05, 0.1, 0.2};
        for (double f : fractions)
            capacities.push_back(
                static_cast<std::uint64_t>(std::llround(f * static_cast<double>(trace.footprint))));
        for (double f : disk_fractions)
            disk_bytes.push_back(
                static_cast<std::uint64_t>(std::llround(f * static_cast<double>(trace.footprint))));
        std::vector<DiskGeometry> disks;
        for (const std::uint64_t b : disk_bytes)
            disks.push_back(disk_geometry(b, *segment_bytes));
        const bool tiered =
            std::any_of(disks.begin(), disks.end(), [](const auto& d) { return d.segments > 0; });
        if (tiered && metadata)
            throw std::runtime_error("--metadata is for the memory-only table (no disk size)");

        // Every first request of an object misses in any cache: the best a policy can do.
        std::vector<bool> seen(trace.sizes.size());
        std::uint64_t best_hits = 0, best_bytes = 0;
        for (auto r : trace.requests) {
            if (seen[r]) {
                ++best_hits;
                best_bytes += trace.sizes[r];
            }
            seen[r] = true;
        }
        const auto requests = static_cast<std::uint64_t>(trace.requests.size());
        fmt::print("# trace: {}\n", trace.name);
        fmt::print(
            "# requests {}  objects {}  footprint {} B  requested {} B  shards {}  "
            "loaded in {:.2f} s\n",
            requests, std::count(seen.begin(), seen.end(), true), trace.footprint,
            trace.requested_bytes, shards, load_seconds);
        fmt::print("# infinite cache: OHR {:.4f}  BHR {:.4f}\n", ratio(best_hits, requests),
                   ratio(best_bytes, trace.requested_bytes));
        if (tiered)
            print_tier_table(trace, capacities, disks, configs, shards, admission);
        else
            print_memory_table(trace, capacities, shards, metadata);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "trace_replay: %s\n", e.what());
        return 2;
    }
    return 0;
}
