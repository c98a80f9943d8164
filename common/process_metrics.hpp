#pragma once
// The standard process metrics of the Prometheus client libraries, read from /proc and
// getrusage/getrlimit when scraped: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
// Same names and meanings as client_golang's process collector, so stock dashboards and alerts
// (e.g. fds near the limit) work on every daemon.
#include <cstdint>

namespace cdn {

class MetricsRegistry;

// Registers them all; every daemon calls it once, next to register_build_info.
void register_process_metrics(MetricsRegistry& registry);

// The readings behind the metrics (0 when the source cannot be read).
struct ProcessStats {
    double cpu_seconds = 0;  // user + system, this process's threads
    std::uint64_t resident_bytes = 0;
    std::uint64_t virtual_bytes = 0;
    std::uint64_t open_fds = 0;
    std::uint64_t max_fds = 0;      // the soft RLIMIT_NOFILE
    double start_time_seconds = 0;  // since the Unix epoch
};
ProcessStats read_process_stats();

}  // namespace cdn
