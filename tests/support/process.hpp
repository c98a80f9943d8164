#pragma once
// Test support: real child processes (origin_sim, edge, ...) on loopback ports, with their output
// in a log file the test can wait on. Never linked into a product binary.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cdn::test {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    // Writes a file under the directory and returns its full path.
    std::string write(const std::string& name, std::string_view content) const;

  private:
    std::filesystem::path path_;
};

class Process {
  public:
    // Starts argv (argv[0] is a path); stdout and stderr both go to log_path.
    Process(std::vector<std::string> argv, std::string log_path);
    ~Process();  // SIGTERM, then SIGKILL after 5 s if it is still running
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    std::string log() const;
    // Waits until the log contains needle; returns the rest of that line after needle.
    // Throws std::runtime_error (with the log) on timeout or if the process exits first.
    std::string wait_for_log(std::string_view needle,
                             std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Waits for "<marker> ADDRESS:PORT" in the log and returns PORT.
    std::uint16_t wait_for_port(std::string_view marker);
    // SIGTERM and wait; returns the exit status (128 + signal if killed by one).
    int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void kill_hard();  // SIGKILL and reap
    // Waits for the process to exit by itself; returns its exit status or -1 on timeout.
    int wait_exit(std::chrono::milliseconds timeout);

  private:
    pid_t pid_ = -1;
    int status_ = -1;
    std::string log_path_;
};

// Polls until pred() holds or the bound passes (for state that changes in the background, such
// as health checks or a refresh); returns whether it held. The bound only matters on failure.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

// Runs a command to completion (bounded by timeout) and returns its exit status and stdout.
struct CommandResult {
    int status = -1;
    std::string out;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace cdn::test
