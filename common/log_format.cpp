#include "common/log_format.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>

namespace cdn::logline {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string& out, std::string_view prefix, unsigned char b) {
    out.append(prefix);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
}

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) starting at s[0] (a byte >= 0x80), or 0 when there is none.
std::size_t utf8_sequence(std::string_view s) {
    const auto at = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char b = at(0);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (s.size() < len || at(1) < lo || at(1) > hi) return 0;
    for (std::size_t i = 2; i < len; ++i)
        if (at(i) < 0x80 || at(i) > 0xbf) return 0;
    return len;
}

// One formatted second per thread: a busy edge logs many lines per second, and formatting the
// date (and, for local time, the time zone lookup) is the costly part.
struct SecondCache {
    std::int64_t second = INT64_MIN;
    std::array<char, 40> text{};
    std::size_t size = 0;
};

constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_2(std::string& out, int v) {
    out.push_back(static_cast<char>('0' + v / 10 % 10));
    out.push_back(static_cast<char>('0' + v % 10));
}

}  // namespace

// The escapers copy runs of bytes that need nothing in one append each: per-byte push_back
// costs several times more, and most of a line needs nothing. kPlain says which bytes those are
// (printable ASCII but '"' and '\\'), one load per byte.
constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (std::size_t c = 0x20; c < 0x7f; ++c)
        t[c] = c != '"' && c != '\\';
    return t;
}();

// Copies value into out in runs of plain bytes; escape(out, byte) writes each other byte.
template <class Escape>
void append_escaped(std::string& out, std::string_view value, Escape escape) {
    std::size_t run = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto u = static_cast<unsigned char>(value[i]);
        if (kPlain[u]) continue;
        out.append(value.data() + run, i - run);
        run = i + 1;
        escape(out, u);
    }
    out.append(value.data() + run, value.size() - run);
}

void append_quoted(std::string& out, std::string_view value) {
    out.push_back('"');
    append_escaped(out, value, [](std::string& o, unsigned char u) {
        if (u == '"' || u == '\\') {
            o.push_back('\\');
            o.push_back(static_cast<char>(u));
        } else {
            append_hex_byte(o, "\\x", u);
        }
    });
    out.push_back('"');
}

void append_json_string(std::string& out, std::string_view value) {
    out.push_back('"');
    std::size_t run = 0;
    for (std::size_t i = 0; i < value.size();) {
        const auto u = static_cast<unsigned char>(value[i]);
        if (kPlain[u]) {
            ++i;
            continue;
        }
        if (u >= 0x80) {
            if (const std::size_t n = utf8_sequence(value.substr(i))) {
                i += n;  // well-formed: stays in the run
                continue;
            }
        }
        out.append(value.data() + run, i - run);
        switch (u) {
            case '"': out.append("\\\""); break;
            case '\\': out.append("\\\\"); break;
            case '\n': out.append("\\n"); break;
            case '\r': out.append("\\r"); break;
            case '\t': out.append("\\t"); break;
            default: append_hex_byte(out, "\\u00", u);  // control, DEL, a stray byte
        }
        run = ++i;
    }
    out.append(value.data() + run, value.size() - run);
    out.push_back('"');
}

void append_combined(std::string& out, std::string_view value) {
    append_escaped(out, value,
                   [](std::string& o, unsigned char u) { append_hex_byte(o, "\\x", u); });
}

void append_iso8601(std::string& out, std::chrono::system_clock::time_point t) {
    thread_local SecondCache cache;
    const auto ms = std::chrono::floor<std::chrono::milliseconds>(t).time_since_epoch().count();
    const std::int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    if (second != cache.second) {
        const auto tt = static_cast<std::time_t>(second);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        cache.size = std::strftime(cache.text.data(), cache.text.size(), "%Y-%m-%dT%H:%M:%S", &tm);
        cache.second = second;
    }
    out.append(cache.text.data(), cache.size);
    const int milli = static_cast<int>(ms - second * 1000);
    out.push_back('.');
    out.push_back(static_cast<char>('0' + milli / 100));
    append_2(out, milli % 100);
    out.push_back('Z');
}

void append_clf_time(std::string& out, std::chrono::system_clock::time_point t) {
    thread_local SecondCache cache;
    const std::int64_t second =
        std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
    if (second != cache.second) {
        const auto tt = static_cast<std::time_t>(second);
        std::tm tm{};
        localtime_r(&tt, &tm);
        std::string s;
        append_2(s, tm.tm_mday);
        s.push_back('/');
        s.append(kMonths[static_cast<std::size_t>(tm.tm_mon) % 12]);
        s.push_back('/');
        s.append(std::to_string(tm.tm_year + 1900));
        s.push_back(':');
        append_2(s, tm.tm_hour);
        s.push_back(':');
        append_2(s, tm.tm_min);
        s.push_back(':');
        append_2(s, tm.tm_sec);
        const long off = tm.tm_gmtoff / 60;  // minutes east of UTC
        const long a = off < 0 ? -off : off;
        s.push_back(' ');
        s.push_back(off < 0 ? '-' : '+');
        append_2(s, static_cast<int>(a / 60 % 100));
        append_2(s, static_cast<int>(a % 60));
        cache.size = std::min(s.size(), cache.text.size());
        s.copy(cache.text.data(), cache.size);
        cache.second = second;
    }
    out.append(cache.text.data(), cache.size);
}

}  // namespace cdn::logline
