#pragma once
// Durable files: replacing a file's whole content so that a crash or a power loss leaves either
// the old content or the new one, never a mix, and never loses the new one once it is reported
// written. The one copy of "write PATH.tmp, fsync it, rename it over PATH, fsync the directory"
// (purge_api's log compaction, the edge's purge journal, the disk tier's summaries and state).
//
// Errors are messages naming the path and the step that failed, with errno's text:
// "/var/cache/edge/cache.state.tmp: write failed: No space left on device".
// Not thread-safe for one path: a path has one writer (PATH.tmp is fixed).
#include <filesystem>
#include <string>
#include <string_view>

namespace cdn {

struct DurableWrite {
    // Empty: the new content is in place and durable.
    std::string error;
    // The rename happened: the new content is what PATH holds now (true on success; on a failed
    // directory fsync, PATH has the new content, which a power loss may still undo).
    bool replaced = false;
    // With keep_open and once replaced (even if the directory fsync then failed): the new file,
    // open for appending (O_WRONLY | O_APPEND); the caller closes it. -1 otherwise.
    int fd = -1;
    // errno of the failed step (0 on success).
    int err = 0;

    bool ok() const noexcept { return error.empty(); }
};

struct DurableOptions {
    bool keep_open = false;  // return the new file's descriptor, for appending to it
    unsigned mode = 0644;    // permissions of a new file
};

// Replaces PATH's content with `data`: writes it to PATH.tmp (created or truncated), fsyncs
// that, renames it over PATH, then fsyncs PATH's directory. On any failure before the rename,
// PATH is left as it was and PATH.tmp is removed.
DurableWrite replace_file_durably(const std::filesystem::path& path, std::string_view data,
                                  DurableOptions options = {});

// fsyncs a directory, so that names created, renamed or removed in it survive a power loss.
// Empty on success, else "<dir>: ... failed: <reason>".
std::string fsync_directory(const std::filesystem::path& dir);

// The directory a path's entry lives in ("." for a bare file name).
std::filesystem::path directory_of(const std::filesystem::path& path);
// Writes all of data to fd, retrying short writes and EINTR; false with errno set otherwise
// (a write of 0 bytes is EIO).
bool write_all(int fd, std::string_view data);

}  // namespace cdn
