#include "tests/support/raw_connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace cdn::test {
namespace {

sockaddr_in loopback(const std::string& address, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1)
        throw std::runtime_error("raw connection: bad address " + address);
    return a;
}

std::size_t content_length_of(const std::string& head) {
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::stoul(lower.substr(at + 17));
}

}  // namespace

RawConnection::RawConnection(std::uint16_t port, std::string address, std::string source,
                             int receive_buffer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("raw connection: socket failed");
    if (receive_buffer > 0)
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    if (!source.empty()) {
        const sockaddr_in s = loopback(source, 0);
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&s), sizeof s) != 0)
            throw std::runtime_error("raw connection: cannot bind " + source);
    }
    const sockaddr_in a = loopback(address, port);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("raw connection: cannot connect to port " + std::to_string(port));
}

RawConnection::~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
}

void RawConnection::send(const std::string& bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;  // the peer closed: what it sent back is still readable
        sent += static_cast<std::size_t>(n);
    }
}

bool RawConnection::fill(std::chrono::milliseconds timeout) {
    if (eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[64 * 1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buffered_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::string RawConnection::read_until(const std::string& needle,
                                      std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffered_.find(needle) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !fill(left)) break;
    }
    return buffered_;
}

std::string RawConnection::read_response(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
    };
    std::size_t start = 0;
    for (;;) {
        std::size_t end;
        while ((end = buffered_.find("\r\n\r\n", start)) == std::string::npos)
            if (left().count() <= 0 || !fill(left())) return {};
        const std::string head = buffered_.substr(start, end + 4 - start);
        // Interim responses carry no body: keep going to the final one.
        if (head.size() > 10 && head.compare(0, 10, "HTTP/1.1 1") == 0) {
            start = end + 4;
            continue;
        }
        std::size_t total = end + 4;
        std::string lower(head);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
            std::size_t last;
            while ((last = buffered_.find("\r\n0\r\n\r\n", end)) == std::string::npos)
                if (left().count() <= 0 || !fill(left())) return {};
            total = last + 7;
        } else {
            total += content_length_of(head);
            while (buffered_.size() < total)
                if (left().count() <= 0 || !fill(left())) return {};
        }
        std::string out = buffered_.substr(0, total);
        buffered_.erase(0, total);
        return out;
    }
}

std::string RawConnection::read_rest(std::chrono::milliseconds quiet) {
    while (fill(quiet)) {
    }
    std::string out;
    out.swap(buffered_);
    return out;
}

std::string RawConnection::read_some(std::size_t n, std::chrono::milliseconds timeout) {
    if (buffered_.empty()) fill(timeout);
    const std::string out = buffered_.substr(0, n);
    buffered_.erase(0, out.size());
    return out;
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        fill(left);
    }
    return true;
}

}  // namespace cdn::test
