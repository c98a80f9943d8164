#pragma once
// Range requests (RFC 9110 section 14): parsing a "bytes=" Range header against a known
// representation size, and formatting / parsing Content-Range. Pure functions; safe from any
// thread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::http_range {

// An inclusive byte range [first, last] within a representation; first <= last.
struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t length() const noexcept { return last - first + 1; }
    bool operator==(const ByteRange&) const = default;
};

enum class RangeStatus {
    // No usable Range: malformed, another range unit, more than max_ranges ranges, more than two
    // overlapping ranges, or only a suffix range of a zero-length representation. Send 200.
    ignore,
    // `ranges` holds one or more satisfiable ranges, clipped to the size, in request order. 206.
    satisfiable,
    // Well-formed, but no range overlaps the representation. 416 with "bytes */SIZE".
    unsatisfiable,
};

struct RangeSet {
    RangeStatus status = RangeStatus::ignore;
    std::vector<ByteRange> ranges;  // empty unless status == satisfiable
};

inline constexpr std::size_t kMaxRanges = 100;

// Parses the value of a Range header ("bytes=0-99,200-", "bytes=-500") for a representation of
// `size` bytes. The unit is compared case-insensitively; whitespace around commas is allowed;
// ranges that do not overlap the representation are dropped from a set that has others.
RangeSet parse_range(std::string_view header, std::uint64_t size,
                     std::size_t max_ranges = kMaxRanges);

// "bytes FIRST-LAST/SIZE".
std::string format_content_range(ByteRange r, std::uint64_t size);
// "bytes */SIZE", for a 416.
std::string format_unsatisfied_range(std::uint64_t size);

// A parsed Content-Range value: "bytes 0-99/1000", "bytes 0-99/*" or "bytes */1000".
struct ContentRange {
    std::optional<ByteRange> range;     // absent for "bytes */SIZE"
    std::optional<std::uint64_t> size;  // absent for ".../*"
};
// nullopt when malformed (also when last < first, or last >= size when the size is known).
std::optional<ContentRange> parse_content_range(std::string_view value) noexcept;

}  // namespace cdn::http_range
