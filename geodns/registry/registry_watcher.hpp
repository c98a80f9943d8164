#pragma once
// geodns' link to purge_api's fleet registry ([registry]): long-polls
// GET /v1/registry?after=V&wait=MS, which purge_api answers as soon as the registry changes, and
// hands every new listing to on_change (main merges it into the fleet and publishes a new
// generation, as a SIGHUP reload does). When purge_api is unreachable the last listing stays in
// force (nothing is called); losing and regaining the registry are logged once each. After a
// failure the next request asks for the listing at once (no `after`), so a purge_api restarted
// with a fresh registry is picked up without waiting for a long poll to run out.
//
// Several URLs (purge_api instances sharing the registry through etcd): one at a time; when it
// fails, the next at once (with the whole listing: versions are per instance), and only after
// every URL failed in a row does the backoff apply.
//
// Threading: the coroutine and on_change run on the given executor (geodns: worker 0, where
// reloads run too); connected() may be read from any thread.
#include "common/registration.hpp"
#include "geodns/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>

namespace cdn::geodns {

class RegistryWatcher : public std::enable_shared_from_this<RegistryWatcher> {
  public:
    using OnChange = std::function<void(const registration::RegistryListing&)>;
    RegistryWatcher(boost::asio::any_io_executor executor, RegistrySettings settings,
                    OnChange on_change);
    void start();
    void stop();  // from the executor's thread
    bool connected() const { return connected_.load(); }

  private:
    boost::asio::awaitable<void> run(std::shared_ptr<RegistryWatcher> self);

    boost::asio::any_io_executor executor_;
    RegistrySettings settings_;
    OnChange on_change_;
    boost::asio::steady_timer timer_;
    bool stopping_ = false;
    std::size_t index_ = 0;          // the URL in use
    std::size_t failed_in_row_ = 0;  // URLs that failed since the last listing
    std::atomic<bool> connected_{false};
};

}  // namespace cdn::geodns
