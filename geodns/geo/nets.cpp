#include "geodns/geo/nets.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace cdn::geodns {

namespace {

namespace ip = boost::asio::ip;

unsigned bit(const unsigned char* bytes, unsigned i) noexcept {
    return (bytes[i / 8] >> (7 - i % 8)) & 1u;
}

[[noreturn]] void bad(std::string_view cidr, const std::string& why) {
    throw std::invalid_argument("bad CIDR \"" + std::string(cidr) + "\": " + why);
}

}  // namespace

void Nets::add(std::string_view cidr, std::size_t region) {
    if (region >= kNone) bad(cidr, "region index out of range");
    const auto slash = cidr.find('/');
    const std::string addr_text(cidr.substr(0, slash));
    boost::system::error_code ec;
    ip::address addr = ip::make_address(addr_text, ec);
    if (ec) bad(cidr, "\"" + addr_text + "\" is not an IP address");
    unsigned len = addr.is_v4() ? 32 : 128;
    if (slash != std::string_view::npos) {
        const auto digits = cidr.substr(slash + 1);
        unsigned n = 0;
        const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (digits.empty() || err != std::errc() || end != digits.data() + digits.size() ||
            n > len) {
            bad(cidr, "the prefix length must be a number from 0 to " + std::to_string(len));
        }
        len = n;
    }
    if (addr.is_v6() && addr.to_v6().is_v4_mapped() && len >= 96) {
        addr = ip::make_address_v4(ip::v4_mapped, addr.to_v6());
        len -= 96;
    }
    Block block;
    block.v4 = addr.is_v4();
    block.length = len;
    block.region = region;
    if (addr.is_v4()) {
        const auto b = addr.to_v4().to_bytes();
        insert(v4_, b.data(), 32, len, region, cidr);
        std::copy(b.begin(), b.end(), block.bytes.begin());
    } else {
        const auto b = addr.to_v6().to_bytes();
        insert(v6_, b.data(), 128, len, region, cidr);
        block.bytes = b;
    }
    blocks_.push_back(block);
    ++size_;
}

void Nets::insert(Trie& trie, const unsigned char* bytes, unsigned bits, unsigned len,
                  std::size_t region, std::string_view cidr) {
    // Host bits must be zero: "10.1.2.3/8" is more likely a typo than a wish.
    for (unsigned i = len; i < bits; ++i) {
        if (bit(bytes, i) != 0) bad(cidr, "host bits are set after /" + std::to_string(len));
    }
    std::uint32_t node = 0;
    for (unsigned i = 0; i < len; ++i) {
        const unsigned b = bit(bytes, i);
        if (trie.nodes[node].child[b] == 0) {
            trie.nodes[node].child[b] = static_cast<std::uint32_t>(trie.nodes.size());
            trie.nodes.push_back(Node{});
        }
        node = trie.nodes[node].child[b];
    }
    if (trie.nodes[node].region != kNone) bad(cidr, "the block is listed twice");
    trie.nodes[node].region = static_cast<std::uint32_t>(region);
}

NetsMatch Nets::walk(const Trie& trie, const unsigned char* bytes, unsigned bits) noexcept {
    NetsMatch m;
    std::uint32_t node = 0;
    unsigned depth = 0;
    auto note = [&] {
        if (trie.nodes[node].region != kNone) {
            m.matched = true;
            m.region = trie.nodes[node].region;
            m.prefix = static_cast<std::uint8_t>(depth);
        }
    };
    note();
    while (depth < bits) {
        const std::uint32_t next = trie.nodes[node].child[bit(bytes, depth)];
        if (next == 0) break;
        node = next;
        ++depth;
        note();
    }
    // Every address that follows the same path to `node` gets the same result. When `node` has
    // a child on the other side, that path is one bit longer than `depth`.
    const auto& n = trie.nodes[node];
    const bool has_child = n.child[0] != 0 || n.child[1] != 0;
    m.scope = static_cast<std::uint8_t>(depth < bits && has_child ? depth + 1 : depth);
    return m;
}

NetsMatch Nets::lookup(const ip::address& address) const noexcept {
    if (address.is_v4()) {
        const auto b = address.to_v4().to_bytes();
        return walk(v4_, b.data(), 32);
    }
    const auto v6 = address.to_v6();
    if (v6.is_v4_mapped()) {
        const auto b = ip::make_address_v4(ip::v4_mapped, v6).to_bytes();
        return walk(v4_, b.data(), 32);
    }
    const auto b = v6.to_bytes();
    return walk(v6_, b.data(), 128);
}

}  // namespace cdn::geodns
