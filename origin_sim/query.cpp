#include "origin_sim/query.hpp"

namespace cdn::origin_sim {
namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

SplitTarget split_target(std::string_view target) noexcept {
    if (const auto hash = target.find('#'); hash != std::string_view::npos)
        target = target.substr(0, hash);
    const auto q = target.find('?');
    if (q == std::string_view::npos) return {target, {}};
    return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string url_encode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0xF]);
        }
    }
    return out;
}

std::vector<QueryParam> parse_query(std::string_view query) {
    std::vector<QueryParam> out;
    std::size_t start = 0;
    while (start <= query.size()) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        const std::string_view piece = query.substr(start, amp - start);
        start = amp + 1;
        if (piece.empty()) continue;
        QueryParam p;
        p.raw = piece;
        const auto eq = piece.find('=');
        const std::string_view k = piece.substr(0, eq);
        const std::string_view v =
            eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
        p.has_value = eq != std::string_view::npos;
        auto dk = url_decode(k);
        auto dv = url_decode(v);
        p.key = dk ? std::move(*dk) : std::string(k);
        p.value = dv ? std::move(*dv) : std::string(v);
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace cdn::origin_sim
