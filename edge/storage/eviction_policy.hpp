#pragma once
// The seam between a memory shard and its eviction policy. The store owns every object and its
// index; a policy only orders the store's entries and chooses victims. Intrusive: the per-object
// bookkeeping (PolicyNode) lives inside the store's entry, so a policy allocates nothing per
// object (S3-FIFO's ghost of evicted key hashes is the one exception, bounded by count).
// Pure code: no clock, no I/O. Not thread-safe: one policy per shard, under the shard's lock.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace cdn::edge::storage {

// Embedded in the stored object (CachedObject's StoreHook). The policy owns prev, next, queue and
// freq; the store sets charge before handing the node over and never changes it while the node
// is linked. The key's hash is not kept here (8 bytes per object): the store passes it to
// insert() and hit(), which have it, and the policy asks NodeHash for a node it chooses between
// or forgets (evict()).
struct PolicyNode {
    static constexpr std::uint64_t kMaxCharge = (std::uint64_t{1} << 57) - 1;

    PolicyNode* prev = nullptr;
    PolicyNode* next = nullptr;
    std::uint64_t charge : 57 = 0;  // bytes the object costs the shard's budget
    std::uint64_t queue : 2 = 0;    // which of the policy's queues holds it; 0 = none
    std::uint64_t freq : 2 = 0;     // saturating access count (S3-FIFO)
    // Asked for again since it was stored (a hit, or S3-FIFO readmitting it from the ghost): the
    // disk tier's admission test. Set by the store and the policy, never cleared.
    std::uint64_t reused : 1 = 0;
};

// An intrusive doubly linked list of nodes that counts its nodes and their bytes. The front is
// the most recent insertion, the back the next candidate.
class PolicyList {
  public:
    PolicyList() = default;
    PolicyList(const PolicyList&) = delete;
    PolicyList& operator=(const PolicyList&) = delete;

    void push_front(PolicyNode& n) {
        n.prev = nullptr;
        n.next = head_;
        if (head_)
            head_->prev = &n;
        else
            tail_ = &n;
        head_ = &n;
        ++size_;
        bytes_ += n.charge;
    }
    void unlink(PolicyNode& n) {
        (n.prev ? n.prev->next : head_) = n.next;
        (n.next ? n.next->prev : tail_) = n.prev;
        n.prev = n.next = nullptr;
        --size_;
        bytes_ -= n.charge;
    }
    void move_to_front(PolicyNode& n) {
        if (head_ == &n) return;
        unlink(n);
        push_front(n);
    }
    PolicyNode* back() const { return tail_; }
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    std::uint64_t bytes() const { return bytes_; }

  private:
    PolicyNode* head_ = nullptr;
    PolicyNode* tail_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t bytes_ = 0;
};

enum class PolicyKind { s3fifo, lru, wtinylfu, s3fifo_tlfu };

std::string_view to_string(PolicyKind kind);
// "s3fifo-tlfu", "s3fifo", "lru" or "w-tinylfu"; nullopt for anything else.
std::optional<PolicyKind> parse_policy_kind(std::string_view name);

// The 64-bit hash of a linked node's key (the store's: it hashes the object's key again).
using NodeHash = std::uint64_t (*)(const PolicyNode& node) noexcept;

class EvictionPolicy {
  public:
    explicit EvictionPolicy(NodeHash hasher) noexcept : hash_of_(hasher) {}
    virtual ~EvictionPolicy() = default;

    // Admits a node the store has just indexed, whose key hashes to `hash`. With `replaced`, the
    // node is a new version of a key whose previous node (a copy of it, already erase()d) keeps
    // its standing in the policy.
    virtual void insert(PolicyNode& node, std::uint64_t hash, const PolicyNode* replaced) = 0;
    // A lookup of `hash` found the node.
    virtual void hit(PolicyNode& node, std::uint64_t hash) = 0;
    // The same, the hash from NodeHash (tests, and callers without it).
    void insert(PolicyNode& node, const PolicyNode* replaced) {
        insert(node, hash_of_(node), replaced);
    }
    void hit(PolicyNode& node) { hit(node, hash_of_(node)); }
    // A lookup of `hash` is about to search the index: start loading what hit() will read
    // beyond the node (a sketch's counters), so that the misses overlap instead of following
    // one another. A hint only: it changes no state.
    virtual void prefetch(std::uint64_t /*hash*/) const {}
    // The store drops the node for its own reasons (remove, replace); not an eviction.
    virtual void erase(PolicyNode& node) = 0;
    // Chooses the next victim and detaches it (the store then drops it); nullptr when empty.
    virtual PolicyNode* evict() = 0;

    virtual PolicyKind kind() const = 0;
    virtual std::size_t size() const = 0;     // nodes linked
    virtual std::uint64_t bytes() const = 0;  // sum of their charges

  protected:
    std::uint64_t hash_of(const PolicyNode& node) const noexcept { return hash_of_(node); }

  private:
    NodeHash hash_of_;
};

// A policy for one shard of `capacity_bytes`, the hashes of its nodes' keys from `hasher`.
std::unique_ptr<EvictionPolicy> make_eviction_policy(PolicyKind kind, std::uint64_t capacity_bytes,
                                                     NodeHash hasher);

}  // namespace cdn::edge::storage
