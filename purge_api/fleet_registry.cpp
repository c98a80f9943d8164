#include "purge_api/fleet_registry.hpp"

#include "common/log.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace cdn::purge_api {
namespace json = boost::json;

namespace {

std::string utc_ms(std::int64_t ms) {
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

// Writes `content` to `path` atomically: tmp file, fsync, rename, fsync of the directory.
// Returns an error message, or "" on success.
std::string write_atomically(const std::filesystem::path& path, const std::string& content) {
    const std::filesystem::path tmp = path.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fmt::format("{}: {}", tmp.string(), std::strerror(errno));
    std::size_t off = 0;
    while (off < content.size()) {
        const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::string e = std::strerror(errno);
            ::close(fd);
            return fmt::format("{}: write: {}", tmp.string(), e);
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const std::string e = std::strerror(errno);
        ::close(fd);
        return fmt::format("{}: fsync: {}", tmp.string(), e);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return fmt::format("{}: rename: {}", path.string(), std::strerror(errno));
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return "";
}

}  // namespace

std::string describe_holder(const RegisteredEdge& e) {
    std::string out = fmt::format("instance {} (http {}", e.reg.instance, e.reg.http);
    if (!e.reg.ipv4.empty()) out += fmt::format(", ipv4 {}", fmt::join(e.reg.ipv4, " "));
    if (!e.reg.ipv6.empty()) out += fmt::format(", ipv6 {}", fmt::join(e.reg.ipv6, " "));
    if (!e.reg.region.empty()) out += fmt::format(", region {}", e.reg.region);
    out += fmt::format(", registered since {})", utc_ms(e.registered_ms));
    return out;
}

FleetRegistry::FleetRegistry(const Clock& clock, FleetRegistryOptions options)
    : clock_(clock), options_(std::move(options)) {}

std::int64_t FleetRegistry::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

std::optional<std::string> FleetRegistry::load() {
    if (options_.file.empty()) return std::nullopt;
    std::error_code fec;
    if (!std::filesystem::exists(options_.file, fec)) return std::nullopt;
    std::ifstream in(options_.file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return fmt::format("{}: cannot be read", options_.file.string());
    boost::system::error_code ec;
    const json::value v = json::parse(ss.str(), ec);
    auto corrupt = [&](const std::string& why) {
        return fmt::format("{}: {}; starting with an empty registry (edges register again)",
                           options_.file.string(), why);
    };
    if (ec) return corrupt("not JSON: " + ec.message());
    if (!v.is_object()) return corrupt("not a JSON object");
    const json::object& o = v.get_object();
    const json::value* ver = o.if_contains("version");
    const json::value* edges = o.if_contains("edges");
    if (!ver || !ver->is_number() || !edges || !edges->is_array())
        return corrupt("expected {\"version\":N,\"edges\":[...]}");
    std::map<std::string, RegisteredEdge, std::less<>> loaded;
    const std::int64_t now = now_ms();
    for (const json::value& e : edges->get_array()) {
        if (!e.is_object()) return corrupt("an entry is not an object");
        auto r = registration::registration_from_json(e.get_object());
        if (auto* err = std::get_if<std::string>(&r)) return corrupt(*err);
        RegisteredEdge re;
        re.reg = std::move(std::get<Registration>(r));
        const json::value* since = e.get_object().if_contains("registered_ms");
        re.registered_ms = since && since->is_int64() ? since->get_int64() : now;
        re.renewed_ms = now;
        re.expires_ms = now + options_.lease_ttl.count();
        loaded[re.reg.id] = std::move(re);
    }
    std::lock_guard lk(mu_);
    edges_ = std::move(loaded);
    // Past the stored version, so a reader that saw the old one sees a change.
    version_ = ver->to_number<std::uint64_t>() + 1;
    return std::nullopt;
}

void FleetRegistry::persist_locked() {
    if (options_.file.empty()) return;
    json::object o;
    o["version"] = version_;
    json::array a;
    for (const auto& [id, e] : edges_) {
        json::object eo = registration::to_json(e.reg);
        eo["registered_ms"] = e.registered_ms;
        a.push_back(std::move(eo));
    }
    o["edges"] = std::move(a);
    const std::string problem = write_atomically(options_.file, json::serialize(o) + "\n");
    if (!problem.empty()) {
        if (!std::exchange(persist_failed_, true))
            log_warn("registry: cannot save {}: {} (the registry lives on in memory)",
                     options_.file.string(), problem);
    } else if (std::exchange(persist_failed_, false)) {
        log_info("registry: saved {} again", options_.file.string());
    }
}

void FleetRegistry::changed_locked(std::vector<std::shared_ptr<StreamWaker>>& wake) {
    ++version_;
    persist_locked();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (auto w = it->lock()) {
            wake.push_back(std::move(w));
            ++it;
        } else {
            it = waiters_.erase(it);
        }
    }
}

void FleetRegistry::wake(std::vector<std::shared_ptr<StreamWaker>>& wakers) {
    for (auto& w : wakers)
        w->wake();
}

bool FleetRegistry::sweep_locked(std::int64_t now) {
    bool any = false;
    for (auto it = edges_.begin(); it != edges_.end();) {
        if (it->second.expires_ms <= now) {
            log_info("registry: {} lapsed ({}; last renewed {} ms ago)", it->first,
                     describe_holder(it->second), now - it->second.renewed_ms);
            ++expires_;
            it = edges_.erase(it);
            any = true;
        } else {
            ++it;
        }
    }
    return any;
}

FleetRegistry::PutResult FleetRegistry::put(const Registration& r) {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    PutResult out;
    std::optional<RegisteredEdge> shared;
    {
        std::lock_guard lk(mu_);
        const std::int64_t now = now_ms();
        bool changed = sweep_locked(now);
        auto it = edges_.find(r.id);
        if (it == edges_.end()) {
            RegisteredEdge e{r, now, now, now + options_.lease_ttl.count()};
            edges_.emplace(r.id, std::move(e));
            out.outcome = PutOutcome::registered;
            ++registers_;
            changed = true;
            log_info("registry: {} registered: {}", r.id, describe_holder(edges_.at(r.id)));
        } else if (it->second.reg.instance != r.instance && !it->second.reg.same_addresses(r)) {
            out.outcome = PutOutcome::refused;
            out.holder = it->second;
            ++refused_;
        } else {
            RegisteredEdge& e = it->second;
            e.renewed_ms = now;
            e.expires_ms = now + options_.lease_ttl.count();
            if (e.reg.instance != r.instance) {
                out.outcome = PutOutcome::taken_over;
                log_info("registry: {} taken over by instance {} (the same addresses; was {})",
                         r.id, r.instance, e.reg.instance);
                e.reg = r;
                e.registered_ms = now;
                ++registers_;
                changed = true;
            } else if (!(e.reg == r)) {
                out.outcome = PutOutcome::updated;
                e.reg = r;
                ++registers_;
                changed = true;
            } else {
                out.outcome = PutOutcome::renewed;
                ++renews_;
            }
        }
        if (changed) changed_locked(wakers);
        out.version = version_;
        if (out.outcome != PutOutcome::refused) shared = edges_.at(r.id);
    }
    wake(wakers);
    if (shared && replica_.put) replica_.put(*shared);
    return out;
}

FleetRegistry::RenewResult FleetRegistry::heartbeat(std::string_view id,
                                                    std::string_view instance) {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    RenewResult out;
    std::optional<RegisteredEdge> shared;
    {
        std::lock_guard lk(mu_);
        const std::int64_t now = now_ms();
        const bool changed = sweep_locked(now);
        auto it = edges_.find(id);
        if (it == edges_.end()) {
            out.outcome = RenewOutcome::unknown;
        } else if (it->second.reg.instance != instance) {
            out.outcome = RenewOutcome::other_instance;
            out.holder = it->second;
        } else {
            it->second.renewed_ms = now;
            it->second.expires_ms = now + options_.lease_ttl.count();
            out.outcome = RenewOutcome::renewed;
            ++renews_;
            shared = it->second;
        }
        if (changed) changed_locked(wakers);
        out.version = version_;
    }
    wake(wakers);
    if (shared && replica_.put) replica_.put(*shared);
    return out;
}

FleetRegistry::RenewResult FleetRegistry::remove(std::string_view id, std::string_view instance) {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    RenewResult out;
    {
        std::lock_guard lk(mu_);
        bool changed = sweep_locked(now_ms());
        auto it = edges_.find(id);
        if (it == edges_.end()) {
            out.outcome = RenewOutcome::unknown;
        } else if (it->second.reg.instance != instance) {
            out.outcome = RenewOutcome::other_instance;
            out.holder = it->second;
        } else {
            log_info("registry: {} deregistered (instance {})", it->first, instance);
            edges_.erase(it);
            out.outcome = RenewOutcome::renewed;
            ++deregisters_;
            changed = true;
        }
        if (changed) changed_locked(wakers);
        out.version = version_;
    }
    wake(wakers);
    if (out.outcome == RenewOutcome::renewed && replica_.removed) replica_.removed(std::string(id));
    return out;
}

void FleetRegistry::set_replica(Replica r) {
    std::lock_guard lk(mu_);
    replica_ = std::move(r);
}

void FleetRegistry::merge(const RegisteredEdge& e) {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    {
        std::lock_guard lk(mu_);
        const std::int64_t now = now_ms();
        bool changed = sweep_locked(now);
        if (e.expires_ms > now) {
            auto it = edges_.find(e.reg.id);
            if (it == edges_.end()) {
                edges_.emplace(e.reg.id, e);
                log_info("registry: {} registered on another instance: {}", e.reg.id,
                         describe_holder(e));
                changed = true;
            } else if (it->second.reg.instance == e.reg.instance) {
                if (e.renewed_ms >= it->second.renewed_ms) {
                    changed = changed || !(it->second.reg == e.reg);
                    it->second = e;
                }
            } else if (e.registered_ms >= it->second.registered_ms) {
                log_info("registry: {} taken over by instance {} on another instance (was {})",
                         e.reg.id, e.reg.instance, it->second.reg.instance);
                it->second = e;
                changed = true;
            }
        }
        if (changed) changed_locked(wakers);
    }
    wake(wakers);
}

void FleetRegistry::merge_removed(std::string_view id) {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    {
        std::lock_guard lk(mu_);
        bool changed = sweep_locked(now_ms());
        if (const auto it = edges_.find(id); it != edges_.end()) {
            log_info("registry: {} deregistered on another instance", it->first);
            edges_.erase(it);
            changed = true;
        }
        if (changed) changed_locked(wakers);
    }
    wake(wakers);
}

std::string FleetRegistry::encode(const RegisteredEdge& e) const {
    RegistryListing one;
    one.lease_ttl_ms = options_.lease_ttl.count();
    one.edges.push_back(e);
    return json::serialize(registration::to_json(one, e.renewed_ms));
}

std::optional<RegisteredEdge> FleetRegistry::decode(std::string_view value) {
    auto parsed = registration::parse_listing(value);
    auto* l = std::get_if<RegistryListing>(&parsed);
    if (!l || l->edges.size() != 1) return std::nullopt;
    return std::move(l->edges.front());
}

RegistryListing FleetRegistry::list() {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    RegistryListing out;
    {
        std::lock_guard lk(mu_);
        if (sweep_locked(now_ms())) changed_locked(wakers);
        out.version = version_;
        out.lease_ttl_ms = options_.lease_ttl.count();
        out.edges.reserve(edges_.size());
        for (const auto& [id, e] : edges_)
            out.edges.push_back(e);
    }
    wake(wakers);
    return out;
}

std::size_t FleetRegistry::sweep() {
    std::vector<std::shared_ptr<StreamWaker>> wakers;
    std::size_t before = 0, after = 0;
    {
        std::lock_guard lk(mu_);
        before = edges_.size();
        if (sweep_locked(now_ms())) changed_locked(wakers);
        after = edges_.size();
    }
    wake(wakers);
    return before - after;
}

std::uint64_t FleetRegistry::version() const {
    std::lock_guard lk(mu_);
    return version_;
}

std::size_t FleetRegistry::size() {
    sweep();
    std::lock_guard lk(mu_);
    return edges_.size();
}

std::optional<RegisteredEdge> FleetRegistry::held_by_other(std::string_view id,
                                                           std::string_view instance) {
    sweep();
    std::lock_guard lk(mu_);
    const auto it = edges_.find(id);
    if (it == edges_.end() || it->second.reg.instance == instance) return std::nullopt;
    return it->second;
}

void FleetRegistry::add_waiter(const std::shared_ptr<StreamWaker>& waker) {
    std::lock_guard lk(mu_);
    // Drop waiters that are gone, so the list stays as long as the live long polls.
    std::erase_if(waiters_, [](const std::weak_ptr<StreamWaker>& w) { return w.expired(); });
    waiters_.push_back(waker);
}

}  // namespace cdn::purge_api
