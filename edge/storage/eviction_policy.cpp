#include "edge/storage/eviction_policy.hpp"

#include "edge/storage/lru_policy.hpp"
#include "edge/storage/s3fifo_policy.hpp"
#include "edge/storage/s3tlfu_policy.hpp"
#include "edge/storage/wtinylfu_policy.hpp"

namespace cdn::edge::storage {

std::string_view to_string(PolicyKind kind) {
    switch (kind) {
        case PolicyKind::s3fifo: return "s3fifo";
        case PolicyKind::lru: return "lru";
        case PolicyKind::wtinylfu: return "w-tinylfu";
        case PolicyKind::s3fifo_tlfu: return "s3fifo-tlfu";
    }
    return "unknown";
}

std::optional<PolicyKind> parse_policy_kind(std::string_view name) {
    if (name == "s3fifo") return PolicyKind::s3fifo;
    if (name == "lru") return PolicyKind::lru;
    if (name == "w-tinylfu") return PolicyKind::wtinylfu;
    if (name == "s3fifo-tlfu") return PolicyKind::s3fifo_tlfu;
    return std::nullopt;
}

std::unique_ptr<EvictionPolicy> make_eviction_policy(PolicyKind kind, std::uint64_t capacity_bytes,
                                                     NodeHash hasher) {
    if (kind == PolicyKind::lru) return std::make_unique<LruPolicy>(hasher);
    if (kind == PolicyKind::wtinylfu)
        return std::make_unique<WTinyLfuPolicy>(hasher, capacity_bytes);
    if (kind == PolicyKind::s3fifo_tlfu)
        return std::make_unique<S3TinyLfuPolicy>(hasher, capacity_bytes);
    return std::make_unique<S3FifoPolicy>(hasher, capacity_bytes);
}

}  // namespace cdn::edge::storage
