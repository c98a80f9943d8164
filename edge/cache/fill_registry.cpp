#include "edge/cache/fill_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cdn::edge::cache {

namespace asio = boost::asio;

struct FillRegistry::Fill {
    std::mutex mu;
    bool done = false;
    Result result;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
};

FillRegistry::Ticket FillRegistry::join(const std::string& key, TimePoint now) {
    std::lock_guard lock(mu_);
    if (auto p = pass_until_.find(key); p != pass_until_.end()) {
        if (now < p->second) return {Ticket::Role::pass, nullptr};
        pass_until_.erase(p);
    }
    auto [it, inserted] = fills_.try_emplace(key);
    if (inserted) {
        it->second = std::make_shared<Fill>();
        return {Ticket::Role::leader, it->second};
    }
    return {Ticket::Role::follower, it->second};
}

void FillRegistry::publish(const std::shared_ptr<Fill>& fill, Result result) {
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
    {
        std::lock_guard lock(fill->mu);
        if (fill->done) return;
        fill->done = true;
        fill->result = std::move(result);
        waiters.swap(fill->waiters);
    }
    // Each waiter's timer lives on its own worker: cancel it there, not from this thread.
    for (auto& t : waiters)
        asio::post(t->get_executor(), [t] { t->cancel(); });
}

void FillRegistry::finish(const std::string& key, const std::shared_ptr<Fill>& fill, Result result,
                          TimePoint now, Seconds hit_for_pass) {
    {
        std::lock_guard lock(mu_);
        if (auto it = fills_.find(key); it != fills_.end() && it->second == fill) fills_.erase(it);
        if (!result && hit_for_pass > Seconds(0)) pass_until_[key] = now + hit_for_pass;
        // Bound the hit-for-pass table: drop expired marks when it grows.
        if (pass_until_.size() > 100'000)
            std::erase_if(pass_until_, [now](const auto& e) { return e.second <= now; });
    }
    publish(fill, std::move(result));
}

asio::awaitable<FillRegistry::Result> FillRegistry::wait(std::shared_ptr<Fill> fill,
                                                         std::chrono::milliseconds timeout) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, timeout);
    {
        std::lock_guard lock(fill->mu);
        if (fill->done) co_return fill->result;
        fill->waiters.push_back(timer);
    }
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    std::lock_guard lock(fill->mu);
    // Woken (cancelled) by the leader, or timed out: either way, the result if there is one.
    if (fill->done) co_return fill->result;
    co_return Result{};
}

std::size_t FillRegistry::inflight() const {
    std::lock_guard lock(mu_);
    return fills_.size();
}

}  // namespace cdn::edge::cache
