#include "edge/proxy/request_id.hpp"

#include <boost/beast/core/string.hpp>

#include <array>
#include <random>

namespace cdn::edge::proxy {
namespace {

// Two hex digits per byte value, so a 64-bit value takes 8 lookups.
constexpr auto kHexPairs = [] {
    constexpr char digits[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (std::size_t b = 0; b < 256; ++b) {
        t[2 * b] = digits[b >> 4];
        t[2 * b + 1] = digits[b & 0xf];
    }
    return t;
}();

void put_hex(char* out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        const std::size_t b = (v & 0xff) * 2;
        out[2 * i] = kHexPairs[b];
        out[2 * i + 1] = kHexPairs[b + 1];
        v >>= 8;
    }
}

// A round function for the Feistel network: a keyed 32-bit mix (murmur3's finaliser).
std::uint32_t round_fn(std::uint32_t x, std::uint32_t k) {
    x ^= k;
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

// Four Feistel rounds over 64 bits: a permutation for any key, so distinct counters give
// distinct outputs.
std::uint64_t permute(std::uint64_t v, std::uint64_t key) {
    auto l = static_cast<std::uint32_t>(v >> 32);
    auto r = static_cast<std::uint32_t>(v);
    const std::uint32_t k[4] = {static_cast<std::uint32_t>(key),
                                static_cast<std::uint32_t>(key >> 32),
                                static_cast<std::uint32_t>(key) * 0x9e3779b9u,
                                static_cast<std::uint32_t>(key >> 32) * 0x7f4a7c15u};
    for (const std::uint32_t rk : k) {
        const std::uint32_t t = l ^ round_fn(r, rk);
        l = r;
        r = t;
    }
    return (std::uint64_t{l} << 32) | r;
}

std::uint64_t random64(std::random_device& rd) {
    return (std::uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

bool is_sane_request_id(std::string_view id) {
    if (id.empty() || id.size() > http::RequestId::kMax) return false;
    for (const char c : id)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

RequestIdGenerator::RequestIdGenerator() {
    std::random_device rd;
    prefix_ = random64(rd);
    key_ = random64(rd);
}

void RequestIdGenerator::next(http::RequestId& out) {
    char* p = out.data();
    put_hex(p, prefix_);
    put_hex(p + 16, permute(counter_++, key_));
    out.resize(32);
}

void assign_request_id(http::Request& req, RequestIdGenerator& ids) {
    constexpr std::string_view kName = "X-Request-Id";
    // One pass over the fields comparing lengths first: cheaper for a request's dozen fields
    // than the case-insensitive tree walk of find() or count().
    std::string_view value;
    int seen = 0;
    for (const auto& f : req.msg) {
        const std::string_view name = f.name_string();
        if (name.size() != kName.size() || !boost::beast::iequals(name, kName)) continue;
        if (++seen > 1) break;
        value = f.value();
    }
    if (seen == 1 && is_sane_request_id(value))
        req.id.assign(value);
    else
        ids.next(req.id);
}

}  // namespace cdn::edge::proxy
