#pragma once
// Addresses and URLs from configs and flags, and the listening sockets every server uses.
#include "common/result.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace cdn {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// "127.0.0.1:8080", "[::1]:8080", ":8080" (all IPv4 interfaces) or "localhost:8080".
// Port 0 asks the kernel for a free port. Numeric addresses only, besides "localhost".
Result<tcp::endpoint> parse_endpoint(std::string_view text);
std::string to_string(const tcp::endpoint& ep);
// An address as text ("192.0.2.1", "2001:db8::1"); IPv4 without asio's inet_ntop round trip
// (it is on every origin request, in X-Forwarded-For).
std::string to_string(const boost::asio::ip::address& address);

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // without brackets for IPv6
    std::uint16_t port = 0;
    std::string path;  // "/" when absent

    // "host:port" as it belongs in a Host header (port omitted when it is the scheme's default).
    std::string authority() const;
};
Result<Url> parse_url(std::string_view text);

// A listening acceptor. With reuse_port several acceptors (one per worker) share the port and the
// kernel spreads connections among them.
Result<tcp::acceptor> make_acceptor(asio::io_context& io, const tcp::endpoint& ep, bool reuse_port);

}  // namespace cdn
