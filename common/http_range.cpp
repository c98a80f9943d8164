#include "common/http_range.hpp"

#include "common/http_util.hpp"

#include <algorithm>
#include <charconv>

namespace cdn::http_range {
namespace {

bool is_digits(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Digits only; false on anything else or on overflow.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
    if (!is_digits(s)) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

// One range-spec before it is resolved against the size.
struct Spec {
    bool suffix = false;
    std::uint64_t first = 0;
    std::optional<std::uint64_t> last;  // absent: open-ended ("500-")
    std::uint64_t suffix_length = 0;
};

bool parse_spec(std::string_view e, Spec& out) noexcept {
    const auto dash = e.find('-');
    if (dash == std::string_view::npos) return false;
    const std::string_view a = e.substr(0, dash);
    const std::string_view b = e.substr(dash + 1);
    if (a.empty()) {
        out.suffix = true;
        return parse_u64(b, out.suffix_length);
    }
    if (!parse_u64(a, out.first)) return false;
    if (b.empty()) return true;
    std::uint64_t last = 0;
    if (!parse_u64(b, last) || last < out.first) return false;
    out.last = last;
    return true;
}

}  // namespace

RangeSet parse_range(std::string_view header, std::uint64_t size, std::size_t max_ranges) {
    RangeSet out;
    const auto eq = header.find('=');
    if (eq == std::string_view::npos || !http_util::iequals(header.substr(0, eq), "bytes"))
        return out;
    std::vector<Spec> specs;
    bool malformed = false;
    http_util::for_each_element(header.substr(eq + 1), [&](std::string_view e) {
        Spec s;
        if (specs.size() >= max_ranges || !parse_spec(e, s)) {
            malformed = true;
            return false;
        }
        specs.push_back(s);
        return true;
    });
    if (malformed || specs.empty()) return out;

    bool empty_suffix_of_empty = false;
    for (const Spec& s : specs) {
        if (s.suffix) {
            if (s.suffix_length == 0) continue;
            if (size == 0) {
                empty_suffix_of_empty = true;
                continue;
            }
            const std::uint64_t first = size > s.suffix_length ? size - s.suffix_length : 0;
            out.ranges.push_back({first, size - 1});
        } else {
            if (s.first >= size) continue;
            const std::uint64_t last = s.last ? std::min(*s.last, size - 1) : size - 1;
            out.ranges.push_back({s.first, last});
        }
    }
    if (out.ranges.empty()) {
        // RFC 9110 section 14.1.1: for a zero-length representation only a non-zero suffix range
        // is satisfiable, and it selects nothing: answer with the (empty) full representation.
        out.status = empty_suffix_of_empty ? RangeStatus::ignore : RangeStatus::unsatisfiable;
        return out;
    }

    // More than two overlapping ranges is a sign of a broken or hostile client (section 14.2).
    std::vector<ByteRange> sorted = out.ranges;
    std::sort(sorted.begin(), sorted.end(),
              [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
    std::size_t overlaps = 0;
    std::uint64_t reach = sorted.front().last;
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        if (sorted[i].first <= reach) ++overlaps;
        reach = std::max(reach, sorted[i].last);
    }
    if (overlaps > 1) {
        out.ranges.clear();
        return out;
    }
    out.status = RangeStatus::satisfiable;
    return out;
}

std::string format_content_range(ByteRange r, std::uint64_t size) {
    return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
           std::to_string(size);
}

std::string format_unsatisfied_range(std::uint64_t size) {
    return "bytes */" + std::to_string(size);
}

std::optional<ContentRange> parse_content_range(std::string_view value) noexcept {
    value = http_util::trim(value);
    const auto sp = value.find(' ');
    if (sp == std::string_view::npos || !http_util::iequals(value.substr(0, sp), "bytes"))
        return std::nullopt;
    value.remove_prefix(sp + 1);
    const auto slash = value.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view range = value.substr(0, slash);
    const std::string_view total = value.substr(slash + 1);
    ContentRange out;
    if (total != "*") {
        std::uint64_t n = 0;
        if (!parse_u64(total, n)) return std::nullopt;
        out.size = n;
    }
    if (range == "*") {
        if (!out.size) return std::nullopt;
        return out;
    }
    const auto dash = range.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    ByteRange r;
    if (!parse_u64(range.substr(0, dash), r.first) || !parse_u64(range.substr(dash + 1), r.last) ||
        r.last < r.first)
        return std::nullopt;
    if (out.size && r.last >= *out.size) return std::nullopt;
    out.range = r;
    return out;
}

}  // namespace cdn::http_range
