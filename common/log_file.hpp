#pragma once
// A log destination many threads write whole lines to: stdout or a file reopened on demand
// (SIGUSR1 after logrotate renamed it). A worker never waits on the disk or on a slow reader of
// stdout: write() copies the line into a buffer under a mutex, and a thread of the writer's own
// empties the buffer every flush interval, or at once when it passes 64 KiB.
//
// reopen() opens the path again (O_APPEND|O_CREAT, mode 0640) on the writer thread, after every
// line written before the call has gone to the old file, and closes the old file after the new
// one is open: a rotation neither loses nor duplicates a line. When the path cannot be opened,
// the writer keeps the old file and logs an error.
//
// If the destination cannot keep up (a stuck disk, a full pipe) and the buffer reaches
// max_buffer, further lines are dropped and counted rather than holding up the workers; so are
// lines a write failed for (disk full, a closed pipe: SIGPIPE is blocked on the writer thread).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace cdn {

class LogWriter {
  public:
    struct Options {
        std::chrono::milliseconds flush_interval{100};
        std::size_t max_buffer = 8u << 20;
    };
    // Lines go to stdout (fd 1); reopen() does nothing.
    static std::unique_ptr<LogWriter> to_stdout(Options options);
    static std::unique_ptr<LogWriter> to_stdout() { return to_stdout(Options{}); }
    // Lines are appended to path, created (0640) when missing. Throws std::system_error naming
    // the path when it cannot be opened.
    static std::unique_ptr<LogWriter> to_file(const std::filesystem::path& path, Options options);
    static std::unique_ptr<LogWriter> to_file(const std::filesystem::path& path) {
        return to_file(path, Options{});
    }
    // Writes what is buffered, then stops the writer thread.
    ~LogWriter();
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // One or more whole lines, each ending in '\n'. Thread-safe; never blocks on I/O.
    void write(std::string_view lines);
    // Asks the writer thread to reopen the file (see above); returns at once. Thread-safe, but
    // not async-signal-safe: call it from a signal_set handler, not a signal handler.
    void reopen();
    // Returns once everything written so far is out (and a reopen asked for is done).
    void flush();

    const std::filesystem::path& path() const { return path_; }  // empty for stdout
    // Lines dropped so far: the buffer was full, or writing them failed.
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    // Successful reopens so far.
    std::uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

  private:
    LogWriter(int fd, std::filesystem::path path, Options options);
    void run();
    void write_out(const std::string& chunk);
    void do_reopen();

    const Options options_;
    const std::filesystem::path path_;
    int fd_;  // touched by the writer thread only (and the constructor and destructor)
    bool owns_fd_;

    std::mutex mutex_;
    std::condition_variable wake_;     // the writer: work to do
    std::condition_variable flushed_;  // flush(): a round finished
    std::string buffer_;               // lines not yet handed to the writer thread
    bool reopen_requested_ = false;
    bool stop_ = false;
    std::uint64_t requested_round_ = 0;  // flush() asks for a round past this one
    std::uint64_t finished_round_ = 0;
    bool write_failing_ = false;  // the last write failed (logged once until one succeeds)

    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> reopens_{0};
    std::thread thread_;
};

}  // namespace cdn
