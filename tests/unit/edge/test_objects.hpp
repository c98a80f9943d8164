#pragma once
// Unit-test helpers for the storage tests: a small stored object with a body of a given size, and
// policy nodes with stable addresses for the eviction-policy tests.
#include "edge/storage/cached_object.hpp"
#include "edge/storage/eviction_policy.hpp"

#include <deque>
#include <memory>
#include <string>

namespace cdn::edge::storage::test {

inline ObjectPtr object(std::string key, std::size_t body_size) {
    auto o = CachedObject::make(key, "HTTP/1.1 200 OK\r\n");
    o->status = 200;
    o->body = cdn::new_body(body_size, 'x');
    return o;
}

// A policy node that knows its key's hash, as the store's objects do through their keys.
struct TestNode : PolicyNode {
    std::uint64_t hash = 0;
};

// The NodeHash for TestNodes (every node a policy under test holds is one).
inline std::uint64_t node_hash(const PolicyNode& n) noexcept {
    return static_cast<const TestNode&>(n).hash;
}
inline std::uint64_t hash_of(const PolicyNode* n) {
    return node_hash(*n);
}

// Nodes with stable addresses, charge 1 byte unless said otherwise.
struct Nodes {
    std::deque<TestNode> nodes;
    TestNode& make(std::uint64_t hash, std::uint64_t charge = 1) {
        TestNode& n = nodes.emplace_back();
        n.hash = hash;
        n.charge = charge;
        return n;
    }
};

}  // namespace cdn::edge::storage::test
