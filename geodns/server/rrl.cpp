#include "geodns/server/rrl.hpp"

#include "common/mix64.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

namespace cdn::geodns {
namespace {

// Times are ticks of 2^-20 s (about 1 µs) since the clock's epoch, kept modulo 2^44 (194
// days): differences are read as signed 44-bit numbers, so a wrap or a clock step only ever
// looks like a bucket that refilled (see check()).
constexpr unsigned kTatBits = 44;
constexpr std::uint64_t kTatMask = (std::uint64_t{1} << kTatBits) - 1;
constexpr unsigned kSlipShift = kTatBits;  // 4 bits of slip count
constexpr std::uint64_t kSlipMask = 0xF;
constexpr unsigned kTagShift = 48;  // 16 bits of key tag; tag 0 marks an empty slot

std::uint64_t ticks_of(TimePoint now) noexcept {
    // In two steps: nanoseconds since 1970 times 2^20 would overflow 64 bits.
    const auto since = now.time_since_epoch();
    const auto secs = std::chrono::floor<std::chrono::seconds>(since);
    const auto rem = std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
    return (static_cast<std::uint64_t>(secs.count()) << 20) +
           (static_cast<std::uint64_t>(rem) << 20) / 1'000'000'000u;
}

std::int64_t signed_ticks(std::uint64_t diff) noexcept {
    diff &= kTatMask;
    return diff >= (std::uint64_t{1} << (kTatBits - 1))
               ? static_cast<std::int64_t>(diff) - (std::int64_t{1} << kTatBits)
               : static_cast<std::int64_t>(diff);
}

std::uint64_t load_be64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

// The first `bits` bits of a 128-bit address as two masks.
void v6_masks(unsigned bits, std::uint64_t& hi, std::uint64_t& lo) noexcept {
    const std::uint64_t ones = ~std::uint64_t{0};
    hi = bits >= 64 ? ones : (bits == 0 ? 0 : ones << (64 - bits));
    lo = bits <= 64 ? 0 : (bits >= 128 ? ones : ones << (128 - bits));
}

enum class Kind : std::uint64_t { answer = 1, nxdomain = 2, error = 3 };

Kind kind_of(std::uint16_t rcode) noexcept {
    if (rcode == 0) return Kind::answer;
    return rcode == 3 ? Kind::nxdomain : Kind::error;
}

}  // namespace

Rrl::Rrl(const RrlOptions& o, std::uint64_t seed) : seed_(seed), slip_(std::min(o.slip, 15u)) {
    if (o.responses_per_second == 0) throw std::invalid_argument("responses_per_second is 0");
    if (seed_ == 0) {
        std::random_device rd;
        seed_ = (std::uint64_t{rd()} << 32) ^ rd() ^ 0x9e3779b97f4a7c15ULL;
    }
    const std::uint64_t second = std::uint64_t{1} << 20;
    // Rounded down: never stricter than configured (off by under a tick, 1 µs, per response).
    interval_ = std::max<std::uint64_t>(1, second / o.responses_per_second);
    tolerance_ = (std::max(o.burst, 1u) - 1) * interval_;
    const unsigned v4 = std::clamp(o.ipv4_prefix, 1u, 32u);
    v4_mask_ = v4 == 32 ? 0xffffffffu : ~(0xffffffffu >> v4);
    v6_masks(std::clamp(o.ipv6_prefix, 1u, 128u), v6_mask_hi_, v6_mask_lo_);
    for (const std::string& cidr : o.exempt)
        exempt_.add(cidr, 0);
    const std::size_t slots = std::bit_ceil(std::max<std::size_t>(o.table_size, 64));
    set_count_ = slots / kWays;
    sets_ = std::make_unique<Set[]>(set_count_);
}

std::uint64_t Rrl::key_hash(const boost::asio::ip::address& source, std::uint16_t rcode,
                            std::uint16_t qtype, std::uint64_t name_hash) const noexcept {
    std::uint64_t hi = 0, lo = 0, family = 4;
    if (source.is_v4()) {
        hi = source.to_v4().to_uint() & v4_mask_;
    } else {
        const auto v6 = source.to_v6();
        if (v6.is_v4_mapped()) {
            hi = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_uint() &
                 v4_mask_;
        } else {
            const auto b = v6.to_bytes();
            hi = load_be64(b.data()) & v6_mask_hi_;
            lo = load_be64(b.data() + 8) & v6_mask_lo_;
            family = 6;
        }
    }
    const Kind kind = kind_of(rcode);
    const std::uint64_t meta = (family << 40) | (static_cast<std::uint64_t>(kind) << 32) |
                               (kind == Kind::answer ? qtype : 0);
    const std::uint64_t name = kind == Kind::error ? 0 : name_hash;
    std::uint64_t h = mix64(seed_ ^ hi);
    h = mix64(h ^ lo ^ (meta << 16));
    return mix64(h ^ name);
}

bool Rrl::exempt(const boost::asio::ip::address& source) const noexcept {
    return !exempt_.empty() && exempt_.lookup(source).matched;
}

RrlDecision Rrl::check(const boost::asio::ip::address& source, std::uint16_t rcode,
                       std::uint16_t qtype, std::uint64_t name_hash, TimePoint now) noexcept {
    const std::uint64_t h = key_hash(source, rcode, qtype, name_hash);
    const std::uint64_t tag = std::max<std::uint64_t>(h >> kTagShift, 1);
    Set& set = sets_[h & (set_count_ - 1)];
    const std::uint64_t t = ticks_of(now) & kTatMask;
    const std::int64_t tolerance = static_cast<std::int64_t>(tolerance_);
    const std::int64_t horizon = tolerance + static_cast<std::int64_t>(interval_);
    // A bucket whose arrival time is in the past has refilled: as good as new. One further ahead
    // than any update can put it (horizon) comes from a clock step or a wrap: also new.
    auto refilled = [&](std::uint64_t word) {
        const std::int64_t d = signed_ticks((word & kTatMask) - t);
        return d <= 0 || d > horizon;
    };
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::array<std::uint64_t, kWays> words;
        for (std::size_t i = 0; i < kWays; ++i)
            words[i] = set.slot[i].load(std::memory_order_relaxed);
        std::size_t pick = kWays;
        bool fresh = false;
        bool evicted = false;
        for (std::size_t i = 0; i < kWays && pick == kWays; ++i)
            if ((words[i] >> kTagShift) == tag) pick = i;
        if (pick == kWays) {
            fresh = true;
            std::int64_t least = std::numeric_limits<std::int64_t>::max();
            std::size_t fullest = 0;
            for (std::size_t i = 0; i < kWays && pick == kWays; ++i) {
                if (words[i] == 0 || refilled(words[i])) {
                    pick = i;
                } else if (const std::int64_t d = signed_ticks((words[i] & kTatMask) - t);
                           d < least) {
                    least = d;
                    fullest = i;
                }
            }
            if (pick == kWays) {
                pick = fullest;
                evicted = true;
            }
        }
        std::uint64_t old = words[pick];
        std::uint64_t tat = fresh ? t : (old & kTatMask);
        std::uint64_t slips = fresh ? 0 : (old >> kSlipShift) & kSlipMask;
        if (refilled(tat)) tat = t;
        RrlVerdict verdict = RrlVerdict::send;
        if (signed_ticks(tat - t) > tolerance) {
            if (exempt(source)) return {RrlVerdict::send, evicted};
            verdict = RrlVerdict::drop;
            if (slip_ != 0 && ++slips >= slip_) {
                verdict = RrlVerdict::slip;
                slips = 0;
            }
        } else {
            tat += interval_;
        }
        const std::uint64_t word = (tag << kTagShift) | (slips << kSlipShift) | (tat & kTatMask);
        if (set.slot[pick].compare_exchange_weak(old, word, std::memory_order_relaxed))
            return {verdict, evicted};
    }
    return {};  // contended four times over: let this one through
}

std::size_t Rrl::used() const noexcept {
    std::size_t n = 0;
    for (std::size_t s = 0; s < set_count_; ++s)
        for (const auto& slot : sets_[s].slot)
            n += slot.load(std::memory_order_relaxed) != 0 ? 1 : 0;
    return n;
}

std::size_t make_slip_response(std::span<std::uint8_t> r) noexcept {
    if (r.size() < 12) return r.size();
    const unsigned qdcount = (unsigned{r[4]} << 8) | r[5];
    std::size_t end = 12;
    if (qdcount > 0) {
        std::size_t p = 12;
        while (p < r.size() && r[p] != 0 && (r[p] & 0xC0) == 0)
            p += std::size_t{r[p]} + 1;
        // The name's root byte, then QTYPE and QCLASS.
        if (p < r.size() && r[p] == 0 && p + 5 <= r.size()) end = p + 5;
    }
    r[2] |= 0x02;  // TC
    r[4] = 0;
    r[5] = end > 12 ? 1 : 0;
    std::memset(r.data() + 6, 0, 6);  // ANCOUNT, NSCOUNT, ARCOUNT
    return end;
}

}  // namespace cdn::geodns
