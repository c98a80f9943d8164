#pragma once
// A response as the edge's protocol sessions send it: the status, the head pre-serialised for
// HTTP/1.1 and a shared body. Defined below both the sessions (edge/http) and the cache's
// storage (edge/storage) so that neither includes the other: storage::CachedObject derives from
// it, and a hit hands the stored object to a session as a ResponsePtr (the same pointer, no copy,
// no allocation). Immutable once shared.
//
// Counted intrusively (boost::intrusive_ptr): the count lives in the response, so a cached
// object is one heap block with no shared_ptr control block beside it. No vtable either (a
// cached object's 8 bytes): the concrete type is a kind byte, and the last reference destroys
// the response through that kind's registered deleter. The head lies in the concrete type's
// own block (OwnedResponse's tail, a CachedObject's tail after its key), at head_offset from
// the response: a size and an offset, not a pointer and a size.
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace cdn {

struct ResponseData;
// Destroys a response of one concrete type and frees its block (register_response_kind).
using ResponseDeleter = void (*)(const ResponseData*) noexcept;

struct ResponseData {
    ResponseData(const ResponseData&) = delete;
    ResponseData& operator=(const ResponseData&) = delete;

    std::uint16_t status = 0;

    // "HTTP/1.1 200 OK\r\n" then the fields, each ending "\r\n", Content-Length included when
    // known; without the blank line and without per-request fields (Age, Connection, ...). A view
    // of the concrete type's own block.
    std::string_view head() const noexcept {
        return {reinterpret_cast<const char*>(this) + head_offset_, head_size_};
    }
    std::size_t body_size() const { return body ? body->size() : 0; }
    // References held (ResponsePtr and friends): for tests and assertions.
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

  protected:
    // A concrete type registers its deleter once (a function-local static in its factory) and
    // passes the kind to this constructor. At most 256 kinds; the process has two.
    static std::uint8_t register_response_kind(ResponseDeleter deleter);
    ResponseData(std::uint8_t kind, std::uint32_t head_offset, std::uint32_t head_size) noexcept
        : kind_(kind), head_offset_(head_offset), head_size_(head_size) {}
    // Not virtual, and not public: only the kind's deleter destroys a response, as its
    // concrete type.
    ~ResponseData() = default;

  private:
    friend void intrusive_ptr_add_ref(const ResponseData* r) noexcept {
        r->refs_.fetch_add(1, std::memory_order_relaxed);
    }
    friend void intrusive_ptr_release(const ResponseData* r) noexcept {
        if (r->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(r);
    }
    static void destroy(const ResponseData* r) noexcept;

    std::uint8_t kind_;

  protected:
    // One byte the concrete type may use for its own flags (CachedObject: held by a store).
    std::uint8_t spare_flags_ = 0;

  private:
    mutable std::atomic<std::uint32_t> refs_{0};
    std::uint32_t head_offset_;
    std::uint32_t head_size_;

  public:
    std::shared_ptr<const std::string> body;  // null: no body
};
using ResponsePtr = boost::intrusive_ptr<const ResponseData>;

// A response that is not a cached object (generated replies, tests), made by make_response: one
// block, the head in its tail.
struct OwnedResponse final : ResponseData {
    static boost::intrusive_ptr<OwnedResponse> make(
        unsigned status, std::string_view head, std::shared_ptr<const std::string> body = nullptr);

  private:
    OwnedResponse(std::uint8_t kind, std::string_view head) noexcept;
    ~OwnedResponse() = default;
    static void destroy(const ResponseData* r) noexcept;
};

inline boost::intrusive_ptr<OwnedResponse> make_response(
    unsigned status, std::string_view head, std::shared_ptr<const std::string> body = nullptr) {
    return OwnedResponse::make(status, head, std::move(body));
}

}  // namespace cdn
