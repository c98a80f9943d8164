#pragma once
// A response as the edge's protocol sessions send it: the status, the head pre-serialised for
// HTTP/1.1 and a shared body. Defined below both the sessions (edge/http) and the cache's
// storage (edge/storage) so that neither includes the other: storage::CachedObject derives from
// it, and a hit hands the stored object to a session as a ResponsePtr (the same pointer, no copy,
// no allocation). Immutable once shared.
//
// Counted intrusively (boost::intrusive_ptr): the count lives in the response, so a cached
// object is one heap block with no shared_ptr control block beside it. The head is a view of
// storage the concrete type owns: OwnedResponse's string, or a CachedObject's own block.
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace cdn {

struct ResponseData {
    ResponseData(const ResponseData&) = delete;
    ResponseData& operator=(const ResponseData&) = delete;
    virtual ~ResponseData() = default;

    unsigned status = 0;

  private:
    mutable std::atomic<std::uint32_t> refs_{0};
    friend void intrusive_ptr_add_ref(const ResponseData* r) noexcept {
        r->refs_.fetch_add(1, std::memory_order_relaxed);
    }
    friend void intrusive_ptr_release(const ResponseData* r) noexcept {
        if (r->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
    }

  public:
    // "HTTP/1.1 200 OK\r\n" then the fields, each ending "\r\n", Content-Length included when
    // known; without the blank line and without per-request fields (Age, Connection, ...). A view
    // of the concrete type's storage.
    std::string_view head;
    std::shared_ptr<const std::string> body;  // null: no body

    std::size_t body_size() const { return body ? body->size() : 0; }
    // References held (ResponsePtr and friends): for tests and assertions.
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

  protected:
    ResponseData() = default;
};
using ResponsePtr = boost::intrusive_ptr<const ResponseData>;

// A response that is not a cached object (generated replies, tests): owns its head.
struct OwnedResponse final : ResponseData {
    explicit OwnedResponse(unsigned status_code = 0, std::string head_text = {},
                           std::shared_ptr<const std::string> body_data = nullptr)
        : head_storage_(std::move(head_text)) {
        status = status_code;
        head = head_storage_;
        body = std::move(body_data);
    }

  private:
    std::string head_storage_;
};

inline boost::intrusive_ptr<OwnedResponse> make_response(
    unsigned status, std::string head, std::shared_ptr<const std::string> body = nullptr) {
    return boost::intrusive_ptr<OwnedResponse>(
        new OwnedResponse(status, std::move(head), std::move(body)));
}

}  // namespace cdn
