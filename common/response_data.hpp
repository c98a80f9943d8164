#pragma once
// A response as the edge's protocol sessions send it: the status, the head pre-serialised for
// HTTP/1.1 and a shared body. Defined below both the sessions (edge/http) and the cache's
// storage (edge/storage) so that neither includes the other: storage::CachedObject derives from
// it, and a hit hands the stored object to a session as a ResponsePtr (the same pointer, no copy,
// no allocation). Immutable once shared.
#include <cstddef>
#include <memory>
#include <string>

namespace cdn {

struct ResponseData {
    unsigned status = 0;
    // "HTTP/1.1 200 OK\r\n" then the fields, each ending "\r\n", Content-Length included when
    // known; without the blank line and without per-request fields (Age, Connection, ...).
    std::string head;
    std::shared_ptr<const std::string> body;  // null: no body

    std::size_t body_size() const { return body ? body->size() : 0; }
};
using ResponsePtr = std::shared_ptr<const ResponseData>;

}  // namespace cdn
