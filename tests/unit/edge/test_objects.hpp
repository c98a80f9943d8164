#pragma once
// Unit-test helper for the storage tests: a small stored object with a body of a given size.
#include "edge/storage/cached_object.hpp"

#include <memory>
#include <string>

namespace cdn::edge::storage::test {

inline ObjectPtr object(std::string key, std::size_t body_size) {
    auto o = std::make_shared<CachedObject>();
    o->key = std::move(key);
    o->status = 200;
    o->head = "HTTP/1.1 200 OK\r\n";
    o->body = std::make_shared<const std::string>(body_size, 'x');
    return o;
}

}  // namespace cdn::edge::storage::test
