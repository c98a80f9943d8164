#include "common/durable_file.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cdn {

namespace {

std::string failure(const std::filesystem::path& p, std::string_view step, int err) {
    return fmt::format("{}: {} failed: {}", p.string(), step, std::strerror(err));
}

}  // namespace

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) {
            errno = EIO;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::filesystem::path directory_of(const std::filesystem::path& path) {
    std::filesystem::path dir = path.parent_path();
    return dir.empty() ? std::filesystem::path(".") : dir;
}

std::string fsync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return failure(dir, "open", errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
        errno = err;  // for the caller, past close()
        return failure(dir, "fsync", err);
    }
    return {};
}

DurableWrite replace_file_durably(const std::filesystem::path& path, std::string_view data,
                                  DurableOptions options) {
    DurableWrite w;
    const std::filesystem::path tmp = path.string() + ".tmp";
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    if (options.keep_open) flags |= O_APPEND;
    const int fd = ::open(tmp.c_str(), flags, static_cast<mode_t>(options.mode));
    if (fd < 0) {
        w.err = errno;
        w.error = failure(tmp, "open", w.err);
        return w;
    }
    const char* step = nullptr;
    if (!write_all(fd, data))
        step = "write";
    else if (::fsync(fd) != 0)
        step = "fsync";
    else if (::rename(tmp.c_str(), path.c_str()) != 0)
        step = "rename";
    if (step) {
        w.err = errno;
        w.error = std::string_view(step) == "rename"
                      ? fmt::format("{}: rename to {} failed: {}", tmp.string(), path.string(),
                                    std::strerror(w.err))
                      : failure(tmp, step, w.err);
        ::close(fd);
        ::unlink(tmp.c_str());
        return w;
    }
    w.replaced = true;
    if (options.keep_open)
        w.fd = fd;
    else
        ::close(fd);
    if (std::string e = fsync_directory(directory_of(path)); !e.empty()) {
        w.err = errno;
        w.error = std::move(e);
    }
    return w;
}

}  // namespace cdn
