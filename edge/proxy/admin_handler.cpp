#include "edge/proxy/admin_handler.hpp"

#include "common/bearer_auth.hpp"
#include "common/http_util.hpp"
#include "edge/proxy/outcome_label.hpp"

#include <boost/json.hpp>

namespace cdn::edge::proxy {

namespace bh = boost::beast::http;

namespace {

constexpr std::string_view kRefused = "cdn_edge_admin_refused_total";
constexpr std::string_view kRefusedHelp =
    "Admin requests refused: purge not enabled, no or wrong token, body not JSON.";

}  // namespace

AdminAuth check_admin_token(std::string_view token, const http::RequestMessage& req) {
    if (token.empty()) return AdminAuth::disabled;
    const auto range = req.equal_range(bh::field::authorization);
    if (range.first == range.second) return AdminAuth::missing_token;
    // Several Authorization fields are ambiguous (which one would a proxy have checked?).
    if (std::next(range.first) != range.second) return AdminAuth::wrong_token;
    const auto presented = bearer_token(range.first->value());
    if (!presented) return AdminAuth::missing_token;
    return constant_time_equal(*presented, token) ? AdminAuth::ok : AdminAuth::wrong_token;
}

bool is_json_media_type(std::string_view content_type) {
    // RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), case-insensitive.
    const std::string_view essence =
        http_util::trim(content_type.substr(0, content_type.find(';')));
    return http_util::iequals(essence, "application/json");
}

bool has_json_body(const http::RequestMessage& req) {
    const auto range = req.equal_range(bh::field::content_type);
    if (range.first == range.second || std::next(range.first) != range.second) return false;
    return is_json_media_type(range.first->value());
}

AdminHandler::AdminHandler(MetricsRegistry& registry, Purger* purger, std::string purge_token)
    : registry_(registry),
      purger_(purger),
      purge_token_(std::move(purge_token)),
      refused_disabled_(registry.counter(std::string(kRefused), std::string(kRefusedHelp),
                                         R"(reason="disabled")")),
      refused_missing_(registry.counter(std::string(kRefused), std::string(kRefusedHelp),
                                        R"(reason="missing_token")")),
      refused_wrong_(registry.counter(std::string(kRefused), std::string(kRefusedHelp),
                                      R"(reason="wrong_token")")),
      refused_type_(registry.counter(std::string(kRefused), std::string(kRefusedHelp),
                                     R"(reason="content_type")")) {}

boost::asio::awaitable<http::Reply> AdminHandler::handle(http::Request& req) {
    using cache::Outcome;
    const std::string_view target = req.msg.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/purge") co_return purge(req);
    if (req.msg.method() != bh::verb::get && req.msg.method() != bh::verb::head)
        co_return make_reply(405, "Method not allowed\n", Outcome::synthetic);
    http::Reply r;
    if (path == "/healthz") {
        r = draining_.load() ? make_reply(503, "draining\n", Outcome::synthetic)
                             : make_reply(200, "ok\n", Outcome::synthetic);
    } else if (path == "/metrics") {
        r = make_reply(200, registry_.render(), Outcome::synthetic,
                       "text/plain; version=0.0.4; charset=utf-8");
    } else {
        r = make_reply(404, "Not found. Try /healthz or /metrics\n", Outcome::synthetic);
    }
    r.head_only = req.msg.method() == bh::verb::head;
    co_return r;
}

http::Reply AdminHandler::purge(const http::Request& req) {
    using cache::Outcome;
    constexpr std::string_view kJson = "application/json";
    auto error = [&](unsigned status, std::string_view message) {
        boost::json::object o{{"success", false}, {"error", message}};
        return make_reply(status, boost::json::serialize(o) + "\n", Outcome::synthetic, kJson);
    };
    if (req.msg.method() != bh::verb::post) return error(405, "POST a purge_cache body");
    const AdminAuth auth = check_admin_token(purge_token_, req.msg);
    if (auth == AdminAuth::disabled) {
        refused_disabled_.inc();
        return error(403,
                     "purging through the admin port is off: set [admin] purge_token (or "
                     "purge_token_file, or --admin-purge-token-file) in the edge's config and "
                     "send it as Authorization: Bearer <token>");
    }
    if (auth != AdminAuth::ok) {
        // RFC 6750 3: a challenge, with error="invalid_token" when a token was presented.
        const bool missing = auth == AdminAuth::missing_token;
        (missing ? refused_missing_ : refused_wrong_).inc();
        http::Reply r =
            error(401, missing ? "send Authorization: Bearer <token> ([admin] purge_token)"
                               : "wrong token");
        r.extra += missing ? "WWW-Authenticate: Bearer realm=\"edge admin\"\r\n"
                           : "WWW-Authenticate: Bearer realm=\"edge admin\", "
                             "error=\"invalid_token\"\r\n";
        return r;
    }
    if (!has_json_body(req.msg)) {
        refused_type_.inc();
        return error(415, "the body must be sent as Content-Type: application/json");
    }
    if (!purger_) return error(503, "purging is not set up on this edge");
    auto parsed = Purger::parse_api_body(req.msg.body());
    if (auto* e = std::get_if<std::string>(&parsed)) return error(400, *e);
    const Purger::Result res = purger_->apply(std::get<cache::PurgeRequest>(std::move(parsed)));
    if (!res.error.empty()) return error(400, res.error);
    boost::json::object o{{"success", true}, {"removed", res.removed}};
    return make_reply(200, boost::json::serialize(o) + "\n", Outcome::synthetic, kJson);
}

}  // namespace cdn::edge::proxy
