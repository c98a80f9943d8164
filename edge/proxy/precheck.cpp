// Expect: 100-continue (RFC 9110 section 10.1.1): before the HTTP/1.1 session sends 100 Continue
// and reads an upload, the pipeline says whether it would refuse the request anyway. The same
// answers handle() gives for a bad target or Host (400), a loop (508) and a host no group
// serves (421), without the body ever being read.
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/outcome_label.hpp"

#include <fmt/format.h>

namespace cdn::edge::proxy {

using cache::Outcome;
using http::Reply;
using http::Request;

std::optional<Reply> EdgeHandler::precheck(const Request& req) {
    const Gen& g = *current_->gen;
    auto refuse = [&](Reply r) {
        r.close = true;
        r.detail = r.detail.empty() ? std::string("refused before 100-continue") : r.detail;
        return std::optional<Reply>(std::move(r));
    };
    const auto target = recv(req);
    if (!target) {
        shared_.metrics.client_errors.inc();
        return refuse(
            make_reply(400, "Bad request: missing or invalid Host or target\n", Outcome::error));
    }
    if (is_loop(g, req)) {
        Reply r = make_reply(508,
                             "Loop detected: this request already came through " + g.config.name +
                                 " or through too many caches\n",
                             Outcome::error);
        r.extra = fmt::format("Cache-Status: {}; fwd=bypass; detail=\"loop\"\r\n", g.config.name);
        r.detail = "loop";
        shared_.metrics.loops.inc();
        return refuse(std::move(r));
    }
    if (!g.config.origin_for(target->host))
        return refuse(make_reply(421, "This edge serves no site for host " + target->host + "\n",
                                 Outcome::error));
    return std::nullopt;
}

Reply EdgeHandler::unreadable_body(const Request& req) {
    Reply r = make_reply(400, "Bad request: the request body could not be read\n", Outcome::error);
    r.close = true;
    r.detail = "request-body-unreadable";
    if (!req.id.empty()) r.extra.append("X-Request-Id: ").append(req.id.view()).append("\r\n");
    return r;
}

}  // namespace cdn::edge::proxy
