#pragma once
// The edges geodns can answer with, grouped in regions, and their health as last seen by the
// health checker. Fleet is immutable after start-up (built from the config); HealthTable is the
// one mutable part, written by the health checker and read by every DNS worker without locks.
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace cdn::geodns {

struct Region {
    std::string id;  // "us-east"
    double latitude = 0;
    double longitude = 0;
};

struct EdgeInfo {
    std::string id;       // "use1-a"
    std::size_t region;   // index into Fleet::regions
    double latitude = 0;  // the region's coordinates unless the edge sets its own
    double longitude = 0;
    std::vector<boost::asio::ip::address_v4> v4;
    std::vector<boost::asio::ip::address_v6> v6;
    unsigned weight = 1;     // relative share of answers among equally near healthy edges (>= 1)
    std::string health_url;  // "http://127.10.0.1:8080/healthz"
};

struct Fleet {
    std::vector<Region> regions;
    std::vector<EdgeInfo> edges;
};

// Up/down per edge (index into Fleet::edges). Every edge starts up: before the first checks
// complete geodns answers as if the whole fleet were healthy (the checks go out at once at
// start-up, so this lasts at most one check timeout).
class HealthTable {
  public:
    explicit HealthTable(std::size_t edges)
        : up_(std::make_unique<std::atomic<bool>[]>(edges)), size_(edges) {
        for (std::size_t i = 0; i < edges; ++i)
            up_[i].store(true, std::memory_order_relaxed);
    }
    bool up(std::size_t edge) const noexcept { return up_[edge].load(std::memory_order_relaxed); }
    void set(std::size_t edge, bool up) noexcept { up_[edge].store(up, std::memory_order_relaxed); }
    std::size_t size() const noexcept { return size_; }

  private:
    std::unique_ptr<std::atomic<bool>[]> up_;
    std::size_t size_;
};

}  // namespace cdn::geodns
