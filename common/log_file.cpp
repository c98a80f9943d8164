#include "common/log_file.hpp"

#include "common/log.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <utility>

namespace cdn {
namespace {

// The writer thread is woken before its interval when this much is waiting.
constexpr std::size_t kEagerBytes = 64 * 1024;

int open_append(const std::filesystem::path& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

std::uint64_t lines_in(std::string_view s) {
    return static_cast<std::uint64_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

std::unique_ptr<LogWriter> LogWriter::to_stdout(Options options) {
    return std::unique_ptr<LogWriter>(new LogWriter(STDOUT_FILENO, {}, options));
}

std::unique_ptr<LogWriter> LogWriter::to_file(const std::filesystem::path& path, Options options) {
    const int fd = open_append(path);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), path.string());
    return std::unique_ptr<LogWriter>(new LogWriter(fd, path, options));
}

LogWriter::LogWriter(int fd, std::filesystem::path path, Options options)
    : options_(options), path_(std::move(path)), fd_(fd), owns_fd_(!path_.empty()) {
    buffer_.reserve(kEagerBytes);
    thread_ = std::thread([this] { run(); });
}

LogWriter::~LogWriter() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    if (owns_fd_) ::close(fd_);
}

void LogWriter::write(std::string_view lines) {
    bool eager = false;
    {
        std::lock_guard lock(mutex_);
        if (buffer_.size() + lines.size() > options_.max_buffer) {
            dropped_.fetch_add(lines_in(lines), std::memory_order_relaxed);
            return;
        }
        buffer_.append(lines);
        eager = buffer_.size() >= kEagerBytes;
    }
    if (eager) wake_.notify_one();
}

void LogWriter::reopen() {
    {
        std::lock_guard lock(mutex_);
        reopen_requested_ = true;
    }
    wake_.notify_one();
}

void LogWriter::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t round = ++requested_round_;
    wake_.notify_one();
    flushed_.wait(lock, [&] { return finished_round_ >= round || stop_; });
}

void LogWriter::run() {
    // A write to a closed pipe fails with EPIPE here instead of killing the process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

    std::string out;
    out.reserve(kEagerBytes);
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, options_.flush_interval, [&] {
            return stop_ || reopen_requested_ || buffer_.size() >= kEagerBytes ||
                   requested_round_ > finished_round_;
        });
        // Everything written before this point goes out before a reopen, to the old file.
        out.swap(buffer_);
        const bool reopen = std::exchange(reopen_requested_, false);
        const bool stopping = stop_;
        const std::uint64_t round = requested_round_;
        lock.unlock();
        if (!out.empty()) write_out(out);
        out.clear();
        if (reopen) do_reopen();
        lock.lock();
        finished_round_ = round;
        flushed_.notify_all();
        if (stopping && buffer_.empty()) return;
    }
}

void LogWriter::write_out(const std::string& chunk) {
    std::string_view rest(chunk);
    while (!rest.empty()) {
        const ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            // A line cut in the middle counts as dropped too: it is not whole anywhere.
            dropped_.fetch_add(lines_in(rest), std::memory_order_relaxed);
            if (!std::exchange(write_failing_, true))
                log_error("log {}: write failed: {}; dropping lines until writes succeed again",
                          path_.empty() ? "stdout" : path_.string(),
                          std::generic_category().message(err));
            return;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (std::exchange(write_failing_, false))
        log_info("log {}: writing again", path_.empty() ? "stdout" : path_.string());
}

void LogWriter::do_reopen() {
    if (path_.empty()) return;
    const int fd = open_append(path_);
    if (fd < 0) {
        const int err = errno;
        log_error("log {}: cannot reopen: {}; still writing to the file open before",
                  path_.string(), std::generic_category().message(err));
        return;
    }
    ::close(fd_);
    fd_ = fd;
    write_failing_ = false;
    reopens_.fetch_add(1, std::memory_order_relaxed);
    log_info("log {}: reopened", path_.string());
}

}  // namespace cdn
