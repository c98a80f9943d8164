#pragma once
// The access log: one line per exchange, in logfmt (the default), JSON or the nginx/Apache
// "combined" format, to stdout or a file reopened on SIGUSR1 (common/log_file.hpp). Each field
// is escaped for its format (common/log_format.hpp), so nothing a client sends can break or forge
// a line. The fields and their names are listed in edge/README.md ("Access log").
#include "common/log_file.hpp"
#include "common/metrics.hpp"
#include "edge/http/exchange.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::proxy {

enum class AccessLogFormat { logfmt, json, combined };
// "logfmt", "json" or "combined"; nullopt otherwise.
std::optional<AccessLogFormat> parse_access_log_format(std::string_view name);

// One line's facts. The views belong to the caller and are read during the call only.
struct AccessRecord {
    std::chrono::system_clock::time_point time;  // when the exchange ended
    std::string_view client;                     // the client's address
    std::string_view method;
    std::string_view host;      // the Host field as the client sent it
    std::string_view url;       // the request target as the client sent it
    std::string_view protocol;  // "HTTP/1.0", "HTTP/1.1", "HTTP/2.0"
    unsigned status = 0;
    std::uint64_t bytes = 0;
    std::string_view cache;  // the X-Cache value: HIT, MISS...
    double duration_ms = 0;
    double origin_ms = -1;  // to the origin's response head; < 0 when no origin answered
    // Empty when absent.
    std::string_view user_agent;
    std::string_view referer;
    std::string_view tls;  // "TLSv1.2", "TLSv1.3"
    std::string_view request_id;
    std::string_view detail;
};

// Appends one line, '\n' included.
void append_access_line(std::string& out, AccessLogFormat format, const AccessRecord& r);

// "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0" for the request (nginx's $server_protocol spelling).
std::string_view protocol_of(const http::Request& req);

class AccessLog {
  public:
    AccessLog(AccessLogFormat format, std::unique_ptr<LogWriter> writer);
    // Formats and queues the line; never blocks on I/O, never throws. Thread-safe.
    void log(const http::Request& req, const http::Reply& reply, std::uint64_t bytes_sent,
             std::chrono::steady_clock::duration elapsed) noexcept;
    LogWriter& writer() { return *writer_; }
    AccessLogFormat format() const { return format_; }

  private:
    AccessLogFormat format_;
    std::unique_ptr<LogWriter> writer_;
};

// The access log [log] access asks for: null for "off", else stdout or the file (created 0640
// when missing; throws std::system_error naming it when it cannot be opened). With one, counts
// lines it had to drop in cdn_edge_access_log_dropped_total; the registry then refers to it, so
// it must outlive the registry's last render.
std::unique_ptr<AccessLog> open_access_log(std::string_view target, AccessLogFormat format,
                                           MetricsRegistry& registry);

}  // namespace cdn::edge::proxy
