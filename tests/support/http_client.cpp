#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include <stdexcept>

namespace cdn::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

// Runs the io_context until the pending operations finish or the timeout passes; on timeout the
// socket is closed (failing the operations) so a silent server cannot hang a test.
void run_with_timeout(asio::io_context& io, tcp::socket& s, std::chrono::milliseconds timeout) {
    io.restart();
    io.run_for(timeout);
    if (!io.stopped()) {
        boost::system::error_code ignored;
        s.close(ignored);
        io.run();
    }
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
        boost::system::error_code ec;
        socket.async_connect(ep, [&](boost::system::error_code e) { ec = e; });
        run_with_timeout(io, socket, kTimeout);
        if (ec) throw std::runtime_error("connect: " + ec.message());
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
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::uint64_t{1} << 32);
        if (method == "HEAD") parser.skip(true);
        http::async_write(impl_->socket, req, [&](boost::system::error_code e, std::size_t) {
            ec = e;
            if (ec) return;
            http::async_read(impl_->socket, impl_->buffer, parser,
                             [&](boost::system::error_code e2, std::size_t) { ec = e2; });
        });
        run_with_timeout(impl_->io, impl_->socket, kTimeout);
        // A reused connection the server closed meanwhile: retry once on a fresh one.
        if (ec && attempt == 0 && !parser.got_some() &&
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
    boost::system::error_code ec;
    s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                    [&](boost::system::error_code e) { ec = e; });
    run_with_timeout(io, s, kTimeout);
    if (ec) throw std::runtime_error("connect: " + ec.message());
    asio::async_write(s, asio::buffer(bytes), [](boost::system::error_code, std::size_t) {});
    run_with_timeout(io, s, kTimeout);
    // Read until the server closes, or sends nothing for `quiet`.
    std::string out;
    char buf[4096];
    while (s.is_open()) {
        bool done = false;
        s.async_read_some(asio::buffer(buf), [&](boost::system::error_code e, std::size_t n) {
            if (e)
                done = true;
            else
                out.append(buf, n);
        });
        run_with_timeout(io, s, quiet);
        if (done) break;
    }
    return out;
}

std::optional<double> scrape_metric(std::uint16_t port, const std::string& sample) {
    const std::string text = "\n" + http_get(port, "/metrics").body();
    const auto pos = text.find("\n" + sample + " ");
    if (pos == std::string::npos) return std::nullopt;
    return std::stod(text.substr(pos + sample.size() + 2));
}

}  // namespace cdn::test
