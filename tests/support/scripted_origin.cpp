#include "tests/support/scripted_origin.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace cdn::test {
namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Waits up to 100 ms for fd to be readable.
bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 100) > 0;
}

}  // namespace

std::string RecordedRequest::field(std::string_view name) const {
    for (const auto& [n, v] : fields)
        if (iequal(n, name)) return v;
    return {};
}

bool RecordedRequest::has(std::string_view name) const {
    return std::any_of(fields.begin(), fields.end(),
                       [&](const auto& f) { return iequal(f.first, name); });
}

std::string http_response(unsigned status, const std::string& body, const std::string& fields) {
    return "HTTP/1.1 " + std::to_string(status) + " Status\r\n" + fields +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

ScriptedOrigin::ScriptedOrigin(Script script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("scripted origin: cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptedOrigin::~ScriptedOrigin() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : threads_)
        t.join();
    ::close(listener_);
}

std::vector<RecordedRequest> ScriptedOrigin::requests() const {
    std::lock_guard lock(mu_);
    return requests_;
}

void ScriptedOrigin::accept_loop() {
    while (!stop_) {
        if (!readable(listener_)) continue;
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++open_;
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

void ScriptedOrigin::serve(int fd) {
    std::string in;
    char buf[16 * 1024];
    // Reads more input; false when the peer closed or we are stopping.
    auto more = [&] {
        while (!stop_) {
            if (!readable(fd)) continue;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return false;
            in.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    };
    for (bool open = true; open;) {
        std::size_t end;
        while ((end = in.find("\r\n\r\n")) == std::string::npos)
            if (!more()) {
                open = false;
                break;
            }
        if (!open) break;
        RecordedRequest req;
        const std::string head = in.substr(0, end);
        in.erase(0, end + 4);
        std::size_t line_end = head.find("\r\n");
        const std::string request_line = head.substr(0, line_end);
        const auto sp1 = request_line.find(' ');
        const auto sp2 = request_line.rfind(' ');
        req.method = request_line.substr(0, sp1);
        req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
        while (line_end != std::string::npos && line_end < head.size()) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string line = head.substr(start, line_end - start);
            const auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            req.fields.emplace_back(line.substr(0, colon), value);
        }
        if (const std::string cl = req.field("content-length"); !cl.empty()) {
            const std::size_t n = std::stoul(cl);
            while (in.size() < n && more()) {
            }
            req.body = in.substr(0, n);
            in.erase(0, std::min(n, in.size()));
        }
        const std::string reply = script_(req);
        {
            std::lock_guard lock(mu_);
            requests_.push_back(std::move(req));
        }
        if (reply.empty()) break;
        const std::size_t trickle_after = trickle_after_.load();
        for (std::size_t sent = 0; sent < reply.size() && !stop_;) {
            std::size_t len = reply.size() - sent;
            if (sent >= trickle_after) {
                std::this_thread::sleep_for(std::chrono::milliseconds(trickle_pause_ms_.load()));
                len = 1;
            } else {
                len = std::min(len, trickle_after - sent);
            }
            const ssize_t n = ::send(fd, reply.data() + sent, len, MSG_NOSIGNAL);
            if (n <= 0) {
                open = false;
                break;
            }
            sent += static_cast<std::size_t>(n);
        }
    }
    ::close(fd);
    --open_;
}

}  // namespace cdn::test
