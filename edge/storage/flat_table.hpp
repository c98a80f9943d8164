#pragma once
// The sizing rule of the memory tier's open-addressing tables (boost's flat maps and sets): the
// shard index (memory_store.hpp) and the ghost's map (ghost_fifo.hpp).
#include <cstddef>

namespace cdn::edge::storage {

// A flat table grows to the most entries it ever held and keeps that size, so a burst of small
// objects that has left would leave its slots behind. Once less than a quarter full it is rebuilt
// for what it holds (at most 7/8 full): its slots per entry stay within 1.1 and 4.6, and the
// rebuild costs as much as the growth that preceded it.
template <class Table>
void shrink_when_sparse(Table& table) {
    constexpr std::size_t kMinSlots = 64;
    if (table.bucket_count() > kMinSlots && table.size() * 4 < table.bucket_count())
        table.rehash(0);
}

}  // namespace cdn::edge::storage
