#pragma once
// Building log lines that nothing a client sends can break or forge: escaping for each output
// format (logfmt, JSON, the nginx/Apache "combined" format) and the timestamps they use. Pure
// functions that append to a string; thread-safe (the timestamp caches are per thread).
#include <chrono>
#include <string>
#include <string_view>

namespace cdn::logline {

// A logfmt value between quotes: '"' and '\\' escaped with a backslash, control bytes, DEL and
// every byte >= 0x80 as \xNN. The line stays one line of printable ASCII.
void append_quoted(std::string& out, std::string_view value);

// A JSON string with its quotes (RFC 8259): '"', '\\' and control bytes escaped (\n, \t... or
// \u00NN), DEL as \u007f. Valid UTF-8 sequences pass through; each byte that is not part of
// one becomes \u00NN (NN >= 80), so the output is always valid UTF-8 and valid JSON, and such a
// byte is never confused with the character U+00NN, which would pass through as UTF-8.
void append_json_string(std::string& out, std::string_view value);

// A value for a quoted field of the "combined" format, without the quotes, escaped as nginx
// does by default: '"', '\\', control bytes, DEL and bytes >= 0x80 as \xNN. Nothing a client
// sends can end the quoted field or the line.
void append_combined(std::string& out, std::string_view value);

// "2026-01-02T03:04:05.678Z" (UTC, milliseconds).
void append_iso8601(std::string& out, std::chrono::system_clock::time_point t);
// "02/Jan/2026:03:04:05 +0100": the common log format's time, in local time with its offset
// (nginx's $time_local, Apache's %t).
void append_clf_time(std::string& out, std::chrono::system_clock::time_point t);

}  // namespace cdn::logline
