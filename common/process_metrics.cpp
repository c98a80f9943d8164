#include "common/process_metrics.hpp"

#include "common/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace cdn {
namespace {

double cpu_seconds() {
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    const auto secs = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return secs(u.ru_utime) + secs(u.ru_stime);
}

// /proc/self/statm: size resident shared text lib data dt, in pages.
void memory(std::uint64_t& virt, std::uint64_t& resident) {
    std::ifstream in("/proc/self/statm");
    std::uint64_t size = 0, res = 0;
    if (!(in >> size >> res)) return;
    const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    virt = size * page;
    resident = res * page;
}

std::uint64_t open_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return 0;
    std::uint64_t n = 0;
    const int own = dirfd(d);
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        if (std::strtol(e->d_name, nullptr, 10) == own) continue;  // the listing's own fd
        ++n;
    }
    closedir(d);
    return n;
}

// The soft limit (RLIM_INFINITY, a huge number, when unlimited, as client_golang reports it).
std::uint64_t max_fds() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
    return static_cast<std::uint64_t>(r.rlim_cur);
}

// /proc/self/stat field 22 (starttime, clock ticks after boot) plus /proc/stat's btime.
double start_time() {
    std::ifstream stat("/proc/self/stat");
    const std::string line((std::istreambuf_iterator<char>(stat)),
                           std::istreambuf_iterator<char>());
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    std::uint64_t ticks = 0;
    for (int i = 3; i <= 22 && (rest >> field); ++i)
        if (i == 22) ticks = std::strtoull(field.c_str(), nullptr, 10);
    std::ifstream proc_stat("/proc/stat");
    std::string key;
    double btime = 0;
    while (proc_stat >> key) {
        if (key == "btime") {
            proc_stat >> btime;
            break;
        }
        proc_stat.ignore(1 << 16, '\n');
    }
    if (btime == 0) return 0;
    return btime + static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

ProcessStats read_process_stats() {
    ProcessStats s;
    s.cpu_seconds = cpu_seconds();
    memory(s.virtual_bytes, s.resident_bytes);
    s.open_fds = open_fds();
    s.max_fds = max_fds();
    s.start_time_seconds = start_time();
    return s;
}

void register_process_metrics(MetricsRegistry& registry) {
    // Fixed for the life of the process: read once. Should /proc be unreadable, the time of
    // registration is close enough (it happens at start-up).
    double started = start_time();
    if (started == 0)
        started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                      .count();
    registry.counter_fn("process_cpu_seconds_total",
                        "Total user and system CPU time spent in "
                        "seconds.",
                        [] { return cpu_seconds(); });
    registry.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
        std::uint64_t virt = 0, res = 0;
        memory(virt, res);
        return static_cast<double>(res);
    });
    registry.gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", [] {
        std::uint64_t virt = 0, res = 0;
        memory(virt, res);
        return static_cast<double>(virt);
    });
    registry.gauge_fn("process_open_fds", "Number of open file descriptors.",
                      [] { return static_cast<double>(open_fds()); });
    registry.gauge_fn("process_max_fds", "Maximum number of open file descriptors.",
                      [] { return static_cast<double>(max_fds()); });
    registry.gauge_fn("process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.",
                      [started] { return started; });
}

}  // namespace cdn
