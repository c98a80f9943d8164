#pragma once
// Bodies on their way from the origin to clients.
// - BodyStream: a body being filled into the cache by its own coroutine, read at the same time
//   by any number of clients (the request that caused the fill and collapsed waiters), each at
//   its own pace, as the bytes arrive. Thread-safe: readers may be on other workers; each
//   waiting reader is woken on its own executor. Bounded by the cache's object size limit.
// - OriginBodySource: a body relayed straight from the origin to one client (not cacheable or
//   too large to cache), read only as fast as the client takes it.
#include "common/result.hpp"
#include "edge/http/exchange.hpp"
#include "edge/origin/origin_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cdn::edge::proxy {

class BodyStream {
  public:
    // Producer side (the fill coroutine).
    void append(std::string piece);
    void finish(bool complete);

    // Reader side: piece i, waiting at most `timeout` for it; nullptr after the last piece of a
    // complete body; an error if the body was cut short (or the wait timed out).
    boost::asio::awaitable<Result<std::shared_ptr<const std::string>>> piece(
        std::size_t i, std::chrono::milliseconds timeout);
    // Waits until the body is finished; true when it is complete.
    boost::asio::awaitable<bool> finished(std::chrono::milliseconds timeout);

    std::uint64_t size() const;
    // The whole body, concatenated (call once complete).
    std::string concatenate() const;

  private:
    void wake(std::vector<std::shared_ptr<boost::asio::steady_timer>>& waiters);

    mutable std::mutex mu_;
    std::vector<std::shared_ptr<const std::string>> pieces_;
    std::uint64_t size_ = 0;
    bool finished_ = false;
    bool complete_ = false;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

class BodyStreamReader final : public http::BodySource {
  public:
    BodyStreamReader(std::shared_ptr<BodyStream> stream, std::chrono::milliseconds timeout)
        : stream_(std::move(stream)), timeout_(timeout) {}
    boost::asio::awaitable<Result<std::string_view>> next() override;

  private:
    std::shared_ptr<BodyStream> stream_;
    std::chrono::milliseconds timeout_;
    std::size_t next_ = 0;
    std::shared_ptr<const std::string> current_;
};

class OriginBodySource final : public http::BodySource {
  public:
    explicit OriginBodySource(std::unique_ptr<origin::OriginBody> body) : body_(std::move(body)) {}
    boost::asio::awaitable<Result<std::string_view>> next() override;

  private:
    std::unique_ptr<origin::OriginBody> body_;
    std::string buffer_ = std::string(64 * 1024, '\0');
};

}  // namespace cdn::edge::proxy
