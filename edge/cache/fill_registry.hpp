#pragma once
// Request collapsing (a "cache lock"): the first miss for a key becomes the leader and fetches;
// concurrent misses for the same key wait for its result instead of going to the origin too.
// A leader's response that turns out uncacheable releases the waiters to fetch on their own and
// marks the key hit-for-pass for a while, so later misses do not queue behind one another.
// Thread-safe: waiters may live on other workers; each is woken on its own executor.
#include "common/clock.hpp"
#include "edge/storage/cached_object.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace cdn::edge::cache {

class FillRegistry {
  public:
    struct Fill;  // one in-flight origin fetch

    // What waiters get: the stored entry, or, while the body is still arriving, the response's
    // head object and the body stream being filled (opaque here; the pipeline owns its type).
    struct Result {
        storage::ObjectPtr object;
        std::shared_ptr<const void> stream;
        explicit operator bool() const { return object != nullptr; }
    };

    // What a miss should do.
    struct Ticket {
        enum class Role { leader, follower, pass } role;
        std::shared_ptr<Fill> fill;  // set for leader and follower
    };

    // now is used only for the hit-for-pass expiry.
    Ticket join(const std::string& key, TimePoint now);

    // Leader: hand waiters (present and future, until finish) a result early, e.g. the head and
    // the body stream as soon as the response turns out cacheable. Only the first publish counts.
    static void publish(const std::shared_ptr<Fill>& fill, Result result);

    // Leader: the fill is over. Publishes `result` unless something was published already
    // (an empty result releases the waiters to fetch on their own), and removes the key. With
    // hit_for_pass > 0 the key bypasses collapsing until now + it.
    void finish(const std::string& key, const std::shared_ptr<Fill>& fill, Result result,
                TimePoint now, Seconds hit_for_pass);

    // Follower: waits (at most timeout) for the leader's result; empty when the follower should
    // fetch on its own (uncacheable, failed leader, or timeout).
    static boost::asio::awaitable<Result> wait(std::shared_ptr<Fill> fill,
                                               std::chrono::milliseconds timeout);

    std::size_t inflight() const;

  private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
    std::unordered_map<std::string, TimePoint> pass_until_;
};

// Finishes a leader's fill with "nothing stored" unless finished explicitly, so a leader that
// fails or is destroyed never leaves its key locked.
class FillGuard {
  public:
    FillGuard(FillRegistry& registry, std::string key, std::shared_ptr<FillRegistry::Fill> fill,
              const Clock& clock)
        : registry_(registry), key_(std::move(key)), fill_(std::move(fill)), clock_(clock) {}
    ~FillGuard() {
        if (fill_) registry_.finish(key_, fill_, {}, clock_.now(), Seconds(0));
    }
    FillGuard(const FillGuard&) = delete;
    FillGuard& operator=(const FillGuard&) = delete;

    void publish(FillRegistry::Result result) { FillRegistry::publish(fill_, std::move(result)); }
    void finish(FillRegistry::Result result, Seconds hit_for_pass) {
        registry_.finish(key_, fill_, std::move(result), clock_.now(), hit_for_pass);
        fill_.reset();
    }

  private:
    FillRegistry& registry_;
    std::string key_;
    std::shared_ptr<FillRegistry::Fill> fill_;
    const Clock& clock_;
};

}  // namespace cdn::edge::cache
