#pragma once
// Memory in front of disk. A lookup tries memory, then disk, and promotes what disk returns
// into memory (where S3-FIFO decides whether it stays). Objects reach disk when memory evicts
// them, or directly when they are too large for memory, through an admission rule that keeps
// one-hit wonders off the disk: with `reused` (the default) an object is written only if it
// was asked for again while in memory, or if its key was turned away once before (a
// "doorkeeper" of recently rejected key hashes: admission on the second request). A new
// version of a key drops the older one from disk, so disk never answers with an outdated copy.
// Thread-safe.
#include "edge/storage/disk_store.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/storage/s3fifo_policy.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>

namespace cdn::edge::storage {

enum class DiskAdmission { reused, all };
std::optional<DiskAdmission> parse_disk_admission(std::string_view name);
std::string_view to_string(DiskAdmission a);

// The admission decision alone, shared with bench/trace_replay.
class AdmissionFilter {
  public:
    explicit AdmissionFilter(DiskAdmission rule, std::size_t doorkeeper_entries = 1 << 18)
        : rule_(rule), limit_(doorkeeper_entries) {}
    // Should an object leaving memory (or too large for it) go to disk?
    bool admit(std::uint64_t hash, bool reused);

  private:
    DiskAdmission rule_;
    std::size_t limit_;
    std::mutex mu_;
    GhostFifo doorkeeper_;
};

struct TierSettings {
    DiskAdmission admission = DiskAdmission::reused;
    std::size_t doorkeeper_entries = 1 << 18;
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
