#include "edge/http/address_budget.hpp"

#include "common/mix64.hpp"

#include <algorithm>
#include <chrono>
#include <random>

namespace cdn::edge::http {
namespace {

std::uint64_t random_seed() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

AddressResetBudget::AddressResetBudget(const Settings& settings, const Clock& clock)
    : settings_(settings),
      clock_(clock),
      seed_(random_seed()),
      sets_(std::max<std::size_t>(1, (settings.slots + kWays - 1) / kWays)),
      slots_(sets_ * kWays),
      stripes_(std::make_unique<std::mutex[]>(kStripes)) {}

AddressResetBudget::Key AddressResetBudget::key_of(const boost::asio::ip::address& a) {
    Key k;
    if (a.is_v6() && !a.to_v6().is_v4_mapped()) {
        // One /64 is one client: a host picks any address in its prefix at will.
        const auto b = a.to_v6().to_bytes();
        for (std::size_t i = 0; i < 8; ++i)
            k.hi = (k.hi << 8) | b[i];
        return k;
    }
    const auto v4 = a.is_v4()
                        ? a.to_v4()
                        : boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    k.lo = 0xffff00000000ULL | v4.to_uint();  // never 0, unlike every IPv6 key's low half
    return k;
}

std::size_t AddressResetBudget::set_of(const Key& key) const {
    return static_cast<std::size_t>(mix64(mix64(key.hi ^ seed_) ^ key.lo) % sets_);
}

void AddressResetBudget::refill(Slot& s, TimePoint now) const {
    if (now > s.refilled) {
        const double secs = std::chrono::duration<double>(now - s.refilled).count();
        s.tokens = std::min<double>(settings_.burst, s.tokens + secs * settings_.rate);
    }
    // A wall clock that steps back refills nothing, and the bucket refills from the new time on
    // (left at the old time it would stay empty for as long as the step).
    s.refilled = now;
}

AddressResetBudget::Slot& AddressResetBudget::slot_for(const Key& key, std::size_t set,
                                                       TimePoint now) {
    Slot* ways = &slots_[set * kWays];
    Slot* free_way = nullptr;
    Slot* richest = nullptr;
    for (std::size_t i = 0; i < kWays; ++i) {
        Slot& s = ways[i];
        if (!s.used) {
            if (!free_way) free_way = &s;
            continue;
        }
        refill(s, now);
        if (s.key == key) return s;
        if (!richest || s.tokens > richest->tokens) richest = &s;
    }
    // A free way, or the one with the most tokens left (a full bucket holds no history).
    Slot& victim = free_way ? *free_way : *richest;
    victim = Slot{key, true, static_cast<double>(settings_.burst), now};
    return victim;
}

bool AddressResetBudget::take(const boost::asio::ip::address& client) {
    const Key key = key_of(client);
    const std::size_t set = set_of(key);
    const TimePoint now = clock_.now();
    std::lock_guard lock(stripes_[set % kStripes]);
    Slot& s = slot_for(key, set, now);
    if (s.tokens < 1.0) return false;
    s.tokens -= 1.0;
    return true;
}

bool AddressResetBudget::has_budget(const boost::asio::ip::address& client) {
    const Key key = key_of(client);
    const std::size_t set = set_of(key);
    const TimePoint now = clock_.now();
    std::lock_guard lock(stripes_[set % kStripes]);
    Slot* ways = &slots_[set * kWays];
    for (std::size_t i = 0; i < kWays; ++i) {
        if (ways[i].used && ways[i].key == key) {
            refill(ways[i], now);
            return ways[i].tokens >= 1.0;
        }
    }
    return true;  // unknown: a full bucket
}

}  // namespace cdn::edge::http
