#include "tests/support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace cdn::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TempDir::TempDir() {
    std::random_device rd;
    const fs::path base = fs::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
        fs::path p = base / ("cdn-test-" + std::to_string(rd()));
        if (fs::create_directory(p)) {
            path_ = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, std::string_view content) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
}

namespace {

// Starts argv with stdin from /dev/null and stdout (and stderr, if asked) on out_fd.
pid_t spawn(const std::vector<std::string>& argv, int out_fd, bool with_stderr) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (with_stderr) posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    return pid;
}

int decode(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Polls waitpid until the child exits or the timeout passes.
bool reap(pid_t pid, int& status, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        const pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            status = decode(st);
            return true;
        }
        if (r < 0) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

}  // namespace

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
    pid_ = spawn(argv, fd, true);
    ::close(fd);
}

Process::~Process() {
    if (pid_ > 0 && status_ < 0) {
        ::kill(pid_, SIGTERM);
        if (!reap(pid_, status_, 5s)) kill_hard();
    }
}

bool Process::running() {
    if (status_ >= 0) return false;
    return !reap(pid_, status_, 0ms);
}

std::string Process::log() const {
    std::ifstream in(log_path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string Process::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::string text = log();
        if (auto pos = text.find(needle); pos != std::string::npos) {
            const auto start = pos + needle.size();
            const auto end = text.find('\n', start);
            if (end != std::string::npos) return text.substr(start, end - start);
        }
        if (!running())
            throw std::runtime_error("process exited (status " + std::to_string(status_) +
                                     ") before logging '" + std::string(needle) + "':\n" + text);
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("timed out waiting for '" + std::string(needle) +
                                     "' in log:\n" + text);
        std::this_thread::sleep_for(10ms);
    }
}

std::uint16_t Process::wait_for_port(std::string_view marker) {
    std::string rest = wait_for_log(marker);
    while (!rest.empty() && rest.front() == ' ')
        rest.erase(0, 1);
    const auto space = rest.find(' ');
    const std::string addr = rest.substr(0, space);
    const auto colon = addr.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("no port in '" + rest + "'");
    return static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1)));
}

int Process::terminate(std::chrono::milliseconds timeout) {
    if (status_ >= 0) return status_;
    ::kill(pid_, SIGTERM);
    if (!reap(pid_, status_, timeout)) {
        kill_hard();
        throw std::runtime_error("process did not stop on SIGTERM:\n" + log());
    }
    return status_;
}

void Process::kill_hard() {
    if (status_ >= 0) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, status_, 10s);
}

int Process::wait_exit(std::chrono::milliseconds timeout) {
    if (status_ >= 0) return status_;
    return reap(pid_, status_, timeout) ? status_ : -1;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    TempDir dir;
    const std::string out_path = (dir.path() / "out").string();
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + out_path);
    pid_t pid = -1;
    try {
        pid = spawn(argv, fd, false);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    CommandResult result;
    if (!reap(pid, result.status, timeout)) {
        ::kill(pid, SIGKILL);
        reap(pid, result.status, 10s);
        throw std::runtime_error(argv[0] + " did not finish in time");
    }
    std::ifstream in(out_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    result.out = ss.str();
    return result;
}

}  // namespace cdn::test
