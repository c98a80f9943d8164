#include "edge/storage/cached_object.hpp"

#include <atomic>

namespace cdn::edge::storage {

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
