#include "edge/proxy/access_log.hpp"

#include "common/log_format.hpp"
#include "edge/cache/outcome.hpp"
#include "edge/proxy/outcome_label.hpp"

#include <charconv>

namespace cdn::edge::proxy {
namespace {

using logline::append_combined;
using logline::append_json_string;
using logline::append_quoted;

// std::to_chars rather than fmt: a line has several numbers, and this runs per request.
void append_ms(std::string& out, double ms) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
    out.append(buf, r.ptr);
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// A logfmt value bare when it is a plain token (as methods and our own labels are), quoted
// otherwise: a client's odd method cannot add a key.
void append_logfmt_token(std::string& out, std::string_view v) {
    bool bare = !v.empty();
    for (const char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=' || c == '\\') bare = false;
    }
    if (bare)
        out.append(v);
    else
        append_quoted(out, v);
}

void logfmt_line(std::string& out, const AccessRecord& r) {
    out.append("ts=");
    logline::append_iso8601(out, r.time);
    out.append(" client=").append(r.client);
    out.append(" method=");
    append_logfmt_token(out, r.method);
    out.append(" host=");
    append_quoted(out, r.host);
    out.append(" url=");
    append_quoted(out, r.url);
    out.append(" protocol=").append(r.protocol);
    out.append(" status=");
    append_uint(out, r.status);
    out.append(" bytes=");
    append_uint(out, r.bytes);
    out.append(" cache=").append(r.cache);
    out.append(" dur_ms=");
    append_ms(out, r.duration_ms);
    if (r.origin_ms >= 0) {
        out.append(" origin_ms=");
        append_ms(out, r.origin_ms);
    }
    if (!r.tls.empty()) out.append(" tls=").append(r.tls);
    if (!r.request_id.empty()) {
        out.append(" request_id=");
        append_quoted(out, r.request_id);
    }
    if (!r.user_agent.empty()) {
        out.append(" user_agent=");
        append_quoted(out, r.user_agent);
    }
    if (!r.referer.empty()) {
        out.append(" referer=");
        append_quoted(out, r.referer);
    }
    if (!r.detail.empty()) {
        out.append(" detail=");
        append_quoted(out, r.detail);
    }
    out.push_back('\n');
}

// A JSON string, or null when empty.
void json_or_null(std::string& out, std::string_view v) {
    if (v.empty())
        out.append("null");
    else
        append_json_string(out, v);
}

void json_line(std::string& out, const AccessRecord& r) {
    out.append("{\"ts\":\"");
    logline::append_iso8601(out, r.time);
    out.append("\",\"client\":");
    append_json_string(out, r.client);
    out.append(",\"method\":");
    append_json_string(out, r.method);
    out.append(",\"host\":");
    append_json_string(out, r.host);
    out.append(",\"url\":");
    append_json_string(out, r.url);
    out.append(",\"protocol\":");
    append_json_string(out, r.protocol);
    out.append(",\"status\":");
    append_uint(out, r.status);
    out.append(",\"bytes\":");
    append_uint(out, r.bytes);
    out.append(",\"cache\":");
    append_json_string(out, r.cache);
    out.append(",\"dur_ms\":");
    append_ms(out, r.duration_ms);
    out.append(",\"origin_ms\":");
    if (r.origin_ms >= 0)
        append_ms(out, r.origin_ms);
    else
        out.append("null");
    out.append(",\"tls\":");
    json_or_null(out, r.tls);
    out.append(",\"request_id\":");
    json_or_null(out, r.request_id);
    out.append(",\"user_agent\":");
    json_or_null(out, r.user_agent);
    out.append(",\"referer\":");
    json_or_null(out, r.referer);
    out.append(",\"detail\":");
    json_or_null(out, r.detail);
    out.append("}\n");
}

// A quoted combined-format field; "-" when empty, as nginx writes it.
void combined_quoted(std::string& out, std::string_view v) {
    out.push_back('"');
    if (v.empty())
        out.push_back('-');
    else
        append_combined(out, v);
    out.push_back('"');
}

// $remote_addr - - [$time_local] "$request" $status $bytes "$http_referer" "$http_user_agent",
// exactly, then the edge's own fields as key=value pairs (as nginx users append theirs).
void combined_line(std::string& out, const AccessRecord& r) {
    out.append(r.client.empty() ? std::string_view("-") : r.client);
    out.append(" - - [");
    logline::append_clf_time(out, r.time);
    out.append("] \"");
    if (r.method.empty() && r.url.empty()) {
        out.push_back('-');  // no request line could be read
    } else {
        append_combined(out, r.method);
        out.push_back(' ');
        append_combined(out, r.url);
        out.push_back(' ');
        append_combined(out, r.protocol);
    }
    out.append("\" ");
    append_uint(out, r.status);
    out.push_back(' ');
    append_uint(out, r.bytes);
    out.push_back(' ');
    combined_quoted(out, r.referer);
    out.push_back(' ');
    combined_quoted(out, r.user_agent);
    out.append(" host=");
    combined_quoted(out, r.host);
    out.append(" cache=").append(r.cache);
    out.append(" dur_ms=");
    append_ms(out, r.duration_ms);
    out.append(" origin_ms=");
    if (r.origin_ms >= 0)
        append_ms(out, r.origin_ms);
    else
        out.push_back('-');
    out.append(" tls=").append(r.tls.empty() ? std::string_view("-") : r.tls);
    out.append(" request_id=");
    combined_quoted(out, r.request_id);
    if (!r.detail.empty()) {
        out.append(" detail=");
        combined_quoted(out, r.detail);
    }
    out.push_back('\n');
}

}  // namespace

std::optional<AccessLogFormat> parse_access_log_format(std::string_view name) {
    if (name == "logfmt") return AccessLogFormat::logfmt;
    if (name == "json") return AccessLogFormat::json;
    if (name == "combined") return AccessLogFormat::combined;
    return std::nullopt;
}

void append_access_line(std::string& out, AccessLogFormat format, const AccessRecord& r) {
    switch (format) {
        case AccessLogFormat::logfmt: logfmt_line(out, r); return;
        case AccessLogFormat::json: json_line(out, r); return;
        case AccessLogFormat::combined: combined_line(out, r); return;
    }
}

std::string_view protocol_of(const http::Request& req) {
    if (req.http2) return "HTTP/2.0";
    return req.msg.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
}

AccessLog::AccessLog(AccessLogFormat format, std::unique_ptr<LogWriter> writer)
    : format_(format), writer_(std::move(writer)) {}

void AccessLog::log(const http::Request& req, const http::Reply& reply, std::uint64_t bytes_sent,
                    std::chrono::steady_clock::duration elapsed) noexcept {
    try {
        namespace bh = boost::beast::http;
        const std::string client = req.client.address().to_string();
        AccessRecord r;
        r.time = std::chrono::system_clock::now();
        r.client = client;
        r.method = req.msg.method_string();
        r.host = req.msg[bh::field::host];
        r.url = req.msg.target();
        r.protocol = protocol_of(req);
        r.status = reply.status();
        r.bytes = bytes_sent;
        r.cache = cache::x_cache(outcome_of(reply.outcome));
        r.duration_ms = std::chrono::duration<double, std::milli>(elapsed).count();
        if (reply.origin_time.count() >= 0)
            r.origin_ms = std::chrono::duration<double, std::milli>(reply.origin_time).count();
        r.user_agent = req.msg[bh::field::user_agent];
        r.referer = req.msg[bh::field::referer];
        r.tls = req.tls;
        r.request_id = req.id.view();
        r.detail = reply.detail;
        // One buffer per worker thread, reused line after line.
        thread_local std::string line;
        line.clear();
        append_access_line(line, format_, r);
        writer_->write(line);
    } catch (...) {
        // An access-log failure must not fail the request.
    }
}

std::unique_ptr<AccessLog> open_access_log(std::string_view target, AccessLogFormat format,
                                           MetricsRegistry& registry) {
    if (target == "off") return nullptr;
    auto log = std::make_unique<AccessLog>(format, target == "stdout"
                                                       ? LogWriter::to_stdout()
                                                       : LogWriter::to_file(std::string(target)));
    registry.counter_fn(
        "cdn_edge_access_log_dropped_total",
        "Access-log lines dropped: the destination could not keep up, or writing failed.",
        [&w = log->writer()] { return static_cast<double>(w.dropped()); });
    return log;
}

}  // namespace cdn::edge::proxy
