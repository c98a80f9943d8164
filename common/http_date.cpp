#include "common/http_date.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace cdn {
namespace {

constexpr std::array<const char*, 7> kDays = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Howard Hinnant's days_from_civil / civil_from_days.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void put2(char* p, unsigned v) noexcept {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) noexcept {
    if (pos + n > s.size()) return false;
    unsigned v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    out = v;
    return true;
}

int month_index(std::string_view s) noexcept {
    for (std::size_t i = 0; i < kMonths.size(); ++i)
        if (s == kMonths[i]) return static_cast<int>(i) + 1;
    return 0;
}

bool parse_hms(std::string_view s, std::size_t pos, unsigned& h, unsigned& mi, unsigned& se) {
    return digits(s, pos, 2, h) && pos + 2 < s.size() && s[pos + 2] == ':' &&
           digits(s, pos + 3, 2, mi) && pos + 5 < s.size() && s[pos + 5] == ':' &&
           digits(s, pos + 6, 2, se);
}

std::optional<TimePoint> make_time(unsigned y, int mon, unsigned d, unsigned h, unsigned mi,
                                   unsigned se) noexcept {
    if (mon < 1 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
    // A system_clock time_point counts nanoseconds and holds only 1677..2262: clamp to
    // 1900..2200 so far-future Expires or far-past Last-Modified values cannot overflow.
    constexpr std::int64_t kMinSecs = days_from_civil(1900, 1, 1) * 86400;
    constexpr std::int64_t kMaxSecs = days_from_civil(2200, 1, 1) * 86400;
    const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mon), d);
    const std::int64_t secs =
        std::clamp<std::int64_t>(days * 86400 + h * 3600 + mi * 60 + se, kMinSecs, kMaxSecs);
    return TimePoint(std::chrono::seconds(secs));
}

}  // namespace

void format_http_date(TimePoint t, char* out) noexcept {
    const std::int64_t secs =
        std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
    std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    const std::int64_t rem = secs - days * 86400;
    const auto wd = static_cast<std::size_t>(((days % 7) + 7) % 7);
    // civil_from_days
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const auto y = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));

    // "Sun, 06 Nov 1994 08:49:37 GMT"
    const char* day = kDays[wd];
    const char* mon = kMonths[m - 1];
    out[0] = day[0], out[1] = day[1], out[2] = day[2], out[3] = ',', out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ', out[8] = mon[0], out[9] = mon[1], out[10] = mon[2], out[11] = ' ';
    put2(out + 12, (y / 100) % 100);
    put2(out + 14, y % 100);
    out[16] = ' ';
    put2(out + 17, static_cast<unsigned>(rem / 3600));
    out[19] = ':';
    put2(out + 20, static_cast<unsigned>(rem / 60 % 60));
    out[22] = ':';
    put2(out + 23, static_cast<unsigned>(rem % 60));
    out[25] = ' ', out[26] = 'G', out[27] = 'M', out[28] = 'T';
}

std::string format_http_date(TimePoint t) {
    std::string s(29, ' ');
    format_http_date(t, s.data());
    return s;
}

std::optional<TimePoint> parse_http_date(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    unsigned d = 0, y = 0, h = 0, mi = 0, se = 0;
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() == 29 && s[3] == ',' && s.substr(25) == " GMT") {
        if (!digits(s, 5, 2, d) || !digits(s, 12, 4, y) || !parse_hms(s, 17, h, mi, se))
            return std::nullopt;
        return make_time(y, month_index(s.substr(8, 3)), d, h, mi, se);
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if (auto comma = s.find(", "); comma != std::string_view::npos && comma <= 9 &&
                                   s.size() == comma + 24 && s.substr(s.size() - 4) == " GMT") {
        const std::size_t p = comma + 2;
        if (!digits(s, p, 2, d) || s[p + 2] != '-' || s[p + 6] != '-' || !digits(s, p + 7, 2, y) ||
            !parse_hms(s, p + 10, h, mi, se))
            return std::nullopt;
        y += y < 70 ? 2000 : 1900;  // RFC 9110: interpret as within 50 years
        return make_time(y, month_index(s.substr(p + 3, 3)), d, h, mi, se);
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (s.size() == 24 && s[3] == ' ' && s[7] == ' ') {
        const std::string_view dd = s.substr(8, 2);
        if (dd[0] == ' ') {
            if (!digits(s, 9, 1, d)) return std::nullopt;
        } else if (!digits(s, 8, 2, d)) {
            return std::nullopt;
        }
        if (!parse_hms(s, 11, h, mi, se) || !digits(s, 20, 4, y)) return std::nullopt;
        return make_time(y, month_index(s.substr(4, 3)), d, h, mi, se);
    }
    return std::nullopt;
}

}  // namespace cdn
