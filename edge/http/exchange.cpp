#include "edge/http/exchange.hpp"

#include "common/http_date.hpp"

#include <boost/beast/http/status.hpp>

#include <memory>

namespace cdn::edge::http {

HeadBuilder::HeadBuilder(unsigned status, std::string_view reason) {
    head_.reserve(256);
    head_.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
    if (reason.empty()) reason = beast_http::obsolete_reason(beast_http::int_to_status(status));
    head_.append(reason).append("\r\n");
}

HeadBuilder& HeadBuilder::field(std::string_view name, std::string_view value) {
    head_.append(name).append(": ").append(value).append("\r\n");
    return *this;
}

std::string HeadBuilder::finish(std::size_t content_length, bool with_length) {
    if (with_length) field("Content-Length", std::to_string(content_length));
    return std::move(head_);
}

Reply make_reply(unsigned status, std::string body, OutcomeLabel outcome,
                 std::string_view content_type) {
    HeadBuilder hb(status, {});
    hb.field("Date", format_http_date(SystemClock::instance().now()));
    hb.field("Content-Type", content_type);
    hb.field("Cache-Control", "no-store");
    std::string head = hb.finish(body.size());
    Reply r;
    r.object = make_response(status, std::move(head), new_body(body));
    r.outcome = outcome;
    return r;
}

}  // namespace cdn::edge::http
