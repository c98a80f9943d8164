#include "geodns/registry/registry_watcher.hpp"

#include "common/http_call.hpp"
#include "common/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <optional>

namespace cdn::geodns {

namespace asio = boost::asio;
using namespace std::chrono_literals;

RegistryWatcher::RegistryWatcher(asio::any_io_executor executor, RegistrySettings settings,
                                 OnChange on_change)
    : executor_(std::move(executor)),
      settings_(std::move(settings)),
      on_change_(std::move(on_change)),
      timer_(executor_) {}

void RegistryWatcher::start() {
    asio::co_spawn(executor_, run(shared_from_this()), asio::detached);
}

void RegistryWatcher::stop() {
    stopping_ = true;
    timer_.cancel();
}

asio::awaitable<void> RegistryWatcher::run(std::shared_ptr<RegistryWatcher>) {
    std::optional<std::uint64_t> known;  // the version of the listing in force
    std::chrono::milliseconds backoff = 500ms;
    bool ever = false, lost_logged = false;
    std::size_t last_count = 0;
    while (!stopping_) {
        HttpCall call;
        call.bearer = settings_.token;
        call.target =
            known ? fmt::format("/v1/registry?after={}&wait={}", *known, settings_.wait.count())
                  : std::string("/v1/registry");
        call.timeout = settings_.wait + 5s;
        const std::string& url = settings_.urls[index_];
        HttpCallResult r =
            co_await http_call(executor_, settings_.apis[index_], settings_.tls[index_], call);
        if (stopping_) break;
        std::string problem;
        std::optional<registration::RegistryListing> listing;
        if (!r.ok()) {
            problem = r.error;
        } else if (r.status != 200) {
            problem = fmt::format("{} answered {}: {}", url, r.status,
                                  registration::error_message(r.body));
        } else {
            auto parsed = registration::parse_listing(r.body);
            if (auto* e = std::get_if<std::string>(&parsed))
                problem = fmt::format("{}: unreadable listing: {}", url, *e);
            else
                listing = std::move(std::get<registration::RegistryListing>(parsed));
        }
        if (!listing && settings_.urls.size() > 1) {
            // Several instances share the registry: the next one, at once for the first pass
            // through the list (a version belongs to the instance it came from: ask it for the
            // whole listing).
            index_ = (index_ + 1) % settings_.urls.size();
            known.reset();
            if (++failed_in_row_ <= settings_.urls.size())
                log_warn("geodns: registry {}: {}; trying {}", url, problem,
                         settings_.urls[index_]);
            if (failed_in_row_ < settings_.urls.size()) continue;
        }
        if (!listing) {
            if (!lost_logged) {
                log_warn(
                    "geodns: registry {}: {}; keeping the {} fleet ({} registered edge(s)) "
                    "and retrying",
                    url, problem, ever ? "last known" : "static", last_count);
                lost_logged = true;
            }
            connected_ = false;
            known.reset();  // ask for the whole listing once it answers again
            timer_.expires_after(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            boost::system::error_code ec;
            co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        backoff = 500ms;
        const bool moved = failed_in_row_ > 0;
        failed_in_row_ = 0;
        if ((!connected_.exchange(true) && (lost_logged || !ever)) || moved)
            log_info("geodns: registry {}: connected, version {}, {} registered edge(s)", url,
                     listing->version, listing->edges.size());
        lost_logged = false;
        if (!known || listing->version != *known || !ever) {
            known = listing->version;
            last_count = listing->edges.size();
            ever = true;
            on_change_(*listing);
        }
    }
    connected_ = false;
}

}  // namespace cdn::geodns
