#include "common/response_data.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>

namespace cdn {

namespace {

// Written once per kind, before the first response of that kind exists; read when one is
// destroyed, which the response's own count orders after its making.
std::array<ResponseDeleter, 256> g_deleters{};
std::size_t g_kinds = 0;
std::mutex g_kinds_mu;

}  // namespace

std::uint8_t ResponseData::register_response_kind(ResponseDeleter deleter) {
    std::lock_guard lock(g_kinds_mu);
    if (g_kinds == g_deleters.size()) std::abort();  // a programming error: kinds are few
    g_deleters[g_kinds] = deleter;
    return static_cast<std::uint8_t>(g_kinds++);
}

void ResponseData::destroy(const ResponseData* r) noexcept {
    g_deleters[r->kind_](r);
}

MutableBodyPtr Body::make_for_overwrite(std::size_t size) {
    if (size > std::numeric_limits<std::size_t>::max() - sizeof(Body))
        throw std::length_error("response body too long");
    return MutableBodyPtr(::new (::operator new(sizeof(Body) + size)) Body(size));
}

void Body::destroy(const Body* b) noexcept {
    auto* p = const_cast<Body*>(b);
    p->~Body();
    ::operator delete(p);
}

MutableBodyPtr new_body(std::string_view bytes) {
    auto b = Body::make_for_overwrite(bytes.size());
    if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
    return b;
}

MutableBodyPtr new_body(std::size_t size, char fill) {
    auto b = Body::make_for_overwrite(size);
    if (size > 0) std::memset(b->data(), fill, size);
    return b;
}

OwnedResponse::OwnedResponse(std::uint8_t kind, std::string_view head_text) noexcept
    : ResponseData(kind, sizeof(OwnedResponse), static_cast<std::uint32_t>(head_text.size())) {
    if (!head_text.empty())
        std::memcpy(reinterpret_cast<char*>(this + 1), head_text.data(), head_text.size());
}

void OwnedResponse::destroy(const ResponseData* r) noexcept {
    auto* o = const_cast<OwnedResponse*>(static_cast<const OwnedResponse*>(r));
    o->~OwnedResponse();
    ::operator delete(o);
}

boost::intrusive_ptr<OwnedResponse> OwnedResponse::make(unsigned status, std::string_view head,
                                                        BodyPtr body) {
    static const std::uint8_t kind = register_response_kind(&OwnedResponse::destroy);
    if (head.size() > std::numeric_limits<std::uint32_t>::max() - sizeof(OwnedResponse))
        throw std::length_error("response head longer than 4 GiB");
    void* block = ::operator new(sizeof(OwnedResponse) + head.size());
    boost::intrusive_ptr<OwnedResponse> r(::new (block) OwnedResponse(kind, head));
    r->status = static_cast<std::uint16_t>(status);
    r->body = std::move(body);
    return r;
}

}  // namespace cdn
