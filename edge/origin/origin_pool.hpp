#pragma once
// HTTP/1.1 client to origins with keep-alive connection reuse. One pool per worker (not
// thread-safe; it lives on its worker's io_context). Every step has a timeout; failures come
// back as cdn::Errc values that say what went wrong on the origin side.
#include "common/net.hpp"
#include "common/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace cdn::edge::origin {

namespace beast_http = boost::beast::http;
using OriginRequest = beast_http::request<beast_http::string_body>;
using OriginResponse = beast_http::response<beast_http::string_body>;

struct OriginServer {
    Url url;
    tcp::endpoint endpoint;  // resolved at start-up
};

struct PoolSettings {
    std::chrono::milliseconds connect_timeout{3'000};
    std::chrono::milliseconds response_timeout{30'000};  // whole response, once the request is sent
    std::uint32_t max_header_bytes = 64 * 1024;
    std::uint64_t max_body_bytes = 256ull << 20;
    std::size_t max_idle_per_server = 64;
};

class OriginPool {
  public:
    OriginPool(boost::asio::any_io_executor executor, PoolSettings settings);

    // Sends req and reads the whole response. A request that fails on a reused keep-alive
    // connection before any response byte arrives is retried once on a fresh connection when
    // the method is idempotent.
    boost::asio::awaitable<Result<OriginResponse>> fetch(const OriginServer& server,
                                                         const OriginRequest& req);

    std::size_t idle_connections() const;

  private:
    using Stream = boost::beast::tcp_stream;
    boost::asio::awaitable<Result<std::unique_ptr<Stream>>> connect(const OriginServer& server);

    boost::asio::any_io_executor executor_;
    PoolSettings settings_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Stream>>> idle_;
};

}  // namespace cdn::edge::origin
