#pragma once
// The rapid-reset budget of a client address across all its HTTP/2 connections (CVE-2023-44487
// from many connections at once): a token bucket per address, /64 for IPv6, in a fixed-size
// hashed table, so a client that opens connection after connection and resets streams on each
// runs out as surely as one that does it on a single connection.
//
// Thread-safe: one object is shared by every connection of every worker; each take() locks one
// of a few dozen stripes for a handful of instructions. Memory is fixed at construction
// (`slots` entries of ~40 bytes). When a set of the table is full, the entry with the most
// tokens left (the least suspicious) gives its place; an address that comes back after that
// starts with a full bucket again, which errs on the side of serving. The hash is seeded per
// process, so nobody can pick addresses that collide on purpose.
#include "common/clock.hpp"
#include "common/net.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace cdn::edge::http {

class AddressResetBudget {
  public:
    struct Settings {
        std::uint32_t burst = 1000;  // resets an address may make at once
        std::uint32_t rate = 100;    // refilled per second
        std::size_t slots = 4096;    // addresses tracked at once (rounded up to a multiple of 4)
    };

    // `clock` is borrowed and must outlive this object.
    AddressResetBudget(const Settings& settings, const Clock& clock);

    // One reset by `client`: takes a token from its bucket; false when the bucket is empty.
    bool take(const boost::asio::ip::address& client);
    // True when `client` has a token left (a new connection from it is served).
    bool has_budget(const boost::asio::ip::address& client);

    const Settings& settings() const { return settings_; }

  private:
    struct Key {
        std::uint64_t hi = 0;
        std::uint64_t lo = 0;
        bool operator==(const Key&) const = default;
    };
    struct Slot {
        Key key;
        bool used = false;
        double tokens = 0;
        TimePoint refilled{};
    };
    static constexpr std::size_t kWays = 4;
    static constexpr std::size_t kStripes = 64;

    static Key key_of(const boost::asio::ip::address& a);
    // Finds (or makes) the slot of `key` in its set, refilled to `now`; the set's stripe must be
    // locked.
    Slot& slot_for(const Key& key, std::size_t set, TimePoint now);
    void refill(Slot& s, TimePoint now) const;
    std::size_t set_of(const Key& key) const;

    Settings settings_;
    const Clock& clock_;
    std::uint64_t seed_;
    std::size_t sets_;
    std::vector<Slot> slots_;
    std::unique_ptr<std::mutex[]> stripes_;
};

}  // namespace cdn::edge::http
