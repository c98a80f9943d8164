#include "edge/cache/cache_key.hpp"

#include <algorithm>

namespace cdn::edge::cache {
namespace {

bool param_dropped(std::string_view param, const KeyPolicy& policy) {
    const std::string_view name = param.substr(0, param.find('='));
    for (const std::string& rule : policy.drop_query_params) {
        if (!rule.empty() && rule.back() == '*') {
            if (name.substr(0, rule.size() - 1) ==
                std::string_view(rule).substr(0, rule.size() - 1))
                return true;
        } else if (name == rule) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string normalize_host(std::string_view scheme, std::string_view host) {
    std::string h(host);
    for (char& c : h)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    const std::string_view dflt = scheme == "https" ? ":443" : ":80";
    if (h.size() > dflt.size() && std::string_view(h).substr(h.size() - dflt.size()) == dflt)
        h.resize(h.size() - dflt.size());
    return h;
}

std::string make_cache_key(std::string_view scheme, std::string_view host, std::string_view target,
                           const KeyPolicy& policy) {
    std::string key;
    key.reserve(scheme.size() + 3 + host.size() + target.size());
    key.append(scheme).append("://").append(normalize_host(scheme, host));
    const auto q = target.find('?');
    key.append(target.substr(0, q));
    if (q == std::string_view::npos) return key;
    const std::string_view query = target.substr(q + 1);
    if (!policy.sort_query && policy.drop_query_params.empty()) {
        key.append(target.substr(q));
        return key;
    }
    std::vector<std::string_view> params;
    std::size_t start = 0;
    while (start <= query.size()) {
        const auto amp = query.find('&', start);
        const std::string_view p = query.substr(
            start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!p.empty() && !param_dropped(p, policy)) params.push_back(p);
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    if (policy.sort_query) std::stable_sort(params.begin(), params.end());
    for (std::size_t i = 0; i < params.size(); ++i)
        key.append(i == 0 ? "?" : "&").append(params[i]);
    return key;
}

}  // namespace cdn::edge::cache
