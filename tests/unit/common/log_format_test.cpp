#include "common/log_format.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <string>

using namespace cdn::logline;
using namespace std::chrono_literals;

namespace {

std::string quoted(std::string_view v) {
    std::string out;
    append_quoted(out, v);
    return out;
}
std::string json(std::string_view v) {
    std::string out;
    append_json_string(out, v);
    return out;
}
std::string combined(std::string_view v) {
    std::string out;
    append_combined(out, v);
    return out;
}

// Every byte value, as a client could send them.
std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; ++i)
        s.push_back(static_cast<char>(i));
    return s;
}

}  // namespace

TEST_CASE("logfmt values: quotes and backslashes escaped, other bytes as hex escapes",
          "[log_format]") {
    CHECK(quoted("plain /a?b=c") == "\"plain /a?b=c\"");
    CHECK(quoted("") == "\"\"");
    CHECK(quoted("a\"b\\c") == R"("a\"b\\c")");
    CHECK(quoted("x\r\ny=1") == R"("x\x0d\x0ay=1")");
    CHECK(quoted("\x7f\x80\xff") == R"("\x7f\x80\xff")");
    CHECK(quoted("caf\xc3\xa9") == R"("caf\xc3\xa9")");
    // Whatever comes in, the value is one quoted run of printable ASCII.
    const std::string q = quoted(all_bytes());
    CHECK(std::regex_match(
        q, std::regex(R"("([\x20-\x21\x23-\x5b\x5d-\x7e]|\\"|\\\\|\\x[0-9a-f]{2})*")")));
}

TEST_CASE("JSON strings are valid JSON and valid UTF-8 whatever the bytes", "[log_format]") {
    CHECK(json("plain") == "\"plain\"");
    CHECK(json("a\"b\\c") == R"("a\"b\\c")");
    CHECK(json("\n\r\t\x01\x1f\x7f") == R"("\n\r\t\u0001\u001f\u007f")");
    // Well-formed UTF-8 passes through; each stray byte is \u00NN.
    CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(json("\xff") == R"("\u00ff")");
    CHECK(json("\xc3") == R"("\u00c3")");                                // cut short
    CHECK(json("\xc0\xaf") == R"("\u00c0\u00af")");                      // overlong '/'
    CHECK(json("\xed\xa0\x80") == R"("\u00ed\u00a0\u0080")");            // a surrogate
    CHECK(json("\xf4\x90\x80\x80") == R"("\u00f4\u0090\u0080\u0080")");  // past U+10FFFF
    CHECK(json("\xe2\x82") == R"("\u00e2\u0082")");

    // Boost.JSON (which checks UTF-8) reads back what went in, where it was valid.
    const std::string in = std::string("q\"\\\x01 caf\xc3\xa9 ") + all_bytes();
    boost::json::value v = boost::json::parse(json(in));
    REQUIRE(v.is_string());
    const std::string back(v.as_string());
    CHECK(back.starts_with("q\"\\\x01 caf\xc3\xa9 "));
    CHECK(boost::json::parse(json(all_bytes())).is_string());
}

TEST_CASE("combined-format fields never hold a quote, a backslash or a control byte",
          "[log_format]") {
    CHECK(combined("Mozilla/5.0 (X11)") == "Mozilla/5.0 (X11)");
    CHECK(combined("a\"b\\c") == R"(a\x22b\x5cc)");
    CHECK(combined("\r\n\x7f\xc3\xa9") == R"(\x0d\x0a\x7f\xc3\xa9)");
    const std::string c = combined(all_bytes());
    CHECK(c.find('"') == std::string::npos);
    CHECK(std::regex_match(c, std::regex(R"(([\x20-\x21\x23-\x5b\x5d-\x7e]|\\x[0-9a-f]{2})*)")));
}

TEST_CASE("timestamps", "[log_format]") {
    const auto t = std::chrono::sys_days{std::chrono::year{2026} / 1 / 2} + 3h + 4min + 5s + 678ms;
    std::string iso;
    append_iso8601(iso, t);
    CHECK(iso == "2026-01-02T03:04:05.678Z");
    // The same second again (the cached part) with other milliseconds.
    iso.clear();
    append_iso8601(iso, t + 7ms);
    CHECK(iso == "2026-01-02T03:04:05.685Z");
    iso.clear();
    append_iso8601(iso, t + 1s - 678ms + 5ms);
    CHECK(iso == "2026-01-02T03:04:06.005Z");

    std::string clf;
    append_clf_time(clf, t);
    // Local time with its offset: the shape, whatever the machine's zone.
    CHECK(
        std::regex_match(clf, std::regex(R"(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})")));
}
