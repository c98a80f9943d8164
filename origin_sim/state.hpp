#pragma once
// The simulator's mutable state: request counters and object versions ("deploys"). Every method
// is thread-safe (one mutex; the simulator is a test tool, not a benchmark target).
#include "common/clock.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::origin_sim {

class SimState {
  public:
    // start: the process start time; truncated to whole seconds, it is the modification base of
    // every object still at its first version.
    explicit SimState(TimePoint start);

    struct Version {
        std::uint64_t version = 1;  // object version + global version: feeds the body and ETag
        TimePoint base;             // when this version appeared (whole seconds)
    };
    Version version_of(std::string_view identity) const;

    // Sets the version of one identity (v >= 1), or bumps it by one when v is empty. The new
    // base is now (whole seconds), and always later than the previous base so Last-Modified
    // moves on every deploy. Returns the object's own version (without the global one).
    std::uint64_t set_version(std::string_view identity, std::optional<std::uint64_t> v,
                              TimePoint now);
    // Bumps the global version added to every object's version (a full deploy); returns it.
    std::uint64_t bump_global(TimePoint now);
    std::uint64_t global_version() const;

    void count_request(std::string_view target);
    // Requests by method ("GET", "HEAD", ...), to tell a HEAD revalidation from a GET.
    void count_method(std::string_view method);
    void count_not_modified(std::string_view target);
    // A completed TLS handshake (--tls-listen); resumed: an abbreviated one (session reuse).
    void count_tls_handshake(bool resumed);
    void reset_counters();

    using CountMap = std::map<std::string, std::uint64_t, std::less<>>;
    struct Counts {
        std::uint64_t total = 0;
        CountMap targets;
        CountMap not_modified;
        CountMap methods;
        std::uint64_t tls_handshakes = 0;  // completed TLS handshakes (one per TLS connection)
        std::uint64_t tls_resumed = 0;     // of which resumed a session
    };
    Counts counts() const;
    // Requests and 304s counted for one target.
    std::pair<std::uint64_t, std::uint64_t> counts_for(std::string_view target) const;

  private:
    struct Entry {
        std::uint64_t version = 1;
        TimePoint base;
    };

    mutable std::mutex mu_;
    TimePoint start_;
    std::uint64_t global_ = 0;
    TimePoint global_base_;
    std::map<std::string, Entry, std::less<>> versions_;
    Counts counts_;
};

}  // namespace cdn::origin_sim
