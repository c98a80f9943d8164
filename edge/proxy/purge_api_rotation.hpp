#pragma once
// The purge_api instances an edge may use (several share one purge log, so any of them will do),
// and the failover rule the purge stream and the registrar share: one instance at a time; when
// it fails, the next in the list (round robin) at once; only once every instance has failed in
// a row does the caller back off before each further attempt, until a success starts a new
// pass. With one instance that is plain retrying with backoff.
#include "common/net.hpp"
#include "common/tls_client.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cdn::edge::proxy {

// One purge_api instance as the edge reaches it.
struct PurgeApiTarget {
    Url url;                                     // its base URL
    std::shared_ptr<const TlsClientConfig> tls;  // for https://; null for http://

    // "https://purge-1.example.com:8443" (with the path when it is not "/"): for logs and labels.
    std::string name() const {
        return fmt::format("{}://{}{}", url.scheme, url.authority(),
                           url.path == "/" ? "" : url.path);
    }
};

class PurgeApiRotation {
  public:
    // apis: at least one (the config checks it).
    explicit PurgeApiRotation(std::vector<PurgeApiTarget> apis) : apis_(std::move(apis)) {}

    const PurgeApiTarget& current() const { return apis_[index_]; }
    // The one failed() moves on to.
    const PurgeApiTarget& following() const { return apis_[(index_ + 1) % apis_.size()]; }
    std::size_t index() const { return index_; }
    std::size_t size() const { return apis_.size(); }
    const std::vector<PurgeApiTarget>& all() const { return apis_; }

    // The current instance failed: moves on to the next (the same one when there is only one).
    // True when the caller should back off before the next attempt: every instance has failed
    // in a row since the last success.
    bool failed() {
        ++failed_in_row_;
        index_ = (index_ + 1) % apis_.size();
        return failed_in_row_ >= apis_.size();
    }
    // The current instance worked: the next failure starts a new pass through the list.
    void succeeded() { failed_in_row_ = 0; }
    // Whether every instance has failed in a row (further failures back off).
    bool exhausted() const { return failed_in_row_ >= apis_.size(); }

  private:
    std::vector<PurgeApiTarget> apis_;
    std::size_t index_ = 0;
    std::size_t failed_in_row_ = 0;
};

}  // namespace cdn::edge::proxy
