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

// A response body: a count of its holders, its size and its bytes, in one heap block, so a
// response, a cached object or a stream slice holds it through one 8-byte intrusive pointer (a
// shared_ptr took 16 in every cached object) and a body costs one allocation with a 16-byte
// header (a shared_ptr'd std::string took two: a 48-byte holder, then the bytes). Mutable only
// before it is shared as a BodyPtr (a buffer being filled in place); immutable after.
class Body {
  public:
    Body(const Body&) = delete;
    Body& operator=(const Body&) = delete;

    // A body of `size` bytes left uninitialised, for its maker to fill before sharing it.
    static boost::intrusive_ptr<Body> make_for_overwrite(std::size_t size);

    const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
    char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {data(), size_}; }
    operator std::string_view() const noexcept { return view(); }
    friend bool operator==(const Body& b, std::string_view bytes) noexcept {
        return b.view() == bytes;
    }

    // Holders (BodyPtr and friends): for tests and assertions.
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

  private:
    explicit Body(std::size_t size) noexcept : size_(size) {}
    ~Body() = default;
    friend void intrusive_ptr_add_ref(const Body* b) noexcept {
        b->refs_.fetch_add(1, std::memory_order_relaxed);
    }
    friend void intrusive_ptr_release(const Body* b) noexcept {
        if (b->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(b);
    }
    static void destroy(const Body* b) noexcept;

    mutable std::atomic<std::uint32_t> refs_{0};
    std::size_t size_;
};
static_assert(sizeof(Body) == 16, "Body's header grew: the bytes follow it");
using BodyPtr = boost::intrusive_ptr<const Body>;
using MutableBodyPtr = boost::intrusive_ptr<Body>;

// A new body holding a copy of `bytes` (empty: an empty body, not a null one).
MutableBodyPtr new_body(std::string_view bytes = {});
// A new body of `size` copies of `fill`.
MutableBodyPtr new_body(std::size_t size, char fill);

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
    BodyPtr body;  // null: no body
};
using ResponsePtr = boost::intrusive_ptr<const ResponseData>;

// A response that is not a cached object (generated replies, tests), made by make_response: one
// block, the head in its tail.
struct OwnedResponse final : ResponseData {
    static boost::intrusive_ptr<OwnedResponse> make(unsigned status, std::string_view head,
                                                    BodyPtr body = nullptr);

  private:
    OwnedResponse(std::uint8_t kind, std::string_view head) noexcept;
    ~OwnedResponse() = default;
    static void destroy(const ResponseData* r) noexcept;
};

inline boost::intrusive_ptr<OwnedResponse> make_response(unsigned status, std::string_view head,
                                                         BodyPtr body = nullptr) {
    return OwnedResponse::make(status, head, std::move(body));
}

}  // namespace cdn
