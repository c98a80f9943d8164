#include "common/process_metrics.hpp"

#include "common/metrics.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

using namespace cdn;
using Catch::Matchers::Contains;

TEST_CASE("process metrics have the standard names and plausible values", "[process_metrics]") {
    const ProcessStats before = read_process_stats();
    CHECK(before.cpu_seconds > 0);
    CHECK(before.cpu_seconds < 3600);
    CHECK(before.resident_bytes > (1u << 20));
    CHECK(before.virtual_bytes >= before.resident_bytes);
    CHECK(before.open_fds >= 3);  // stdin, stdout, stderr at least
    CHECK(before.max_fds >= before.open_fds);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(before.start_time_seconds <= now + 1);
    CHECK(before.start_time_seconds > now - 3600);

    // One more descriptor shows.
    const int fd = ::open("/dev/null", O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK(read_process_stats().open_fds == before.open_fds + 1);
    ::close(fd);

    MetricsRegistry r;
    register_process_metrics(r);
    const std::string text = r.render();
    CHECK_THAT(text, Contains("# TYPE process_cpu_seconds_total counter\n"));
    for (const char* g : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                          "process_open_fds", "process_max_fds", "process_start_time_seconds"})
        CHECK_THAT(text, Contains(std::string("# TYPE ") + g + " gauge\n"));
}
