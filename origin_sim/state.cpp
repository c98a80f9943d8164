#include "origin_sim/state.hpp"

#include <algorithm>

namespace cdn::origin_sim {
namespace {

TimePoint whole_seconds(TimePoint t) {
    return std::chrono::floor<std::chrono::seconds>(t);
}

}  // namespace

SimState::SimState(TimePoint start) : start_(whole_seconds(start)), global_base_(start_) {}

SimState::Version SimState::version_of(std::string_view identity) const {
    std::lock_guard lock(mu_);
    Version v{1 + global_, std::max(start_, global_base_)};
    if (auto it = versions_.find(identity); it != versions_.end()) {
        v.version = it->second.version + global_;
        v.base = std::max(v.base, it->second.base);
    }
    return v;
}

std::uint64_t SimState::set_version(std::string_view identity, std::optional<std::uint64_t> v,
                                    TimePoint now) {
    std::lock_guard lock(mu_);
    auto it = versions_.find(identity);
    if (it == versions_.end())
        it = versions_.emplace(std::string(identity), Entry{1, start_}).first;
    Entry& e = it->second;
    const TimePoint previous = std::max({start_, global_base_, e.base});
    e.version = v ? *v : e.version + 1;
    e.base = std::max(whole_seconds(now), previous + std::chrono::seconds(1));
    return e.version;
}

std::uint64_t SimState::bump_global(TimePoint now) {
    std::lock_guard lock(mu_);
    TimePoint previous = std::max(start_, global_base_);
    for (const auto& [k, e] : versions_)
        previous = std::max(previous, e.base);
    ++global_;
    global_base_ = std::max(whole_seconds(now), previous + std::chrono::seconds(1));
    return global_;
}

std::uint64_t SimState::global_version() const {
    std::lock_guard lock(mu_);
    return global_;
}

void SimState::count_request(std::string_view target) {
    std::lock_guard lock(mu_);
    ++counts_.total;
    auto it = counts_.targets.find(target);
    if (it == counts_.targets.end())
        counts_.targets.emplace(std::string(target), 1);
    else
        ++it->second;
}

void SimState::count_method(std::string_view method) {
    std::lock_guard lock(mu_);
    auto it = counts_.methods.find(method);
    if (it == counts_.methods.end())
        counts_.methods.emplace(std::string(method), 1);
    else
        ++it->second;
}

void SimState::count_not_modified(std::string_view target) {
    std::lock_guard lock(mu_);
    auto it = counts_.not_modified.find(target);
    if (it == counts_.not_modified.end())
        counts_.not_modified.emplace(std::string(target), 1);
    else
        ++it->second;
}

void SimState::count_tls_handshake(bool resumed) {
    std::lock_guard lock(mu_);
    ++counts_.tls_handshakes;
    if (resumed) ++counts_.tls_resumed;
}

void SimState::reset_counters() {
    std::lock_guard lock(mu_);
    counts_ = Counts{};
}

SimState::Counts SimState::counts() const {
    std::lock_guard lock(mu_);
    return counts_;
}

std::pair<std::uint64_t, std::uint64_t> SimState::counts_for(std::string_view target) const {
    std::lock_guard lock(mu_);
    std::pair<std::uint64_t, std::uint64_t> r{0, 0};
    if (auto it = counts_.targets.find(target); it != counts_.targets.end()) r.first = it->second;
    if (auto it = counts_.not_modified.find(target); it != counts_.not_modified.end())
        r.second = it->second;
    return r;
}

}  // namespace cdn::origin_sim
