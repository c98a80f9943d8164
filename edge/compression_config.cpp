#include "edge/compression_config.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cdn::edge {

cache::CompressionPolicy parse_compression(const ConfigSection& s) {
    s.allow_only(
        {"enabled", "types", "codings", "min_size", "max_size", "gzip_level", "brotli_quality"});
    cache::CompressionPolicy p;
    if (auto v = s.boolean("enabled")) p.enabled = *v;
    if (auto v = s.strings("types")) {
        p.types.clear();
        for (std::size_t i = 0; i < v->size(); ++i) {
            std::string t = (*v)[i];
            for (char& c : t)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            const auto slash = t.find('/');
            if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() ||
                t.find_first_of(" ;,*") != std::string::npos)
                s.fail_element("types", i,
                               fmt::format("\"{}\" is not a media type like text/html (no "
                                           "parameters, no wildcards)",
                                           (*v)[i]));
            p.types.push_back(std::move(t));
        }
    }
    if (auto v = s.strings("codings")) {
        p.codings.clear();
        for (std::size_t i = 0; i < v->size(); ++i) {
            const std::string& c = (*v)[i];
            const cache::Coding coding = c == "br"     ? cache::Coding::br
                                         : c == "gzip" ? cache::Coding::gzip
                                                       : cache::Coding::identity;
            if (coding == cache::Coding::identity)
                s.fail_element("codings", i, fmt::format("\"{}\": expected \"br\" or \"gzip\"", c));
            if (std::find(p.codings.begin(), p.codings.end(), coding) != p.codings.end())
                s.fail_element("codings", i, fmt::format("\"{}\" is listed twice", c));
            p.codings.push_back(coding);
        }
        if (p.codings.empty()) s.fail("codings", "list br and/or gzip, or set enabled = false");
    }
    if (auto v = s.size("min_size")) p.min_size = *v;
    if (auto v = s.size("max_size")) {
        if (*v == 0 || *v > (1ull << 30)) s.fail("max_size", "expected 1 to 1GiB");
        p.max_size = *v;
    }
    if (p.min_size > p.max_size) s.fail("min_size", "must not exceed max_size");
    if (auto v = s.integer("gzip_level")) {
        if (*v < 1 || *v > 9) s.fail("gzip_level", "expected 1 to 9");
        p.gzip_level = static_cast<int>(*v);
    }
    if (auto v = s.integer("brotli_quality")) {
        if (*v < 0 || *v > 11) s.fail("brotli_quality", "expected 0 to 11");
        p.brotli_quality = static_cast<int>(*v);
    }
    return p;
}

}  // namespace cdn::edge
