#pragma once
// Eviction policy: plain LRU. A hit moves the object to the front; the victim is the back. Kept
// as the baseline S3-FIFO is measured against (bench/trace_replay) and as an operator choice
// (cache.policy = "lru"). One instance per shard; the shard's lock protects it.
#include "edge/storage/eviction_policy.hpp"

namespace cdn::edge::storage {

class LruPolicy final : public EvictionPolicy {
  public:
    static constexpr std::uint64_t kQueue = 1;

    explicit LruPolicy(NodeHash hasher) noexcept : EvictionPolicy(hasher) {}

    using EvictionPolicy::hit;
    using EvictionPolicy::insert;
    void insert(PolicyNode& node, std::uint64_t /*hash*/, const PolicyNode* /*replaced*/) override {
        node.queue = kQueue;
        node.freq = 0;
        order_.push_front(node);
    }
    void hit(PolicyNode& node, std::uint64_t /*hash*/) override { order_.move_to_front(node); }
    void erase(PolicyNode& node) override {
        order_.unlink(node);
        node.queue = 0;
    }
    PolicyNode* evict() override {
        PolicyNode* victim = order_.back();
        if (victim) erase(*victim);
        return victim;
    }

    PolicyKind kind() const override { return PolicyKind::lru; }
    std::size_t size() const override { return order_.size(); }
    std::uint64_t bytes() const override { return order_.bytes(); }

  private:
    PolicyList order_;
};

}  // namespace cdn::edge::storage
