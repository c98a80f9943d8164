// What this binary is: release number, git revision of the tree it was built from, build type.
// --version prints it; every daemon exports it as the cdn_build_info metric.
#pragma once

#include <string>
#include <string_view>

namespace cdn {

class MetricsRegistry;

struct BuildInfo {
    std::string_view version;     // "0.14.0"
    std::string_view revision;    // git describe: "bb0ed25c1f0a", "-dirty" when modified
    std::string_view build_type;  // CMake's: Release, RelWithDebInfo, Debug...
};

const BuildInfo& build_info() noexcept;

// "edge 0.14.0 (revision bb0ed25c1f0a, RelWithDebInfo)": the --version line.
std::string version_line(std::string_view program);

// cdn_build_info{version="...",revision="...",build_type="..."} 1.
void register_build_info(MetricsRegistry& registry);

}  // namespace cdn
