#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include <stdexcept>

#include <sys/socket.h>
#include <sys/time.h>

namespace cdn::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

void set_timeouts(tcp::socket& s, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

struct HttpClient::Impl {
    asio::io_context io;
    tcp::socket socket{io};
    beast::flat_buffer buffer;
    tcp::endpoint ep;
    bool open = false;

    void connect() {
        if (socket.is_open()) {
            boost::system::error_code ignored;
            socket.close(ignored);
        }
        socket.connect(ep);
        set_timeouts(socket, std::chrono::seconds(30));
        buffer.clear();
        open = true;
    }
};

HttpClient::HttpClient(std::uint16_t port, std::string address) : impl_(new Impl) {
    impl_->ep = tcp::endpoint(asio::ip::make_address(address), port);
}

HttpClient::~HttpClient() {
    delete impl_;
}

bool HttpClient::connected() const {
    return impl_->open;
}

Response HttpClient::request(const std::string& method, const std::string& target,
                             const Headers& headers, const std::string& body) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    bool has_host = false;
    for (const auto& [k, v] : headers) {
        req.insert(k, v);
        if (beast::iequals(k, "host")) has_host = true;
    }
    if (!has_host) req.set(http::field::host, "localhost");
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.body() = body;
        req.prepare_payload();
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!impl_->open) impl_->connect();
        boost::system::error_code ec;
        http::write(impl_->socket, req, ec);
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::uint64_t{1} << 32);
        if (method == "HEAD") parser.skip(true);
        if (!ec) http::read(impl_->socket, impl_->buffer, parser, ec);
        // A reused connection the server closed meanwhile: retry once on a fresh one.
        if (ec && attempt == 0 &&
            (ec == http::error::end_of_stream || ec == asio::error::eof ||
             ec == asio::error::connection_reset || ec == asio::error::broken_pipe)) {
            impl_->open = false;
            continue;
        }
        if (ec) {
            impl_->open = false;
            throw std::runtime_error("http " + method + " " + target + ": " + ec.message());
        }
        Response res = parser.release();
        if (!res.keep_alive()) impl_->open = false;
        return res;
    }
    throw std::runtime_error("http " + method + " " + target + ": connection lost");
}

Response http_get(std::uint16_t port, const std::string& target, const Headers& headers) {
    HttpClient c(port);
    return c.get(target, headers);
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds quiet) {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    set_timeouts(s, quiet);
    boost::system::error_code ec;
    asio::write(s, asio::buffer(bytes), ec);
    std::string out;
    char buf[4096];
    for (;;) {
        const std::size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        out.append(buf, n);
    }
    return out;
}

}  // namespace cdn::test
