#pragma once
// DNS wire-format constants (RFC 1035, 6891, 7871, 8482) and bounds-checked big-endian helpers.
// Pure values and constexpr functions: thread-safe, no allocation.
#include <cstddef>
#include <cstdint>
#include <span>

namespace cdn::geodns::codec {

inline constexpr std::size_t header_size = 12;
inline constexpr std::size_t max_name_wire = 255;  // RFC 1035 2.3.4, including the root byte
inline constexpr std::size_t max_label = 63;
inline constexpr std::size_t plain_udp_limit = 512;  // UDP without EDNS (RFC 1035 4.2.1)
inline constexpr std::size_t tcp_limit = 65535;      // RFC 1035 4.2.2 length prefix

namespace type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t hinfo = 13;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t ixfr = 251;
inline constexpr std::uint16_t axfr = 252;
inline constexpr std::uint16_t any = 255;
}  // namespace type

namespace qclass {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t ch = 3;
inline constexpr std::uint16_t any = 255;
}  // namespace qclass

namespace rcode {
inline constexpr std::uint16_t noerror = 0;
inline constexpr std::uint16_t formerr = 1;
inline constexpr std::uint16_t servfail = 2;
inline constexpr std::uint16_t nxdomain = 3;
inline constexpr std::uint16_t notimp = 4;
inline constexpr std::uint16_t refused = 5;
inline constexpr std::uint16_t badvers = 16;  // extended (RFC 6891 6.1.3): needs OPT
}  // namespace rcode

namespace opcode {
inline constexpr std::uint8_t query = 0;
}

// Header flag bits (the 16-bit word after the ID).
namespace flag {
inline constexpr std::uint16_t qr = 0x8000;
inline constexpr std::uint16_t aa = 0x0400;
inline constexpr std::uint16_t tc = 0x0200;
inline constexpr std::uint16_t rd = 0x0100;
inline constexpr std::uint16_t ra = 0x0080;
inline constexpr std::uint16_t ad = 0x0020;
inline constexpr std::uint16_t cd = 0x0010;
}  // namespace flag

inline constexpr std::uint16_t edns_option_ecs = 8;  // RFC 7871
inline constexpr std::uint16_t ecs_family_ipv4 = 1;
inline constexpr std::uint16_t ecs_family_ipv6 = 2;
inline constexpr std::uint32_t edns_do_bit = 0x8000;  // in the OPT TTL's low 16 bits

// Precondition for both readers: at + N <= bytes.size() (callers check first).
constexpr std::uint16_t load_u16(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}
constexpr std::uint32_t load_u32(std::span<const std::uint8_t> bytes, std::size_t at) {
    return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
           (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

}  // namespace cdn::geodns::codec
