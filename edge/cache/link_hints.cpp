#include "edge/cache/link_hints.hpp"

#include "common/http_util.hpp"

namespace cdn::edge::cache {

namespace {

constexpr std::string_view kFieldPrefix = "Link: ";

bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ctl(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

// One link-value: where it ends (the top-level comma or the end), whether it is well formed,
// and whether its (first) rel is a hint rel.
struct Element {
    std::size_t end = 0;
    bool valid = false;
    bool hint = false;
};

// Skips to the next top-level comma from i (quoted strings and <...> honoured); npos-safe.
std::size_t skip_to_comma(std::string_view s, std::size_t i) {
    bool quoted = false;
    bool angle = false;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (quoted) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                quoted = false;
        } else if (angle) {
            if (c == '>') angle = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '<') {
            angle = true;
        } else if (c == ',') {
            return i;
        }
    }
    return s.size();
}

Element parse_element(std::string_view s, std::size_t i) {
    Element e;
    auto fail = [&](std::size_t at) {
        e.end = skip_to_comma(s, at);
        e.valid = false;
        e.hint = false;
        return e;
    };
    // "<" URI-Reference ">"
    if (i >= s.size() || s[i] != '<') return fail(i);
    const std::size_t close = s.find('>', i + 1);
    if (close == std::string_view::npos) {
        e.end = s.size();
        return e;
    }
    if (close == i + 1) return fail(close + 1);  // "<>": nothing to hint
    for (std::size_t k = i + 1; k < close; ++k)
        if (is_ctl(s[k]) || s[k] == ' ' || s[k] == '\t' || s[k] == '<' || s[k] == '"')
            return fail(close + 1);
    i = close + 1;
    bool rel_seen = false;
    for (;;) {
        while (i < s.size() && is_ows(s[i]))
            ++i;
        if (i == s.size() || s[i] == ',') break;
        if (s[i] != ';') return fail(i);
        ++i;
        while (i < s.size() && is_ows(s[i]))
            ++i;
        const std::size_t name_start = i;
        while (i < s.size() && is_tchar(s[i]))
            ++i;
        if (i == name_start) {
            // RFC 8288 allows an empty parameter (";;") only as a tolerated sloppiness: drop.
            return fail(i);
        }
        const std::string_view name = s.substr(name_start, i - name_start);
        while (i < s.size() && is_ows(s[i]))
            ++i;
        std::string value;
        bool has_value = false;
        if (i < s.size() && s[i] == '=') {
            ++i;
            while (i < s.size() && is_ows(s[i]))
                ++i;
            has_value = true;
            if (i < s.size() && s[i] == '"') {
                ++i;
                bool closed = false;
                for (; i < s.size(); ++i) {
                    const char c = s[i];
                    if (c == '\\' && i + 1 < s.size()) {
                        value.push_back(s[++i]);
                    } else if (c == '"') {
                        closed = true;
                        ++i;
                        break;
                    } else if (is_ctl(c)) {
                        return fail(i);
                    } else {
                        value.push_back(c);
                    }
                }
                if (!closed) {
                    e.end = s.size();
                    e.valid = false;
                    return e;
                }
            } else {
                const std::size_t v = i;
                while (i < s.size() && is_tchar(s[i]))
                    ++i;
                if (i == v) return fail(i);
                value.assign(s.substr(v, i - v));
            }
        }
        if (http_util::iequals(name, "rel") && !rel_seen) {  // later rels are ignored (8288 3.3)
            rel_seen = true;
            e.hint = has_value && is_hint_rel(value);
        }
    }
    e.end = i;
    e.valid = true;
    return e;
}

}  // namespace

bool is_hint_rel(std::string_view rel) noexcept {
    bool hint = false;
    std::size_t i = 0;
    while (i < rel.size()) {
        while (i < rel.size() && (rel[i] == ' ' || rel[i] == '\t'))
            ++i;
        std::size_t j = i;
        while (j < rel.size() && rel[j] != ' ' && rel[j] != '\t')
            ++j;
        const std::string_view type = rel.substr(i, j - i);
        if (http_util::iequals(type, "preload") || http_util::iequals(type, "preconnect") ||
            http_util::iequals(type, "modulepreload"))
            hint = true;
        i = j;
    }
    return hint;
}

void LinkHintParser::add(std::string_view value) {
    std::size_t i = 0;
    while (i < value.size()) {
        if (out_.links.size() >= limits_.max_links ||
            out_.bytes + kFieldPrefix.size() + 2 >= limits_.max_bytes) {
            // Full: whatever remains is not even parsed.
            out_.capped = true;
            return;
        }
        while (i < value.size() && (is_ows(value[i]) || value[i] == ','))
            ++i;
        if (i == value.size()) break;
        const std::size_t start = i;
        const Element e = parse_element(value, i);
        if (e.valid && e.hint) {
            std::string_view link = value.substr(start, e.end - start);
            while (!link.empty() && is_ows(link.back()))
                link.remove_suffix(1);
            const std::size_t cost = kFieldPrefix.size() + link.size() + 2;
            if (out_.bytes + cost <= limits_.max_bytes) {
                out_.links.emplace_back(link);
                out_.bytes += cost;
            } else {
                out_.capped = true;
            }
        }
        i = e.end;
    }
}

std::string hint_fields(const std::vector<std::string>& links) {
    std::string out;
    for (const auto& l : links)
        out.append(kFieldPrefix).append(l).append("\r\n");
    return out;
}

}  // namespace cdn::edge::cache
