#pragma once
// Request ids (X-Request-Id): the client's when it is sane, otherwise one made here, cheaply.
// The pipeline takes one per request before anything else, sends it to the origin, returns it in
// the response and the access log records it; it is never part of a cache key or a stored
// response.
#include "edge/http/exchange.hpp"

#include <cstdint>
#include <string_view>

namespace cdn::edge::proxy {

// 1 to RequestId::kMax bytes of printable ASCII without spaces (0x21..0x7e).
bool is_sane_request_id(std::string_view id);

// Makes ids of 32 lower-case hex digits (the shape of a W3C trace id): 64 random bits fixed per
// generator, then a per-generator counter passed through a keyed 64-bit permutation (so ids stay
// unique within a generator, but two of them do not tell how many requests came between; this
// hides volume from a casual look, it is not a cryptographic guarantee). No system call, no
// allocation, no lock: one generator per worker.
class RequestIdGenerator {
  public:
    RequestIdGenerator();  // random prefix and key (std::random_device, once)
    RequestIdGenerator(std::uint64_t prefix, std::uint64_t key) : prefix_(prefix), key_(key) {}
    void next(http::RequestId& out);

  private:
    std::uint64_t prefix_;
    std::uint64_t key_;
    std::uint64_t counter_ = 0;
};

// The request's id: its X-Request-Id when there is exactly one and it is sane, else a new one.
void assign_request_id(http::Request& req, RequestIdGenerator& ids);

}  // namespace cdn::edge::proxy
