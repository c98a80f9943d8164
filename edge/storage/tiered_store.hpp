#pragma once
// Memory in front of disk. A lookup tries memory, then disk, and promotes what disk returns
// into memory (where S3-FIFO decides whether it stays). Objects reach disk when memory evicts
// them, or directly when they are too large for memory, through an admission rule that keeps
// one-hit wonders off the disk: with `reused` (the default) an object is written only if it
// was asked for again while in memory, or if its key was turned away once before (a
// "doorkeeper" of recently rejected key hashes: admission on the second request). With
// `frequency` every lookup is counted in a count-min sketch (TinyLFU's: 4-bit counters, a
// doorkeeper for first accesses, all halved every 10x its size of counted lookups) and an object
// is written only when its estimated frequency reaches a threshold (2 by default). `all` writes
// everything memory evicts. A new version of a key drops the older one from disk, so disk never
// answers with an outdated copy. Thread-safe.
#include "edge/storage/disk_store.hpp"
#include "edge/storage/frequency_sketch.hpp"
#include "edge/storage/ghost_fifo.hpp"
#include "edge/storage/memory_store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

namespace cdn::edge::storage {

enum class DiskAdmission { reused, all, frequency };
std::optional<DiskAdmission> parse_disk_admission(std::string_view name);
std::string_view to_string(DiskAdmission a);

struct AdmissionSettings {
    std::size_t doorkeeper_entries = 1 << 18;  // `reused`: refused key hashes remembered
    // `frequency`: the sketch is sized for this many objects (8 B of counters and 2 B of
    // doorkeeper each; halved every 10x that many lookups) and admits at this estimate.
    std::size_t sketch_objects = 1 << 20;
    unsigned frequency_threshold = 2;
};

// The admission decision alone, shared with bench/trace_replay.
class AdmissionFilter {
  public:
    explicit AdmissionFilter(DiskAdmission rule, AdmissionSettings settings = {});
    // Counts a request for `hash` (the `frequency` rule's sketch; nothing for the others).
    void record(std::uint64_t hash);
    // The sketch's estimate for `hash` (0 for the other rules).
    unsigned frequency(std::uint64_t hash);
    // Should an object leaving memory (or too large for it) go to disk?
    bool admit(std::uint64_t hash, bool reused);
    DiskAdmission rule() const { return rule_; }

  private:
    // The sketch in shards (by the hash's top bits), each under its own lock, so that counting
    // every lookup does not serialise the request path on one mutex.
    static constexpr std::size_t kSketchShards = 16;
    struct SketchShard {
        std::mutex mu;
        std::optional<FrequencySketch> sketch;
    };
    SketchShard& shard_of(std::uint64_t hash) { return (*sketch_)[hash >> 60]; }

    DiskAdmission rule_;
    AdmissionSettings settings_;
    std::mutex mu_;
    GhostFifo doorkeeper_;
    std::unique_ptr<std::array<SketchShard, kSketchShards>> sketch_;
};

struct TierSettings {
    DiskAdmission admission = DiskAdmission::reused;
    std::size_t doorkeeper_entries = 1 << 18;
    // `frequency`: the estimate at which an object is written, and the objects the sketch is
    // sized for (0: the disk's capacity / 32 KiB, from 4 Ki to 4 Mi).
    unsigned frequency_threshold = 2;
    std::size_t sketch_objects = 0;
};

struct TierStats {
    std::atomic<std::uint64_t> promotions{0};  // disk hits copied back into memory
    std::atomic<std::uint64_t> admitted{0};    // objects handed to the disk tier
    std::atomic<std::uint64_t> rejected{0};    // kept off the disk by the admission rule
};

class TieredStore final : public ObjectStore {
  public:
    // Installs itself as memory's eviction listener; both stores must outlive it.
    TieredStore(MemoryStore& memory, DiskStore& disk, TierSettings settings = {});
    ~TieredStore() override;

    ObjectPtr lookup(std::string_view key) override;
    ObjectPtr peek(std::string_view key) override;
    bool insert(ObjectPtr object) override;
    bool remove(std::string_view key) override;
    void flush() override { disk_.flush(); }
    std::uint64_t objects() const override { return memory_.objects() + disk_.objects(); }
    std::uint64_t min_seq() const override { return std::min(memory_.min_seq(), disk_.min_seq()); }
    std::uint64_t max_object_bytes() const override {
        return std::max(memory_.max_object_bytes(), disk_.max_object_bytes());
    }

    // While false, lookups do not read the disk tier (it may hold what purges the edge has not
    // caught up with yet); writes go on. True by default.
    void set_disk_reads(bool on) { disk_reads_.store(on, std::memory_order_release); }
    bool disk_reads() const { return disk_reads_.load(std::memory_order_acquire); }

    MemoryStore& memory() { return memory_; }
    DiskStore& disk() { return disk_; }
    const DiskStore& disk() const { return disk_; }
    const TierStats& stats() const { return stats_; }

  private:
    void evicted(ObjectPtr object, bool reused);

    MemoryStore& memory_;
    DiskStore& disk_;
    AdmissionFilter admission_;
    TierStats stats_;
    std::atomic<bool> disk_reads_{true};
};

}  // namespace cdn::edge::storage
