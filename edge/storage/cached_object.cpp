#include "edge/storage/cached_object.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace cdn::edge::storage {

CachedObject::CachedObject(std::uint8_t kind, std::string_view key,
                           std::string_view head_text) noexcept
    : ResponseData(kind, static_cast<std::uint32_t>(sizeof(CachedObject) + key.size()),
                   static_cast<std::uint32_t>(head_text.size())),
      key_size_(static_cast<std::uint32_t>(key.size())) {
    char* t = reinterpret_cast<char*>(this + 1);
    if (!key.empty()) std::memcpy(t, key.data(), key.size());
    if (!head_text.empty()) std::memcpy(t + key.size(), head_text.data(), head_text.size());
}

void CachedObject::destroy(const ResponseData* r) noexcept {
    auto* o = const_cast<CachedObject*>(static_cast<const CachedObject*>(r));
    o->~CachedObject();
    ::operator delete(o);
}

MutableObjectPtr CachedObject::make(std::string_view key, std::string_view head_text) {
    static const std::uint8_t kind = register_response_kind(&CachedObject::destroy);
    // The head's offset (past the fixed part and the key) and size are 32-bit.
    if (key.size() + head_text.size() >
        std::numeric_limits<std::uint32_t>::max() - sizeof(CachedObject))
        throw std::length_error("cached object key and head longer than 4 GiB");
    void* block = ::operator new(sizeof(CachedObject) + key.size() + head_text.size());
    return MutableObjectPtr(::new (block) CachedObject(kind, key, head_text));
}

MutableObjectPtr CachedObject::copy(const CachedObject& o, std::string_view head_text) {
    MutableObjectPtr c = make(o.key(), head_text);
    c->status = o.status;
    c->body = o.body;
    c->seq = o.seq;
    c->meta = o.meta;
    c->variants = o.variants;
    return c;
}

MutableObjectPtr CachedObject::copy(const CachedObject& o) {
    return copy(o, o.head());
}

std::string_view CachedObject::field(std::string_view name) const noexcept {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    const std::string_view h = head();
    std::size_t pos = h.find("\r\n");
    while (pos != std::string_view::npos) {
        const std::size_t start = pos + 2;
        const std::size_t end = h.find("\r\n", start);
        const std::string_view line =
            h.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (line.size() > name.size() && line[name.size()] == ':' &&
            std::equal(name.begin(), name.end(), line.begin(),
                       [&](char a, char b) { return lower(a) == lower(b); })) {
            std::string_view v = line.substr(name.size() + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
                v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
                v.remove_suffix(1);
            return v;
        }
        pos = end;
    }
    return {};
}

namespace {
std::atomic<std::uint64_t> g_next_sequence{1};
}

std::uint64_t next_object_sequence() noexcept {
    return g_next_sequence.fetch_add(1, std::memory_order_relaxed);
}

void advance_object_sequence(std::uint64_t at_least) noexcept {
    std::uint64_t cur = g_next_sequence.load(std::memory_order_relaxed);
    while (cur < at_least &&
           !g_next_sequence.compare_exchange_weak(cur, at_least, std::memory_order_relaxed)) {
    }
}

}  // namespace cdn::edge::storage
