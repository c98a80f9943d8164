#pragma once
// Bodies on their way from the origin to clients.
// - BodyStream: a body being filled into the cache by its own coroutine, read at the same time
//   by any number of clients (the request that caused the fill and collapsed waiters), each at
//   its own pace, as the bytes arrive. Thread-safe: readers may be on other workers; each
//   waiting reader is woken on its own executor. Bounded by the cache's object size limit, and
//   held against the in-flight budget until the last reader lets go.
// - OriginBodySource: a body relayed straight from the origin to one client (not cacheable or
//   too large to cache), read only as fast as the client takes it.
#include "common/result.hpp"
#include "edge/http/exchange.hpp"
#include "edge/proxy/inflight_budget.hpp"
#include "edge/upstream/origin_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cdn::edge::proxy {

class BodyStream {
  public:
    // A piece of the body for a reader: the bytes, and what keeps them alive.
    struct Slice {
        std::string_view bytes;  // empty: the end of a complete body
        BodyPtr keep;
    };
    // Readers get at most this much at a time (one write under the send timeout).
    static constexpr std::size_t kMaxSlice = 256 * 1024;

    // `length` known: one buffer of that size, filled in place, which becomes the cached body
    // as it is (no copy). Unknown: pieces as they come, joined once complete. `reservation`
    // holds the bytes against the in-flight budget until the stream is gone.
    explicit BodyStream(std::optional<std::uint64_t> length = std::nullopt,
                        InflightBudget::Reservation reservation = {});
    BodyStream(const BodyStream&) = delete;
    BodyStream& operator=(const BodyStream&) = delete;

    // Producer side (the fill coroutine). With a known length, space() is where the next bytes
    // go and commit(n) publishes n of them; append copies (either mode). append and commit
    // return false when the bytes do not fit the announced length.
    std::span<char> space();
    bool commit(std::size_t n);
    bool append(std::string_view bytes);
    void finish(bool complete);

    // Reader side: the bytes from `offset` on (up to kMaxSlice), waiting at most `timeout` for
    // them; an empty slice at the end of a complete body; an error if the body was cut short
    // (or the wait timed out).
    boost::asio::awaitable<Result<Slice>> read(std::uint64_t offset,
                                               std::chrono::milliseconds timeout);
    // Waits until the body is finished; true when it is complete.
    boost::asio::awaitable<bool> finished(std::chrono::milliseconds timeout);

    std::uint64_t size() const;
    // A known length all in (only the end of the origin's body is still to be seen).
    bool full() const;
    // The whole body once complete (the same buffer readers read), else null.
    BodyPtr whole() const;

  private:
    void wake();
    Slice slice_at(std::uint64_t offset) const;  // mu_ held, offset < size_

    mutable std::mutex mu_;
    // Known length (and, once complete, every body): the whole buffer; `data_` is its bytes,
    // written only by the producer past size_ (readers read below size_).
    MutableBodyPtr buffer_;
    char* data_ = nullptr;
    std::uint64_t capacity_ = 0;
    // Unknown length, until complete: the pieces and where each starts.
    std::vector<BodyPtr> pieces_;
    std::vector<std::uint64_t> starts_;
    std::uint64_t size_ = 0;
    bool finished_ = false;
    bool complete_ = false;
    InflightBudget::Reservation reservation_;
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
    std::uint64_t offset_ = 0;
    BodyPtr current_;
};

class OriginBodySource final : public http::BodySource {
  public:
    explicit OriginBodySource(std::unique_ptr<upstream::ResponseBody> body)
        : body_(std::move(body)) {}
    boost::asio::awaitable<Result<std::string_view>> next() override;

  private:
    std::unique_ptr<upstream::ResponseBody> body_;
    std::unique_ptr<char[]> buffer_;  // kRead bytes, allocated at the first read, never zeroed
};

}  // namespace cdn::edge::proxy
