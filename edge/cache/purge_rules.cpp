#include "edge/cache/purge_rules.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

namespace cdn::edge::cache {

namespace {

constexpr std::size_t kMaxValue = purge::kMaxValueLength;

struct KeyParts {
    std::string_view host;
    std::string_view path;  // path and query
};

// "scheme://host/path?query" -> host, "/path?query".
KeyParts split_key(std::string_view key) {
    const auto sep = key.find("://");
    if (sep == std::string_view::npos) return {};
    key.remove_prefix(sep + 3);
    const auto slash = key.find_first_of("/?");
    if (slash == std::string_view::npos) return {key, "/"};
    return {key.substr(0, slash), key.substr(slash)};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

std::string host_of(std::string_view scheme, std::string_view host) {
    // Lower-cased, without the default port of either scheme.
    return normalize_host("http", normalize_host("https", normalize_host(scheme, host)));
}

}  // namespace

std::optional<std::string> normalize(PurgeRequest& r, const KeyPolicy& policy) {
    if (r.kind == PurgeKind::everything) {
        r.values.clear();
        return std::nullopt;
    }
    if (r.values.empty()) return std::string("no values to purge");
    std::vector<std::string> out;
    for (const std::string& v : r.values) {
        if (v.empty() || v.size() > kMaxValue)
            return "a value is empty or longer than " + std::to_string(kMaxValue) + " bytes";
        switch (r.kind) {
            case PurgeKind::files: {
                const auto sep = v.find("://");
                const std::string scheme = sep == std::string::npos ? "" : lower(v.substr(0, sep));
                if (scheme != "http" && scheme != "https")
                    return "\"" + v + "\" is not an http:// or https:// URL";
                const std::string_view rest = std::string_view(v).substr(sep + 3);
                const auto slash = rest.find_first_of("/?");
                const std::string_view host = rest.substr(0, slash);
                if (host.empty()) return "\"" + v + "\" has no host";
                const std::string target =
                    slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
                const std::string h = host_of(scheme, host);
                // The user purges the URL they see; the edge may have cached it under either.
                out.push_back(make_cache_key("http", h, target, policy));
                out.push_back(make_cache_key("https", h, target, policy));
                break;
            }
            case PurgeKind::prefixes: {
                std::string_view rest = v;
                std::string scheme = "http";
                if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
                    scheme = lower(rest.substr(0, sep));
                    rest.remove_prefix(sep + 3);
                }
                const auto slash = rest.find('/');
                const std::string_view host = rest.substr(0, slash);
                if (host.empty()) return "\"" + v + "\" has no host";
                const std::string path =
                    slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
                out.push_back(host_of(scheme, host) + path);
                break;
            }
            case PurgeKind::hosts:
                if (v.find_first_of("/ ") != std::string::npos)
                    return "\"" + v + "\" is not a host name";
                out.push_back(host_of("http", v));
                break;
            case PurgeKind::tags:
                if (v.find_first_of(" ,\t\r\n") != std::string::npos)
                    return "tag \"" + v + "\" contains a separator";
                out.push_back(v);
                break;
            case PurgeKind::everything: break;
        }
    }
    r.values = std::move(out);
    return std::nullopt;
}

std::vector<std::string_view> object_tags(const storage::CachedObject& obj) {
    std::vector<std::string_view> tags;
    auto split = [&](std::string_view list, std::string_view seps) {
        while (!list.empty()) {
            const auto start = list.find_first_not_of(seps);
            if (start == std::string_view::npos) break;
            list.remove_prefix(start);
            const auto end = list.find_first_of(seps);
            tags.push_back(list.substr(0, end));
            if (end == std::string_view::npos) break;
            list.remove_prefix(end);
        }
    };
    split(obj.field("surrogate-key"), " \t");
    split(obj.field("cache-tag"), ", \t");
    return tags;
}

void PurgeRules::judge(const Floors& f, std::uint64_t seq, PurgeVerdict& v) {
    if (seq < f.hard)
        v = PurgeVerdict::hard;
    else if (seq < f.soft && v == PurgeVerdict::none)
        v = PurgeVerdict::soft;
}

void PurgeRules::update_active() {
    active_.store(!everything_.empty() || time_floor_ms_ != 0 || !keys_.empty() ||
                      !hosts_.empty() || !prefixes_.empty() || !tags_.empty(),
                  std::memory_order_release);
}

void PurgeRules::add(const PurgeRequest& r, std::uint64_t floor) {
    std::unique_lock lock(mu_);
    switch (r.kind) {
        case PurgeKind::everything: everything_.raise(floor, r.soft); break;
        case PurgeKind::files:
            for (const auto& v : r.values)
                keys_[v].raise(floor, r.soft);
            break;
        case PurgeKind::hosts:
            for (const auto& v : r.values)
                hosts_[v].raise(floor, r.soft);
            break;
        case PurgeKind::tags:
            for (const auto& v : r.values)
                tags_[v].raise(floor, r.soft);
            break;
        case PurgeKind::prefixes:
            for (const auto& v : r.values) {
                const auto slash = v.find('/');
                auto& rules = prefixes_[v.substr(0, slash)];
                const std::string path = slash == std::string::npos ? "/" : v.substr(slash);
                auto it = std::find_if(rules.begin(), rules.end(),
                                       [&](const PathRule& p) { return p.prefix == path; });
                if (it == rules.end()) it = rules.insert(rules.end(), PathRule{path, {}});
                it->floors.raise(floor, r.soft);
            }
            break;
    }
    update_active();
}

void PurgeRules::add_time_floor(std::int64_t ms) {
    std::unique_lock lock(mu_);
    time_floor_ms_ = std::max(time_floor_ms_, ms);
    update_active();
}

std::int64_t PurgeRules::time_floor() const {
    std::shared_lock lock(mu_);
    return time_floor_ms_;
}

PurgeVerdict PurgeRules::check(const storage::CachedObject& obj) const {
    if (empty()) return PurgeVerdict::none;
    std::shared_lock lock(mu_);
    PurgeVerdict v = PurgeVerdict::none;
    if (time_floor_ms_ != 0 && std::chrono::duration_cast<std::chrono::milliseconds>(
                                   obj.meta.response_time.time_since_epoch())
                                       .count() < time_floor_ms_)
        return PurgeVerdict::hard;
    judge(everything_, obj.seq, v);
    if (auto it = keys_.find(obj.key()); it != keys_.end()) judge(it->second, obj.seq, v);
    const KeyParts k = split_key(obj.key());
    if (!hosts_.empty())
        if (auto it = hosts_.find(k.host); it != hosts_.end()) judge(it->second, obj.seq, v);
    if (!prefixes_.empty())
        if (auto it = prefixes_.find(k.host); it != prefixes_.end())
            for (const PathRule& p : it->second)
                if (k.path.starts_with(p.prefix)) judge(p.floors, obj.seq, v);
    if (!tags_.empty() && v != PurgeVerdict::hard)
        for (std::string_view t : object_tags(obj))
            if (auto it = tags_.find(t); it != tags_.end()) judge(it->second, obj.seq, v);
    return v;
}

std::size_t PurgeRules::retire(std::uint64_t min_seq) {
    std::unique_lock lock(mu_);
    std::size_t n = 0;
    auto lower_floors = [min_seq](Floors& f) {
        if (f.hard <= min_seq) f.hard = 0;
        if (f.soft <= min_seq) f.soft = 0;
        return f.empty();
    };
    auto sweep = [&](auto& map) {
        n += boost::unordered::erase_if(map, [&](auto& kv) { return lower_floors(kv.second); });
    };
    lower_floors(everything_);
    sweep(keys_);
    sweep(hosts_);
    sweep(tags_);
    boost::unordered::erase_if(prefixes_, [&](auto& kv) {
        n += static_cast<std::size_t>(
            std::erase_if(kv.second, [&](PathRule& p) { return lower_floors(p.floors); }));
        return kv.second.empty();
    });
    update_active();
    return n;
}

std::size_t PurgeRules::size() const {
    std::shared_lock lock(mu_);
    std::size_t n = keys_.size() + hosts_.size() + tags_.size() + (everything_.empty() ? 0 : 1);
    for (const auto& [h, rules] : prefixes_)
        n += rules.size();
    return n;
}

std::vector<PurgeRules::Saved> PurgeRules::snapshot() const {
    std::shared_lock lock(mu_);
    std::vector<Saved> out;
    auto emit = [&](PurgeKind kind, const std::string& value, const Floors& f) {
        for (bool soft : {false, true}) {
            const std::uint64_t floor = soft ? f.soft : f.hard;
            if (floor == 0) continue;
            Saved s;
            s.request.kind = kind;
            if (kind != PurgeKind::everything) s.request.values = {value};
            s.request.soft = soft;
            s.floor = floor;
            out.push_back(std::move(s));
        }
    };
    emit(PurgeKind::everything, "", everything_);
    for (const auto& [k, f] : keys_)
        emit(PurgeKind::files, k, f);
    for (const auto& [k, f] : hosts_)
        emit(PurgeKind::hosts, k, f);
    for (const auto& [k, f] : tags_)
        emit(PurgeKind::tags, k, f);
    for (const auto& [h, rules] : prefixes_)
        for (const PathRule& p : rules)
            emit(PurgeKind::prefixes, h + p.prefix, p.floors);
    return out;
}

}  // namespace cdn::edge::cache
