#include "purge_api/auth.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cdn::purge_api {

bool Token::covers_host(std::string_view host) const {
    if (all_hosts()) return true;
    return std::find(hosts.begin(), hosts.end(), host) != hosts.end();
}

const Token* TokenSet::find(std::string_view presented) const noexcept {
    const Token* found = nullptr;
    for (const Token& t : tokens_)
        if (constant_time_equal(t.value, presented) && !found) found = &t;
    return found;
}

std::optional<ApiError> authorize(const Token& token, const PurgeDraft& draft) {
    if (token.all_hosts()) return std::nullopt;
    if (draft.kind == PurgeKind::tags || draft.kind == PurgeKind::everything)
        return make_error(ApiErrc::forbidden,
                          fmt::format("token \"{}\" is limited to some hosts and may not purge {}",
                                      token.name, to_string(draft.kind)));
    for (const std::string& v : draft.values) {
        const std::string host = host_of_value(draft.kind, v);
        if (!token.covers_host(host))
            return make_error(ApiErrc::forbidden,
                              fmt::format("token \"{}\" may not purge host \"{}\"", token.name,
                                          host.substr(0, 255)));
    }
    return std::nullopt;
}

}  // namespace cdn::purge_api
