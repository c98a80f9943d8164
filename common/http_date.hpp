#pragma once
// HTTP dates (RFC 9110 section 5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in.
#include "common/clock.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace cdn {

std::string format_http_date(TimePoint t);
// Writes exactly 29 characters into out.
void format_http_date(TimePoint t, char* out) noexcept;
std::optional<TimePoint> parse_http_date(std::string_view s) noexcept;

}  // namespace cdn
