#pragma once
// The edges geodns can answer with, grouped in regions, and their health as last seen by the
// health checker. A Fleet is immutable once built from the config (a reload builds a new one);
// its HealthTable is the one mutable part, written by the health checker and read by every DNS
// worker without locks.
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

// One edge's up/down as last seen by its health checks. Shared by every generation of the
// fleet that lists the edge, so a reload keeps the state of the edges that stay.
struct HealthCell {
    explicit HealthCell(bool initially_up = true) : up(initially_up) {}
    std::atomic<bool> up;
};

// Up/down per edge (index into Fleet::edges). At start-up every edge is up: before the first
// checks complete geodns answers as if the whole fleet were healthy (the checks go out at once,
// so this lasts at most one check timeout). Edges added by a reload start down instead
// (health/edge_health.hpp). The table itself is immutable; the cells are written by the health
// checks and read by every DNS worker without locks.
class HealthTable {
  public:
    explicit HealthTable(std::size_t edges) {
        cells_.reserve(edges);
        for (std::size_t i = 0; i < edges; ++i)
            cells_.push_back(std::make_shared<HealthCell>(true));
    }
    explicit HealthTable(std::vector<std::shared_ptr<HealthCell>> cells)
        : cells_(std::move(cells)) {}
    bool up(std::size_t edge) const noexcept {
        return cells_[edge]->up.load(std::memory_order_relaxed);
    }
    void set(std::size_t edge, bool up) const noexcept {  // the cells change, not the table
        cells_[edge]->up.store(up, std::memory_order_relaxed);
    }
    std::size_t size() const noexcept { return cells_.size(); }

  private:
    std::vector<std::shared_ptr<HealthCell>> cells_;
};

}  // namespace cdn::geodns
