#include "edge/cache/content_coding.hpp"

#include "common/http_util.hpp"

#include <algorithm>
#include <optional>

namespace cdn::edge::cache {

using http_util::iequals;
using http_util::trim;

namespace {

constexpr std::string_view kVariantPrefix = "accept-encoding;edge=";

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; nullopt when
// malformed (RFC 9110 section 12.4.2).
std::optional<int> parse_qvalue(std::string_view v) {
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return std::nullopt;
    int q = (v[0] - '0') * 1000;
    if (v.size() == 1) return q;
    if (v[1] != '.' || v.size() > 5) return std::nullopt;
    int scale = 100;
    for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
        if (v[i] < '0' || v[i] > '9') return std::nullopt;
        q += (v[i] - '0') * scale;
    }
    if (q > 1000) return std::nullopt;  // "1.5"
    return q;
}

// One Accept-Encoding element: the coding and its weight; nullopt when the weight is malformed.
struct Element {
    std::string_view coding;
    int q = 1000;
};
std::optional<Element> parse_element(std::string_view e) {
    Element out;
    const auto semi = e.find(';');
    out.coding = trim(e.substr(0, semi));
    if (out.coding.empty()) return std::nullopt;
    for (std::string_view rest = semi == std::string_view::npos ? std::string_view()
                                                                : e.substr(semi + 1);
         !rest.empty();) {
        const auto next = rest.find(';');
        std::string_view param = trim(rest.substr(0, next));
        rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
        const auto eq = param.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        if (!iequals(trim(param.substr(0, eq)), "q")) continue;  // no other parameters defined
        auto q = parse_qvalue(trim(param.substr(eq + 1)));
        if (!q) return std::nullopt;
        out.q = *q;
    }
    return out;
}

bool names(std::string_view coding, Coding c) {
    switch (c) {
        case Coding::identity: return iequals(coding, "identity");
        case Coding::gzip: return iequals(coding, "gzip") || iequals(coding, "x-gzip");
        case Coding::br: return iequals(coding, "br");
    }
    return false;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

}  // namespace

std::string_view coding_name(Coding c) noexcept {
    switch (c) {
        case Coding::identity: return "identity";
        case Coding::gzip: return "gzip";
        case Coding::br: return "br";
    }
    return "identity";
}

Coding select_coding(std::string_view accept_encoding, const std::vector<Coding>& allowed) {
    if (trim(accept_encoding).empty() || allowed.empty()) return Coding::identity;
    // Weight per coding: explicit, else "*"'s, else (identity only) acceptable at 1.
    constexpr int kUnset = -1;
    int star = kUnset;
    int q_identity = kUnset, q_gzip = kUnset, q_br = kUnset;
    http_util::for_each_element(accept_encoding, [&](std::string_view e) {
        const auto el = parse_element(e);
        if (!el) return true;
        // The first mention of a coding counts (a repeat does not override it).
        auto set = [&](int& slot) {
            if (slot == kUnset) slot = el->q;
        };
        if (el->coding == "*")
            set(star);
        else if (names(el->coding, Coding::identity))
            set(q_identity);
        else if (names(el->coding, Coding::gzip))
            set(q_gzip);
        else if (names(el->coding, Coding::br))
            set(q_br);
        return true;
    });
    auto weight = [&](Coding c) {
        const int q = c == Coding::gzip ? q_gzip : c == Coding::br ? q_br : q_identity;
        if (q != kUnset) return q;
        if (star != kUnset) return star;
        return c == Coding::identity ? 1000 : 0;
    };
    Coding best = Coding::identity;
    int best_q = 0;
    for (Coding c : allowed) {
        if (c == Coding::identity) continue;
        const int q = weight(c);
        if (q > best_q) {
            best = c;
            best_q = q;
        }
    }
    // identity competes only when named: then a coding weighed below it loses to it (equal
    // weights go to the coding). Unnamed, it is merely acceptable ("gzip;q=0.5" means gzip).
    if (best != Coding::identity && q_identity != kUnset && best_q < q_identity)
        return Coding::identity;
    return best;
}

bool may_compress(const CompressionPolicy& p, std::string_view content_type,
                  std::string_view content_encoding, std::string_view cache_control,
                  std::string_view vary) {
    if (!p.enabled || p.codings.empty()) return false;
    const std::string_view ce = trim(content_encoding);
    if (!ce.empty() && !iequals(ce, "identity")) return false;
    const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
    if (media.empty()) return false;
    if (std::none_of(p.types.begin(), p.types.end(),
                     [&](const std::string& t) { return iequals(t, media); }))
        return false;
    if (http_util::list_has_token(vary, "*")) return false;
    bool no_transform = false;
    http_util::for_each_element(cache_control, [&](std::string_view d) {
        no_transform = iequals(trim(d.substr(0, d.find('='))), "no-transform");
        return !no_transform;
    });
    return !no_transform;
}

std::string suffixed_etag(std::string_view etag, Coding c) {
    etag = trim(etag);
    if (etag.empty()) return {};
    std::string out(etag);
    const std::string suffix = "-" + std::string(coding_name(c));
    if (out.size() >= 2 && out.back() == '"' && out.find('"') != out.size() - 1)
        out.insert(out.size() - 1, suffix);
    else
        out.append(suffix);  // not an entity-tag: still a different one
    return out;
}

std::string vary_with_accept_encoding(std::string_view vary) {
    if (http_util::list_has_token(vary, "accept-encoding")) return std::string(vary);
    if (trim(vary).empty()) return "Accept-Encoding";
    return std::string(trim(vary)) + ", Accept-Encoding";
}

std::string coding_variant_name(const std::vector<Coding>& allowed) {
    std::string name(kVariantPrefix);
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        if (i) name.push_back('/');
        name.append(coding_name(allowed[i]));
    }
    return name;
}

bool is_coding_variant_name(std::string_view name) noexcept {
    return name.starts_with(kVariantPrefix);
}

std::vector<Coding> codings_of_variant_name(std::string_view name) {
    std::vector<Coding> out;
    if (!is_coding_variant_name(name)) return out;
    name.remove_prefix(kVariantPrefix.size());
    while (!name.empty()) {
        const auto slash = name.find('/');
        const std::string c = lower(name.substr(0, slash));
        if (c == "br") out.push_back(Coding::br);
        if (c == "gzip") out.push_back(Coding::gzip);
        name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
    }
    return out;
}

}  // namespace cdn::edge::cache
