#include "edge/http/graceful_shutdown.hpp"

#include <utility>

namespace cdn::edge::http {

void GracefulShutdown::trigger() {
    std::unordered_map<std::uint64_t, std::function<void()>> subs;
    {
        std::lock_guard lock(mutex_);
        if (triggered_) return;
        triggered_ = true;
        subs.swap(subscribers_);  // each wake-up runs once; unsubscribe then finds nothing
    }
    for (auto& [id, wake] : subs)
        wake();
}

std::uint64_t GracefulShutdown::subscribe(std::function<void()> wake) {
    std::unique_lock lock(mutex_);
    const std::uint64_t id = next_id_++;
    if (triggered_) {
        lock.unlock();
        wake();
        return id;
    }
    subscribers_.emplace(id, std::move(wake));
    return id;
}

void GracefulShutdown::unsubscribe(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    subscribers_.erase(id);
}

}  // namespace cdn::edge::http
