// Expect: 100-continue (RFC 9110 section 10.1.1): before the HTTP/1.1 session sends 100 Continue
// and reads an upload, the pipeline says whether it would refuse the request anyway. The same
// answers handle() gives for a bad target or Host (400), a loop (508) and a host no group
// serves (421), without the body ever being read.
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/outcome_label.hpp"

namespace cdn::edge::proxy {

using cache::Outcome;
using http::Reply;
using http::Request;

std::optional<Reply> EdgeHandler::precheck(const Request& req) {
    auto refused = refuse_early(*current_->gen, req, recv(req));
    if (!refused) return std::nullopt;
    refused->close = true;  // the body is still on the wire
    if (refused->detail.empty()) refused->detail = "refused before 100-continue";
    return refused;
}

Reply EdgeHandler::unreadable_body(const Request& req) {
    Reply r = make_reply(400, "Bad request: the request body could not be read\n", Outcome::error);
    r.close = true;
    r.detail = "request-body-unreadable";
    if (!req.id.empty()) r.extra.append("X-Request-Id: ").append(req.id.view()).append("\r\n");
    return r;
}

}  // namespace cdn::edge::proxy
