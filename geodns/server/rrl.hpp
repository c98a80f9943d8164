#pragma once
// Response rate limiting (RRL) for UDP answers, as BIND, Knot and NSD do it: each client prefix
// (/24, /56 by default) gets at most `responses_per_second` copies of the same answer, after a
// burst of `burst`; of the responses over the limit every `slip`-th goes out as a bare truncated
// answer (TC=1, question only) so a real resolver retries over TCP, the others are dropped. A
// spoofed source therefore cannot turn geodns into an amplifier for its victim.
//
// "The same answer" is the prefix plus: the question's name and type for answers (NODATA
// included); the zone for NXDOMAIN (every nonexistent name of a zone counts as one, so random
// names do not escape the limit); nothing for errors (FORMERR, REFUSED, NOTIMP, ...: one bucket
// per prefix). Each bucket is a GCRA (a token bucket kept as one "theoretical arrival time").
//
// State: a fixed table of `table_size` 8-byte slots in sets of 4, indexed by a keyed hash (a
// random seed per process, so no one can aim collisions); a newcomer takes a free slot, one
// whose bucket has refilled, or else the set's fullest bucket. Spoofed sources can churn the
// table but never grow it. Time is passed in (`now`), nothing here reads a clock.
//
// Thread-safe and lock-free: check() may be called from every worker at once (each slot is one
// atomic word updated by compare-and-swap).
#include "common/clock.hpp"
#include "geodns/geo/nets.hpp"

#include <boost/asio/ip/address.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace cdn::geodns {

struct RrlOptions {
    bool enabled = true;
    unsigned responses_per_second = 200;  // 1..100000
    unsigned burst = 200;                 // answers at once before the rate applies (>= 1)
    unsigned slip = 2;                // 0: drop all over the limit; 1: truncate all; N: every Nth
    unsigned ipv4_prefix = 24;        // 1..32
    unsigned ipv6_prefix = 56;        // 1..128
    std::vector<std::string> exempt;  // CIDR blocks never limited ("192.0.2.0/24")
    std::size_t table_size = 65536;   // slots; rounded up to a power of two, at least 64
    bool operator==(const RrlOptions&) const = default;
};

enum class RrlVerdict : std::uint8_t { send, drop, slip };

struct RrlDecision {
    RrlVerdict verdict = RrlVerdict::send;
    bool evicted = false;  // another flow's bucket, not yet refilled, was given to this one
};

class Rrl {
  public:
    // Throws std::invalid_argument for a bad exempt block (the config checks them first).
    // `seed` keys the hash; 0 picks a random one.
    explicit Rrl(const RrlOptions& options, std::uint64_t seed = 0);

    // What to do with a UDP response of `rcode` to a question of `qtype` from `source`.
    // `name_hash` is ResponseInfo::name_hash (responder.hpp). Cost: a hash, one cache line, a CAS.
    RrlDecision check(const boost::asio::ip::address& source, std::uint16_t rcode,
                      std::uint16_t qtype, std::uint64_t name_hash, TimePoint now) noexcept;

    std::size_t table_size() const noexcept { return set_count_ * kWays; }
    // Slots in use (not empty): for tests, O(table_size).
    std::size_t used() const noexcept;

  private:
    std::uint64_t key_hash(const boost::asio::ip::address& source, std::uint16_t rcode,
                           std::uint16_t qtype, std::uint64_t name_hash) const noexcept;
    bool exempt(const boost::asio::ip::address& source) const noexcept;

    std::uint64_t seed_;
    std::uint64_t interval_;   // ticks between two responses of one bucket (1 tick = 2^-20 s)
    std::uint64_t tolerance_;  // (burst - 1) * interval_
    unsigned slip_;
    std::uint32_t v4_mask_;
    std::uint64_t v6_mask_hi_, v6_mask_lo_;
    Nets exempt_;
    static constexpr std::size_t kWays = 4;
    struct alignas(kWays * 8) Set {  // one set never straddles a cache line
        std::atomic<std::uint64_t> slot[kWays];
    };
    std::size_t set_count_;  // a power of two
    std::unique_ptr<Set[]> sets_;
};

// Rewrites a UDP response in place into the minimal truncated answer a slip sends: the header
// (same id, flags and RCODE, TC set, no answer, authority or additional records) and the
// question. Returns its new size (12 when no question can be kept).
std::size_t make_slip_response(std::span<std::uint8_t> response) noexcept;

}  // namespace cdn::geodns
