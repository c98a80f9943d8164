#include "edge/cache/head_refresh.hpp"

namespace cdn::edge::cache {

namespace {

bool is_weak(std::string_view etag) noexcept {
    return etag.starts_with("W/");
}

}  // namespace

bool head_matches_stored(const Validators& stored, const Validators& head) noexcept {
    if (stored.content_length && head.content_length &&
        *stored.content_length != *head.content_length)
        return false;
    if (!stored.etag.empty() && !is_weak(stored.etag))
        return !is_weak(head.etag) && head.etag == stored.etag;
    if (!stored.last_modified.empty()) return head.last_modified == stored.last_modified;
    if (!stored.etag.empty()) return head.etag == stored.etag;
    return head.etag.empty() && head.last_modified.empty();
}

}  // namespace cdn::edge::cache
