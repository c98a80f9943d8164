#pragma once
// Configured CIDR blocks mapped straight to a region (like gdnsd's nets), matched longest prefix
// first, for IPv4 and IPv6 (an IPv4-mapped IPv6 address is matched as IPv4). Built once at
// start-up with add() (not thread-safe); lookup() is const, allocation-free and safe from any
// number of threads afterwards.
#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::geodns {

struct NetsMatch {
    bool matched = false;
    std::size_t region = 0;   // the matched block's region (when matched)
    std::uint8_t prefix = 0;  // the matched block's length (when matched)
    // Length of the widest block around the address in which every address gets this same
    // result (matched or not, same region): >= prefix, and longer when a more specific block
    // sits inside the matched one. In the family the address was matched in (IPv4 for mapped).
    std::uint8_t scope = 0;
};

class Nets {
  public:
    // "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). "::ffff:a.b.c.d/n"
    // with n >= 96 is stored as IPv4. Throws std::invalid_argument naming `cidr` when it does not
    // parse, has host bits set, or repeats a block already added.
    void add(std::string_view cidr, std::size_t region);

    NetsMatch lookup(const boost::asio::ip::address& address) const noexcept;

    // The blocks as added (IPv4-mapped ones as IPv4), for building the steering's class table.
    struct Block {
        bool v4 = true;
        std::array<unsigned char, 16> bytes{};  // network address; the first 4 for IPv4
        unsigned length = 0;
        std::size_t region = 0;
    };
    const std::vector<Block>& blocks() const noexcept { return blocks_; }

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

  private:
    static constexpr std::uint32_t kNone = 0xffffffffu;
    struct Node {
        std::uint32_t child[2] = {0, 0};  // 0 = none (the root is never a child)
        std::uint32_t region = kNone;
    };
    // A binary trie per family; node 0 is the root.
    struct Trie {
        std::vector<Node> nodes{Node{}};
    };
    static void insert(Trie& trie, const unsigned char* bytes, unsigned bits, unsigned len,
                       std::size_t region, std::string_view cidr);
    static NetsMatch walk(const Trie& trie, const unsigned char* bytes, unsigned bits) noexcept;

    Trie v4_, v6_;
    std::vector<Block> blocks_;
    std::size_t size_ = 0;
};

}  // namespace cdn::geodns
