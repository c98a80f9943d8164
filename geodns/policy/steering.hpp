#pragma once
// The seam between the DNS responder (pure, wire format) and the geographic policy: for a steered
// name, which edge addresses does this client get, and for how wide a client subnet does that
// answer hold (the ECS scope prefix, RFC 7871 section 7.2.1).
#include "geodns/zone/zone.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <type_traits>

namespace cdn::geodns {

// Who is asking: the ECS address when the query carried one (already truncated to its source
// prefix), else the packet's source address with its full length as the prefix.
struct ClientAddress {
    boost::asio::ip::address address;
    std::uint8_t source_prefix = 0;  // bits of `address` that are meaningful
    bool from_ecs = false;
};

// A steered answer's addresses of one family, held inline: the answer is built on every query,
// and a heap vector cost two allocations per query (issue 19). Room for the largest answer:
// Steered::count (at most 16) plus the last-resort address, or the fail-open cap (8).
template <class T>
class AnswerAddresses {
  public:
    static constexpr std::size_t kCapacity = 17;
    AnswerAddresses() = default;
    AnswerAddresses(std::initializer_list<T> list) {
        for (const T& x : list)
            push_back(x);
    }
    AnswerAddresses(const AnswerAddresses& o) noexcept { copy_from(o); }
    AnswerAddresses& operator=(const AnswerAddresses& o) noexcept {
        if (this != &o) copy_from(o);
        return *this;
    }
    void push_back(const T& x) noexcept {
        assert(size_ < kCapacity);
        if (size_ < kCapacity) new (&store_.items[size_++]) T(x);
    }
    void reserve(std::size_t) noexcept {}
    void clear() noexcept { size_ = 0; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const T* begin() const noexcept { return store_.items.data(); }
    const T* end() const noexcept { return store_.items.data() + size_; }
    const T& front() const noexcept { return store_.items[0]; }
    const T& operator[](std::size_t i) const noexcept { return store_.items[i]; }
    friend bool operator==(const AnswerAddresses& a, const AnswerAddresses& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

  private:
    static_assert(std::is_trivially_destructible_v<T>);
    void copy_from(const AnswerAddresses& o) noexcept {
        size_ = 0;
        for (const T& x : o)
            push_back(x);
    }
    // Only the first size_ items are constructed: constructing all 17 (zeroing 340 bytes of
    // IPv6 addresses) on every answer cost more than picking them (issue 19).
    union Store {
        Store() noexcept {}
        std::array<T, kCapacity> items;
    } store_;
    std::size_t size_ = 0;
};

struct SteeringAnswer {
    // Ordered: nearest first, at most Steered::count, plus one with Steered::last_resort.
    AnswerAddresses<boost::asio::ip::address_v4> v4;
    AnswerAddresses<boost::asio::ip::address_v6> v6;
    // ECS scope prefix to return: the width of the network (database network or configured CIDR
    // block) that decided the answer, never more than the source prefix; 0 when the answer does
    // not depend on the client (fail open, default location).
    std::uint8_t scope_prefix = 0;
    // Every candidate edge was down, so the answer is all of them: the responder caps the TTL
    // (at 5 s) so resolvers come back soon.
    bool fail_open = false;
};

// Thread-safe: called concurrently from every DNS worker.
class Steering {
  public:
    virtual ~Steering() = default;
    virtual SteeringAnswer steer(const Steered& name, const ClientAddress& client) const = 0;
    // The same, when only some families will be used (an A query needs no IPv6 pick): the
    // other family's list may come back empty. By default, steer().
    enum class Families : std::uint8_t { v4 = 1, v6 = 2, both = 3 };
    virtual SteeringAnswer steer_only(const Steered& name, const ClientAddress& client,
                                      Families) const {
        return steer(name, client);
    }
};

}  // namespace cdn::geodns
