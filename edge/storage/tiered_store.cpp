#include "edge/storage/tiered_store.hpp"

#include "edge/storage/record_codec.hpp"

namespace cdn::edge::storage {

std::optional<DiskAdmission> parse_disk_admission(std::string_view name) {
    if (name == "reused") return DiskAdmission::reused;
    if (name == "all") return DiskAdmission::all;
    return std::nullopt;
}

std::string_view to_string(DiskAdmission a) {
    return a == DiskAdmission::reused ? "reused" : "all";
}

bool AdmissionFilter::admit(std::uint64_t hash, bool reused) {
    if (rule_ == DiskAdmission::all || reused) return true;
    std::lock_guard lock(mu_);
    if (doorkeeper_.take(hash)) return true;  // turned away once already: second request
    doorkeeper_.remember(hash, limit_);
    return false;
}

TieredStore::TieredStore(MemoryStore& memory, DiskStore& disk, TierSettings settings)
    : memory_(memory), disk_(disk), admission_(settings.admission, settings.doorkeeper_entries) {
    memory_.set_eviction_listener(
        [this](ObjectPtr object, bool reused) { evicted(std::move(object), reused); });
}

TieredStore::~TieredStore() {
    memory_.set_eviction_listener(nullptr);
}

ObjectPtr TieredStore::lookup(std::string_view key) {
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
    if (auto seq = disk_.seq_of(object->key); seq && *seq != object->seq) disk_.remove(object->key);
    if (memory_.insert(object)) return true;
    // Too large for memory: disk only, on the second request.
    if (!admission_.admit(key_hash(object->key), false)) {
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
    if (!admission_.admit(key_hash(object->key), reused)) {
        stats_.rejected.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
    disk_.insert(std::move(object));
}

}  // namespace cdn::edge::storage
