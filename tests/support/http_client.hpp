#pragma once
// Test support: a small blocking HTTP/1.1 client over loopback (Boost.Beast), plus raw-bytes
// exchanges for malformed-input tests. Every operation has a timeout.
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cdn::test {

using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection; reconnects if the server closed it.
class HttpClient {
  public:
    explicit HttpClient(std::uint16_t port, std::string address = "127.0.0.1");
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    Response request(const std::string& method, const std::string& target,
                     const Headers& headers = {}, const std::string& body = {});
    Response get(const std::string& target, const Headers& headers = {}) {
        return request("GET", target, headers);
    }
    // True if the last response left the connection open.
    bool connected() const;

  private:
    struct Impl;
    Impl* impl_;
};

// One request on a new connection.
Response http_get(std::uint16_t port, const std::string& target, const Headers& headers = {});

// One sample from a Prometheus /metrics page on 127.0.0.1:port, e.g.
// scrape_metric(port, R"(cdn_edge_requests_total{outcome="hit"})"); nullopt when absent.
std::optional<double> scrape_metric(std::uint16_t port, const std::string& sample);

// Sends bytes as they are and returns everything the server sends until it closes the
// connection or goes quiet for `quiet` (whichever comes first).
std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds quiet = std::chrono::milliseconds(2000));

}  // namespace cdn::test
