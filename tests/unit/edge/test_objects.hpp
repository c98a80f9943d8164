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
    o->body = std::make_shared<const std::string>(body_size, 'x');
    return o;
}

// Nodes with stable addresses, charge 1 byte unless said otherwise.
struct Nodes {
    std::deque<PolicyNode> nodes;
    PolicyNode& make(std::uint64_t hash, std::uint64_t charge = 1) {
        PolicyNode& n = nodes.emplace_back();
        n.hash = hash;
        n.charge = charge;
        return n;
    }
};

}  // namespace cdn::edge::storage::test
