#include "purge_api/prom_text.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace cdn::purge_api {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

void skip_space(std::string_view& s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
}

bool name_char(char c, bool first) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return alpha || (!first && c >= '0' && c <= '9');
}

// A metric or label name at the front of s (consumed); "" when there is none.
std::string_view take_name(std::string_view& s) {
    std::size_t n = 0;
    while (n < s.size() && name_char(s[n], n == 0))
        ++n;
    const std::string_view name = s.substr(0, n);
    s.remove_prefix(n);
    return name;
}

// A quoted label value at the front of s (after the opening quote), unescaped.
std::optional<std::string> take_quoted(std::string_view& s) {
    std::string out;
    while (!s.empty()) {
        const char c = s.front();
        s.remove_prefix(1);
        if (c == '"') return out;
        if (c == '\\') {
            if (s.empty()) return std::nullopt;
            const char e = s.front();
            s.remove_prefix(1);
            out.push_back(e == 'n' ? '\n' : e);  // \\ and \" stand for themselves
        } else {
            out.push_back(c);
        }
    }
    return std::nullopt;  // no closing quote
}

std::optional<double> parse_value(std::string_view v) {
    if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
    if (v == "-Inf") return -std::numeric_limits<double>::infinity();
    if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (v.starts_with('+')) v.remove_prefix(1);
    double d = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc{} || p != v.data() + v.size()) return std::nullopt;
    return d;
}

}  // namespace

std::optional<std::string_view> PromSample::label(std::string_view key) const {
    for (const auto& [k, v] : labels)
        if (k == key) return std::string_view(v);
    return std::nullopt;
}

std::optional<PromSample> parse_prom_line(std::string_view s) {
    skip_space(s);
    if (s.empty() || s.front() == '#') return std::nullopt;
    PromSample out;
    out.name = std::string(take_name(s));
    if (out.name.empty()) return std::nullopt;
    std::string_view after_name = s;
    skip_space(after_name);
    if (!after_name.empty() && after_name.front() == '{') {
        s = after_name;
        s.remove_prefix(1);
        for (;;) {
            skip_space(s);
            if (!s.empty() && s.front() == '}') {
                s.remove_prefix(1);
                break;
            }
            const std::string_view key = take_name(s);
            if (key.empty()) return std::nullopt;
            skip_space(s);
            if (s.empty() || s.front() != '=') return std::nullopt;
            s.remove_prefix(1);
            skip_space(s);
            if (s.empty() || s.front() != '"') return std::nullopt;
            s.remove_prefix(1);
            auto value = take_quoted(s);
            if (!value) return std::nullopt;
            out.labels.emplace_back(std::string(key), std::move(*value));
            skip_space(s);
            if (!s.empty() && s.front() == ',') {
                s.remove_prefix(1);
                continue;
            }
            if (s.empty() || s.front() != '}') return std::nullopt;
            s.remove_prefix(1);
            break;
        }
    }
    // The value, then an optional timestamp (ignored), then nothing.
    if (s.empty() || !is_space(s.front())) return std::nullopt;
    skip_space(s);
    std::size_t end = 0;
    while (end < s.size() && !is_space(s[end]))
        ++end;
    const auto v = parse_value(s.substr(0, end));
    if (!v) return std::nullopt;
    out.value = *v;
    s.remove_prefix(end);
    skip_space(s);
    if (!s.empty()) {
        std::int64_t ts = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), ts);
        if (ec != std::errc{}) return std::nullopt;
        s.remove_prefix(static_cast<std::size_t>(p - s.data()));
        skip_space(s);
        if (!s.empty()) return std::nullopt;
    }
    return out;
}

std::vector<PromSample> parse_prom_text(std::string_view text) {
    std::vector<PromSample> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        if (auto s = parse_prom_line(text.substr(0, nl))) out.push_back(std::move(*s));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

double EdgeMetrics::requests_total() const {
    double n = 0;
    for (const auto& [outcome, v] : requests)
        n += v;
    return n;
}

double EdgeMetrics::cacheable() const {
    double n = 0;
    for (const std::string_view o : {"hit", "miss", "expired", "revalidated", "stale"})
        if (auto it = requests.find(o); it != requests.end()) n += it->second;
    return n;
}

double EdgeMetrics::hits() const {
    const auto it = requests.find("hit");
    return it == requests.end() ? 0 : it->second;
}

EdgeMetrics edge_metrics(const std::vector<PromSample>& samples) {
    EdgeMetrics m;
    auto finite = [](double v) { return std::isfinite(v) ? v : 0.0; };
    for (const PromSample& s : samples) {
        const std::string_view n = s.name;
        const double v = finite(s.value);
        if (n == "cdn_edge_requests_total") {
            if (auto o = s.label("outcome")) m.requests[std::string(*o)] += v;
        } else if (n == "cdn_edge_cache_bytes" || n == "cdn_edge_cache_objects" ||
                   n == "cdn_edge_cache_capacity_bytes") {
            const auto tier = s.label("tier");
            if (!tier) continue;
            EdgeMetrics::Tier& t = m.tiers[std::string(*tier)];
            if (n == "cdn_edge_cache_bytes")
                t.bytes = v;
            else if (n == "cdn_edge_cache_objects")
                t.objects = v;
            else
                t.capacity_bytes = v;
        } else if (n == "cdn_edge_disk_degraded") {
            if (!m.disk) m.disk.emplace();
            m.disk->degraded = v != 0;
        } else if (n == "cdn_edge_disk_recovered_objects") {
            if (!m.disk) m.disk.emplace();
            m.disk->recovered_objects = v;
        } else if (n == "cdn_edge_disk_errors_total") {
            if (!m.disk) m.disk.emplace();
            m.disk->errors += v;
        } else if (n == "cdn_edge_parent_up") {
            m.parents.push_back({std::string(s.label("group").value_or("")),
                                 std::string(s.label("parent").value_or("")), v});
        } else if (n == "cdn_edge_registered") {
            m.registered = v;
        } else if (n == "cdn_edge_purge_last_seq") {
            m.purge_last_seq = v;
        } else if (n == "cdn_edge_purge_stream_connected") {
            m.purge_stream_connected = v;
        } else if (n == "cdn_edge_client_connections") {
            m.client_connections = v;
        }
    }
    return m;
}

}  // namespace cdn::purge_api
