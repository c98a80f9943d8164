#include "edge/proxy/body_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cdn::edge::proxy {

namespace asio = boost::asio;

void BodyStream::wake(std::vector<std::shared_ptr<asio::steady_timer>>& waiters) {
    // Each waiter's timer belongs to its reader's worker: cancel it there.
    for (auto& t : waiters)
        asio::post(t->get_executor(), [t] { t->cancel(); });
    waiters.clear();
}

void BodyStream::append(std::string piece) {
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
    {
        std::lock_guard lock(mu_);
        size_ += piece.size();
        pieces_.push_back(std::make_shared<const std::string>(std::move(piece)));
        waiters.swap(waiters_);
    }
    wake(waiters);
}

void BodyStream::finish(bool complete) {
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
    {
        std::lock_guard lock(mu_);
        if (finished_) return;
        finished_ = true;
        complete_ = complete;
        waiters.swap(waiters_);
    }
    wake(waiters);
}

asio::awaitable<Result<std::shared_ptr<const std::string>>> BodyStream::piece(
    std::size_t i, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::shared_ptr<asio::steady_timer> timer;
        {
            std::lock_guard lock(mu_);
            if (i < pieces_.size()) co_return pieces_[i];
            if (finished_) {
                if (complete_) co_return std::shared_ptr<const std::string>();
                co_return Errc::origin_closed;
            }
            if (std::chrono::steady_clock::now() >= deadline) co_return Errc::origin_timeout;
            timer =
                std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
            waiters_.push_back(timer);
        }
        auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;  // woken by the producer or timed out: look again either way
    }
}

asio::awaitable<bool> BodyStream::finished(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::shared_ptr<asio::steady_timer> timer;
        {
            std::lock_guard lock(mu_);
            if (finished_) co_return complete_;
            if (std::chrono::steady_clock::now() >= deadline) co_return false;
            timer =
                std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
            waiters_.push_back(timer);
        }
        auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;
    }
}

std::uint64_t BodyStream::size() const {
    std::lock_guard lock(mu_);
    return size_;
}

std::string BodyStream::concatenate() const {
    std::lock_guard lock(mu_);
    std::string all;
    all.reserve(size_);
    for (const auto& p : pieces_)
        all.append(*p);
    return all;
}

asio::awaitable<Result<std::string_view>> BodyStreamReader::next() {
    auto p = co_await stream_->piece(next_, timeout_);
    if (!p) co_return p.error();
    current_ = std::move(*p);
    if (!current_) co_return std::string_view();
    ++next_;
    co_return std::string_view(*current_);
}

asio::awaitable<Result<std::string_view>> OriginBodySource::next() {
    auto n = co_await body_->read_some(buffer_.data(), buffer_.size());
    if (!n) co_return n.error();
    co_return std::string_view(buffer_.data(), *n);
}

}  // namespace cdn::edge::proxy
