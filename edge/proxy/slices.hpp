#pragma once
// Sliced objects in the store (edge/cache/slicing.hpp has the scheme): recognising a manifest,
// and removing an object with every slice of it (a URL purge, a hard-purged manifest).
#include "edge/storage/cached_object.hpp"
#include "edge/storage/object_store.hpp"

#include <string_view>

namespace cdn::edge::proxy {

// Whether obj is a sliced object's manifest (a 200 head without a body, marked).
bool is_slice_manifest(const storage::CachedObject& obj);

// Every slice of the object whose manifest is `manifest`, from the store; how many went.
std::size_t remove_slices(storage::ObjectStore& store, const storage::CachedObject& manifest);

// Removes key and, when it holds a manifest, every slice of it. True if the key was stored.
bool remove_with_slices(storage::ObjectStore& store, std::string_view key);

}  // namespace cdn::edge::proxy
