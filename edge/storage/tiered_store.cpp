#include "edge/storage/tiered_store.hpp"

#include "edge/storage/record_codec.hpp"

namespace cdn::edge::storage {

std::optional<DiskAdmission> parse_disk_admission(std::string_view name) {
    if (name == "reused") return DiskAdmission::reused;
    if (name == "all") return DiskAdmission::all;
    if (name == "frequency") return DiskAdmission::frequency;
    return std::nullopt;
}

std::string_view to_string(DiskAdmission a) {
    switch (a) {
        case DiskAdmission::reused: return "reused";
        case DiskAdmission::all: return "all";
        case DiskAdmission::frequency: return "frequency";
    }
    return "?";
}

AdmissionFilter::AdmissionFilter(DiskAdmission rule, AdmissionSettings settings)
    : rule_(rule), settings_(settings) {
    if (rule_ != DiskAdmission::frequency) return;
    sketch_ = std::make_unique<std::array<SketchShard, kSketchShards>>();
    const std::size_t per_shard =
        std::max<std::size_t>(settings_.sketch_objects / kSketchShards, 1);
    for (SketchShard& s : *sketch_)
        s.sketch.emplace(per_shard);
}

void AdmissionFilter::record(std::uint64_t hash) {
    if (!sketch_) return;
    SketchShard& s = shard_of(hash);
    std::lock_guard lock(s.mu);
    s.sketch->increment(hash);
}

unsigned AdmissionFilter::frequency(std::uint64_t hash) {
    if (!sketch_) return 0;
    SketchShard& s = shard_of(hash);
    std::lock_guard lock(s.mu);
    return s.sketch->frequency(hash);
}

bool AdmissionFilter::admit(std::uint64_t hash, bool reused) {
    if (rule_ == DiskAdmission::all) return true;
    if (rule_ == DiskAdmission::frequency) return frequency(hash) >= settings_.frequency_threshold;
    if (reused) return true;
    std::lock_guard lock(mu_);
    if (doorkeeper_.take(hash)) return true;  // turned away once already: second request
    doorkeeper_.remember(hash, settings_.doorkeeper_entries);
    return false;
}

namespace {

AdmissionSettings admission_settings(const TierSettings& t, const DiskStore& disk) {
    AdmissionSettings a;
    a.doorkeeper_entries = t.doorkeeper_entries;
    a.frequency_threshold = t.frequency_threshold;
    a.sketch_objects = t.sketch_objects > 0
                           ? t.sketch_objects
                           : std::clamp<std::size_t>(disk.capacity() / (32 << 10),
                                                     std::size_t{1} << 12, std::size_t{1} << 22);
    return a;
}

}  // namespace

TieredStore::TieredStore(MemoryStore& memory, DiskStore& disk, TierSettings settings)
    : memory_(memory),
      disk_(disk),
      admission_(settings.admission, admission_settings(settings, disk)) {
    memory_.set_eviction_listener(
        [this](ObjectPtr object, bool reused) { evicted(std::move(object), reused); });
}

TieredStore::~TieredStore() {
    memory_.set_eviction_listener(nullptr);
}

ObjectPtr TieredStore::lookup(std::string_view key) {
    if (admission_.rule() == DiskAdmission::frequency) admission_.record(key_hash(key));
    if (ObjectPtr o = memory_.lookup(key)) return o;
    if (!disk_reads()) return nullptr;
    ObjectPtr o = disk_.lookup(key);
    if (o && memory_.insert(o)) stats_.promotions.fetch_add(1, std::memory_order_relaxed);
    return o;
}

ObjectPtr TieredStore::peek(std::string_view key) {
    if (ObjectPtr o = memory_.peek(key)) return o;
    return disk_reads() ? disk_.peek(key) : nullptr;
}

bool TieredStore::insert(ObjectPtr object) {
    if (!object) return false;
    // A new version makes the copy on disk outdated.
    if (auto seq = disk_.seq_of(object->key()); seq && *seq != object->seq)
        disk_.remove(object->key());
    if (memory_.insert(object)) return true;
    // Too large for memory: disk only, on the second request.
    if (!admission_.admit(key_hash(object->key()), false)) {
        stats_.rejected.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
    return disk_.insert(std::move(object));
}

bool TieredStore::remove(std::string_view key) {
    const bool in_memory = memory_.remove(key);
    const bool on_disk = disk_.remove(key);
    return in_memory || on_disk;
}

void TieredStore::evicted(ObjectPtr object, bool reused) {
    if (disk_.holds(*object)) return;  // promoted from disk and unchanged: still there
    if (!admission_.admit(key_hash(object->key()), reused)) {
        stats_.rejected.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
    disk_.insert(std::move(object));
}

}  // namespace cdn::edge::storage
