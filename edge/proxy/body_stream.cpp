#include "edge/proxy/body_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>

namespace cdn::edge::proxy {

namespace asio = boost::asio;

BodyStream::BodyStream(std::optional<std::uint64_t> length, InflightBudget::Reservation reservation)
    : reservation_(std::move(reservation)) {
    if (length) {
        buffer_ = Body::make_for_overwrite(static_cast<std::size_t>(*length));
        data_ = buffer_->data();
        capacity_ = *length;
    }
}

void BodyStream::wake() {
    // mu_ held. Each waiter's timer belongs to its reader's worker: cancel it there.
    for (auto& t : waiters_)
        asio::post(t->get_executor(), [t] { t->cancel(); });
    waiters_.clear();
}

std::span<char> BodyStream::space() {
    std::lock_guard lock(mu_);
    if (!data_ || finished_) return {};
    return {data_ + size_, static_cast<std::size_t>(capacity_ - size_)};
}

bool BodyStream::full() const {
    std::lock_guard lock(mu_);
    return data_ && !finished_ && size_ == capacity_;
}

bool BodyStream::commit(std::size_t n) {
    std::lock_guard lock(mu_);
    if (!data_ || finished_ || n > capacity_ - size_) return false;
    size_ += n;
    wake();
    return true;
}

bool BodyStream::append(std::string_view bytes) {
    std::lock_guard lock(mu_);
    if (finished_) return false;
    if (data_) {
        if (bytes.size() > capacity_ - size_) return false;
        std::memcpy(data_ + size_, bytes.data(), bytes.size());
    } else {
        starts_.push_back(size_);
        pieces_.push_back(new_body(bytes));
        reservation_.resize(size_ + bytes.size());
    }
    size_ += bytes.size();
    wake();
    return true;
}

void BodyStream::finish(bool complete) {
    std::unique_lock lock(mu_);
    if (finished_) return;
    if (complete && data_ && size_ != capacity_) complete = false;  // shorter than announced
    if (complete && !data_) {
        // Join the pieces into the one buffer the cache will hold, then let the pieces go:
        // readers find the same bytes at the same offsets. The join is not under the lock
        // (pieces are immutable and only this producer appends).
        auto pieces = pieces_;
        const std::uint64_t size = size_;
        lock.unlock();
        reservation_.resize(2 * size);  // both copies, for a moment
        auto joined = Body::make_for_overwrite(static_cast<std::size_t>(size));
        std::size_t at = 0;
        for (const auto& p : pieces) {
            std::memcpy(joined->data() + at, p->data(), p->size());
            at += p->size();
        }
        lock.lock();
        buffer_ = std::move(joined);
        data_ = buffer_->data();
        capacity_ = size;
        pieces_.clear();
        starts_.clear();
        reservation_.resize(size);
    }
    finished_ = true;
    complete_ = complete;
    wake();
}

BodyStream::Slice BodyStream::slice_at(std::uint64_t offset) const {
    if (data_) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size_ - offset, kMaxSlice));
        return {std::string_view(data_ + offset, n), buffer_};
    }
    // The piece holding offset: the last one starting at or before it.
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset) - 1;
    const auto& piece = pieces_[static_cast<std::size_t>(it - starts_.begin())];
    const std::string_view rest = std::string_view(*piece).substr(offset - *it);
    return {rest.substr(0, kMaxSlice), piece};
}

asio::awaitable<Result<BodyStream::Slice>> BodyStream::read(std::uint64_t offset,
                                                            std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::shared_ptr<asio::steady_timer> timer;
        {
            std::lock_guard lock(mu_);
            if (offset < size_) co_return slice_at(offset);
            if (finished_) {
                if (complete_) co_return Slice{};
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

BodyPtr BodyStream::whole() const {
    std::lock_guard lock(mu_);
    if (!finished_ || !complete_) return nullptr;
    return buffer_;
}

asio::awaitable<Result<std::string_view>> BodyStreamReader::next() {
    auto s = co_await stream_->read(offset_, timeout_);
    if (!s) co_return s.error();
    current_ = std::move(s->keep);
    offset_ += s->bytes.size();
    co_return s->bytes;
}

asio::awaitable<Result<std::string_view>> OriginBodySource::next() {
    constexpr std::size_t kRead = 64 * 1024;
    if (!buffer_) buffer_ = std::make_unique_for_overwrite<char[]>(kRead);
    auto n = co_await body_->read_some(buffer_.get(), kRead);
    if (!n) co_return n.error();
    co_return std::string_view(buffer_.get(), *n);
}

}  // namespace cdn::edge::proxy
