#include "edge/cache/vary.hpp"

#include <algorithm>
#include <array>

namespace cdn::edge::cache {

VaryFields parse_vary(std::string_view value) {
    VaryFields v;
    http_util::for_each_element(value, [&](std::string_view name) {
        if (name == "*") {
            v.star = true;
            return false;
        }
        std::string lower(name);
        for (char& c : lower)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (std::find(v.names.begin(), v.names.end(), lower) == v.names.end())
            v.names.push_back(std::move(lower));
        return true;
    });
    return v;
}

std::string normalize_accept_encoding(std::string_view value) {
    static constexpr std::array<std::string_view, 4> kKnown = {"br", "deflate", "gzip", "zstd"};
    std::array<bool, 4> accepted{};
    http_util::for_each_element(value, [&](std::string_view coding) {
        std::string_view name = coding.substr(0, coding.find(';'));
        name = http_util::trim(name);
        // "q=0" means "not acceptable".
        if (const auto semi = coding.find(';'); semi != std::string_view::npos) {
            std::string_view params = coding.substr(semi + 1);
            params = http_util::trim(params);
            if (params.starts_with("q=0") &&
                params.find_first_not_of("0.", 2) == std::string_view::npos)
                return true;
        }
        for (std::size_t i = 0; i < kKnown.size(); ++i)
            if (http_util::iequals(name, kKnown[i]) || (name == "*" && kKnown[i] == "gzip"))
                accepted[i] = true;
        return true;
    });
    std::string out;
    for (std::size_t i = 0; i < kKnown.size(); ++i) {
        if (!accepted[i]) continue;
        if (!out.empty()) out.push_back(',');
        out.append(kKnown[i]);
    }
    return out;
}

}  // namespace cdn::edge::cache
