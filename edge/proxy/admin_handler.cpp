#include "edge/proxy/admin_handler.hpp"

namespace cdn::edge::proxy {

boost::asio::awaitable<http::Reply> AdminHandler::handle(http::Request& req) {
    using cache::Outcome;
    namespace bh = boost::beast::http;
    const std::string_view target = req.msg.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (req.msg.method() != bh::verb::get && req.msg.method() != bh::verb::head)
        co_return http::make_reply(405, "Method not allowed\n", Outcome::synthetic);
    http::Reply r;
    if (path == "/healthz") {
        r = draining_.load() ? http::make_reply(503, "draining\n", Outcome::synthetic)
                             : http::make_reply(200, "ok\n", Outcome::synthetic);
    } else if (path == "/metrics") {
        r = http::make_reply(200, registry_.render(), Outcome::synthetic,
                             "text/plain; version=0.0.4; charset=utf-8");
    } else {
        r = http::make_reply(404, "Not found. Try /healthz or /metrics\n", Outcome::synthetic);
    }
    r.head_only = req.msg.method() == bh::verb::head;
    co_return r;
}

}  // namespace cdn::edge::proxy
