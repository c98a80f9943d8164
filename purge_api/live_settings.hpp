#pragma once
// The configuration requests read, swapped whole on SIGHUP. A request takes one snapshot when it
// is read and uses it to the end (its tokens, limits and timeouts cannot change under it);
// the next request sees the newer one. Thread-safe: current() and publish() may race freely.
#include "purge_api/auth.hpp"
#include "purge_api/config.hpp"

#include <atomic>
#include <memory>

namespace cdn::purge_api {

// One consistent configuration and what is derived from it.
struct ApiSettings {
    explicit ApiSettings(ApiConfig c) : config(std::move(c)), tokens(config.tokens) {}
    ApiConfig config;
    TokenSet tokens;  // the admin tokens, for lookups
};
using SettingsPtr = std::shared_ptr<const ApiSettings>;

class LiveSettings {
  public:
    explicit LiveSettings(ApiConfig config)
        : current_(std::make_shared<const ApiSettings>(std::move(config))) {}
    LiveSettings(const LiveSettings&) = delete;
    LiveSettings& operator=(const LiveSettings&) = delete;

    SettingsPtr current() const noexcept { return current_.load(std::memory_order_acquire); }
    // Requests read after this see `config`; those in flight keep theirs.
    void publish(ApiConfig config) {
        current_.store(std::make_shared<const ApiSettings>(std::move(config)),
                       std::memory_order_release);
    }

  private:
    std::atomic<SettingsPtr> current_;
};

}  // namespace cdn::purge_api
