#include "edge/proxy/admin_handler.hpp"

#include <boost/json.hpp>

namespace cdn::edge::proxy {

boost::asio::awaitable<http::Reply> AdminHandler::handle(http::Request& req) {
    using cache::Outcome;
    namespace bh = boost::beast::http;
    const std::string_view target = req.msg.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/purge") co_return purge(req);
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

http::Reply AdminHandler::purge(const http::Request& req) {
    using cache::Outcome;
    constexpr std::string_view kJson = "application/json";
    auto error = [&](unsigned status, std::string_view message) {
        boost::json::object o{{"success", false}, {"error", message}};
        return http::make_reply(status, boost::json::serialize(o) + "\n", Outcome::synthetic,
                                kJson);
    };
    if (req.msg.method() != boost::beast::http::verb::post)
        return error(405, "POST a purge_cache body");
    if (!purger_) return error(503, "purging is not set up on this edge");
    auto parsed = Purger::parse_api_body(req.msg.body());
    if (auto* e = std::get_if<std::string>(&parsed)) return error(400, *e);
    const Purger::Result res = purger_->apply(std::get<cache::PurgeRequest>(std::move(parsed)));
    if (!res.error.empty()) return error(400, res.error);
    boost::json::object o{{"success", true}, {"removed", res.removed}};
    return http::make_reply(200, boost::json::serialize(o) + "\n", Outcome::synthetic, kJson);
}

}  // namespace cdn::edge::proxy
