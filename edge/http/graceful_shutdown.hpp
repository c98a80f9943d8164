#pragma once
// A graceful-shutdown broadcast to the connections of a server. Sessions subscribe a wake-up
// when they start and unsubscribe when they end; trigger() runs every wake-up once, and a session
// that subscribes after trigger() is woken at once. What a session does when woken is its own:
// HTTP/1.1 closes an idle keep-alive connection and answers a request in flight with
// "Connection: close"; HTTP/2 sends GOAWAY and lets its streams finish.
//
// Thread-safe. The edge keeps one per worker (so connections on different workers never share
// its lock) and triggers them all on SIGTERM.
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace cdn::edge::http {

class GracefulShutdown {
  public:
    void trigger();

    // `wake` runs once, on trigger's thread (it must post to its own executor), or at once
    // (on the caller's thread) when already triggered. Returns an id for unsubscribe.
    std::uint64_t subscribe(std::function<void()> wake);
    void unsubscribe(std::uint64_t id);

  private:
    std::mutex mutex_;
    bool triggered_ = false;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::function<void()>> subscribers_;
};

}  // namespace cdn::edge::http
