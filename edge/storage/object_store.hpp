#pragma once
// What the request pipeline needs from storage: look up, store, remove. Implemented by the
// memory tier (MemoryStore), the disk tier (DiskStore) and the two together (TieredStore); one
// test suite (tests/unit/edge/storage_suite_test.cpp) runs against each. Thread-safe.
#include "edge/storage/cached_object.hpp"

#include <cstdint>
#include <string_view>

namespace cdn::edge::storage {

class ObjectStore {
  public:
    virtual ~ObjectStore() = default;

    // The object stored under key, or nullptr; a use of the object (eviction policies learn).
    virtual ObjectPtr lookup(std::string_view key) = 0;
    // Like lookup, but not a use of the object.
    virtual ObjectPtr peek(std::string_view key) = 0;
    // Stores (or replaces) the object under object->key. False when the store refuses it (too
    // large, or a disk tier that cannot take writes now); the caller then simply serves it.
    virtual bool insert(ObjectPtr object) = 0;
    // Removes the key (with every variant under it); true if something was removed.
    virtual bool remove(std::string_view key) = 0;
    // Waits until every accepted insert and remove is durable as far as the store goes (the
    // disk tier writes behind); for tests and shutdown.
    virtual void flush() {}
    virtual std::uint64_t objects() const = 0;
    // The smallest CachedObject::seq still stored (UINT64_MAX when empty): purge rules older
    // than it can no longer match anything. A walk over the index; call it now and then.
    virtual std::uint64_t min_seq() const = 0;
    // Largest object insert() can take.
    virtual std::uint64_t max_object_bytes() const = 0;
};

}  // namespace cdn::edge::storage
