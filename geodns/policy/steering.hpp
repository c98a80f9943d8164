#pragma once
// The seam between the DNS responder (pure, wire format) and the geographic policy: for a steered
// name, which edge addresses does this client get, and for how wide a client subnet does that
// answer hold (the ECS scope prefix, RFC 7871 section 7.2.1).
#include "geodns/zone/zone.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <vector>

namespace cdn::geodns {

// Who is asking: the ECS address when the query carried one (already truncated to its source
// prefix), else the packet's source address with its full length as the prefix.
struct ClientAddress {
    boost::asio::ip::address address;
    std::uint8_t source_prefix = 0;  // bits of `address` that are meaningful
    bool from_ecs = false;
};

struct SteeringAnswer {
    // Ordered: nearest first, at most Steered::count, plus one with Steered::last_resort.
    std::vector<boost::asio::ip::address_v4> v4;
    std::vector<boost::asio::ip::address_v6> v6;
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
};

}  // namespace cdn::geodns
