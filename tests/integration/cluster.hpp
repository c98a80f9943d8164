#pragma once
// Integration fixtures: a real origin_sim and a real edge on ephemeral loopback ports.
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace cdn::test {

std::string url_encode(std::string_view s);

// A response field's value as a string ("" when absent).
inline std::string header(const Response& r, const char* name) {
    return std::string(r[name]);
}

class OriginSim {
  public:
    explicit OriginSim(const TempDir& dir, std::vector<std::string> extra_args = {});
    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    // Requests origin_sim answered for exactly this target (path and query as sent).
    std::uint64_t count(const std::string& target);
    std::uint64_t not_modified(const std::string& target);
    std::uint64_t total();
    // Requests origin_sim answered with this method ("HEAD"), over all targets.
    std::uint64_t method_count(const std::string& method);
    Process& process() { return *proc_; }

  private:
    std::unique_ptr<Process> proc_;
    std::uint16_t port_ = 0;
};

class Edge {
  public:
    // Starts an edge in front of origin_url; config_toml (may be empty) is written to a file and
    // passed with --config, flags come after it.
    Edge(const TempDir& dir, const std::string& origin_url, const std::string& config_toml = "",
         std::vector<std::string> extra_args = {});
    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    Process& process() { return *proc_; }
    // The value of one sample in /metrics, e.g. metric("cdn_edge_requests_total{outcome=\"hit\"}").
    double metric(const std::string& sample);

  private:
    std::unique_ptr<Process> proc_;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
};

}  // namespace cdn::test
