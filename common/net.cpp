#include "common/net.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include <fmt/format.h>

#include <charconv>

#include <sys/socket.h>

namespace cdn {
namespace {

bool parse_port(std::string_view s, std::uint16_t& out) {
    if (s.empty()) return false;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

}  // namespace

Result<tcp::endpoint> parse_endpoint(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return Errc::invalid_value;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return Errc::invalid_value;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return Errc::invalid_value;
    }
    std::uint16_t p = 0;
    if (!parse_port(port, p)) return Errc::invalid_value;
    if (host.empty()) return tcp::endpoint(tcp::v4(), p);
    if (host == "localhost") return tcp::endpoint(asio::ip::address_v4::loopback(), p);
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(std::string(host), ec);
    if (ec) return Errc::invalid_value;
    return tcp::endpoint(addr, p);
}

namespace {
// "a.b.c.d" into out (at least 15 bytes); returns the end.
char* format_v4(const asio::ip::address_v4& a, char* out) {
    const auto bytes = a.to_bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0) *out++ = '.';
        out = std::to_chars(out, out + 3, bytes[i]).ptr;
    }
    return out;
}
}  // namespace

std::string to_string(const asio::ip::address& address) {
    if (!address.is_v4()) return address.to_string();
    char buf[16];
    return std::string(buf, format_v4(address.to_v4(), buf));
}

std::string to_string(const tcp::endpoint& ep) {
    if (ep.address().is_v4()) {
        char buf[24];
        char* end = format_v4(ep.address().to_v4(), buf);
        *end++ = ':';
        end = std::to_chars(end, buf + sizeof buf, ep.port()).ptr;
        return std::string(buf, end);
    }
    // fmt rather than operator+: GCC 12 warns falsely (-Wrestrict, bug 105329) on "[" + s.
    return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
}

std::string Url::authority() const {
    const bool dflt = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    const std::string h = host.find(':') != std::string::npos ? fmt::format("[{}]", host) : host;
    return dflt ? h : fmt::format("{}:{}", h, port);
}

Result<Url> parse_url(std::string_view text) {
    Url u;
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) return Errc::invalid_value;
    u.scheme = std::string(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https") return Errc::invalid_value;
    text.remove_prefix(sep + 3);
    const auto slash = text.find('/');
    std::string_view auth = text.substr(0, slash);
    u.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
    u.port = u.scheme == "https" ? 443 : 80;
    if (!auth.empty() && auth.front() == '[') {
        const auto close = auth.find(']');
        if (close == std::string_view::npos) return Errc::invalid_value;
        u.host = std::string(auth.substr(1, close - 1));
        auth.remove_prefix(close + 1);
        if (!auth.empty()) {
            if (auth.front() != ':' || !parse_port(auth.substr(1), u.port))
                return Errc::invalid_value;
        }
    } else {
        const auto colon = auth.find(':');
        u.host = std::string(auth.substr(0, colon));
        if (colon != std::string_view::npos && !parse_port(auth.substr(colon + 1), u.port))
            return Errc::invalid_value;
    }
    if (u.host.empty()) return Errc::invalid_value;
    return u;
}

Result<tcp::acceptor> make_acceptor(asio::io_context& io, const tcp::endpoint& ep,
                                    bool reuse_port) {
    tcp::acceptor acc(io);
    boost::system::error_code ec;
    acc.open(ep.protocol(), ec);
    if (ec) return ec;
    acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (reuse_port) {
        const int one = 1;
        if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            return ErrorCode(errno, boost::system::system_category());
    }
    if (ep.address().is_v6()) acc.set_option(asio::ip::v6_only(true), ec);
    acc.bind(ep, ec);
    if (ec) return ec;
    acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    return acc;
}

}  // namespace cdn
