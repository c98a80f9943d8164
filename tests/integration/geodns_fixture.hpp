#pragma once
// Integration fixtures for geodns: the real binary on an ephemeral loopback port, queried with
// the real clients a user would use (dig, kdig) and raw sockets for malformed input.
#include "tests/support/process.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cdn::test {

// The test databases (tests/data/README.md says how they were made).
std::string geodns_test_data(const std::string& name);

// The three regions of tests/data/geodns-test.mmdb, as geodns.toml [[regions]] tables.
inline constexpr const char* kTestRegions = R"([[regions]]
id = "us-east"
latitude = 39.0438
longitude = -77.4874

[[regions]]
id = "eu-central"
latitude = 50.1109
longitude = 8.6821

[[regions]]
id = "ap-northeast"
latitude = 37.5665
longitude = 126.9780
)";

// A minimal zone "cdn.example" with ns1/ns2 and a steered "www" over three single-edge regions
// (us-east 127.10.0.1, eu-central 127.10.0.2, ap-northeast 127.10.0.3) whose health URLs are
// given (empty: health checks off). extra is appended.
std::string geodns_config(const std::vector<std::string>& health_urls = {},
                          const std::string& extra = "");

class GeoDns {
  public:
    // Writes config to dir/geodns.toml and starts geodns on 127.0.0.1:0 with an admin port.
    GeoDns(const TempDir& dir, const std::string& config, const std::string& name = "geodns");
    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    Process& process() { return *proc_; }
    const std::string& config_path() const { return config_path_; }
    // A sample of /metrics, e.g. metric(R"(cdn_geodns_responses_total{rcode="NXDOMAIN"})").
    double metric(const std::string& sample);

  private:
    std::string config_path_;
    std::unique_ptr<Process> proc_;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
};

// Runs dig against 127.0.0.1:port with args; returns its stdout (throws if dig fails to run).
std::string dig(std::uint16_t port, const std::vector<std::string>& args);
// The answer section's data (dig +short), in order.
std::vector<std::string> dig_short(std::uint16_t port, const std::vector<std::string>& args);
std::string kdig(std::uint16_t port, const std::vector<std::string>& args);

// Sends one UDP datagram to 127.0.0.1:port and returns the reply ("" on timeout).
std::string udp_exchange(std::uint16_t port, const std::string& datagram,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

// Builds a plain query (RD set) for name/qtype, optionally with an EDNS OPT record.
std::string make_query(std::uint16_t id, const std::string& name, std::uint16_t qtype,
                       bool edns = false);

}  // namespace cdn::test
