#include "geodns/server/admin.hpp"

#include "common/http_io.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

namespace cdn::geodns {
namespace {

namespace beast = boost::beast;
namespace bh = boost::beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::string edges_json(const Fleet& fleet, const HealthTable& table, const EdgeHealth* health) {
    boost::json::array edges;
    for (std::size_t i = 0; i < fleet.edges.size(); ++i) {
        const EdgeInfo& e = fleet.edges[i];
        boost::json::array v4, v6;
        for (const auto& a : e.v4)
            v4.emplace_back(a.to_string());
        for (const auto& a : e.v6)
            v6.emplace_back(a.to_string());
        boost::json::object o{{"id", e.id},
                              {"region", fleet.regions[e.region].id},
                              {"ipv4", std::move(v4)},
                              {"ipv6", std::move(v6)},
                              {"weight", e.weight},
                              {"health_url", e.health_url},
                              {"up", table.up(i)}};
        if (health != nullptr)
            for (auto& [k, v] : health->quorum_json(e.id))
                o[k] = v;
        edges.push_back(std::move(o));
    }
    boost::json::object out{{"edges", std::move(edges)}};
    if (health != nullptr) out["health"] = health->observers_json();
    return boost::json::serialize(out) + "\n";
}

asio::awaitable<void> serve(const MetricsRegistry& registry, const ServedState& served,
                            const EdgeHealth* health, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http_io::RequestParser parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(std::chrono::seconds(30));
        const auto ec =
            co_await http_io::read_request(stream, buffer, parser, std::chrono::seconds(5));
        if (ec) break;
        const auto& req = parser.get();
        bh::response<bh::string_body> res{bh::status::ok, req.version()};
        const std::string_view target = req.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (req.method() != bh::verb::get && req.method() != bh::verb::head) {
            res.result(bh::status::method_not_allowed);
            res.set(bh::field::allow, "GET, HEAD");
            res.body() = "method not allowed\n";
        } else if (path == "/metrics") {
            res.set(bh::field::content_type, "text/plain; version=0.0.4");
            res.body() = registry.render();
        } else if (path == "/healthz") {
            res.set(bh::field::content_type, "text/plain");
            res.body() = "ok\n";
        } else if (path == "/v1/edges") {
            res.set(bh::field::content_type, "application/json");
            const auto now = served.current();
            res.body() = edges_json(*now->fleet, *now->health, health);
        } else if (path == "/v1/health/observations" && health != nullptr) {
            res.set(bh::field::content_type, "application/json");
            res.set(bh::field::cache_control, "no-store");
            res.body() = health->observations_json();
        } else {
            res.result(bh::status::not_found);
            res.set(bh::field::content_type, "text/plain");
            res.body() =
                "not found: try /metrics, /healthz, /v1/edges or /v1/health/observations\n";
        }
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        if (req.method() == bh::verb::head) res.body().clear();
        stream.expires_after(std::chrono::seconds(10));
        auto [wec, n] = co_await bh::async_write(stream, res, nothrow);
        if (wec || !req.keep_alive()) break;
    }
    co_await http_io::lingering_close(stream);
}

}  // namespace

ConnectionHandler admin_handler(const MetricsRegistry& registry, const ServedState& served,
                                const EdgeHealth* health) {
    return [&registry, &served, health](tcp::socket s) {
        return serve(registry, served, health, std::move(s));
    };
}

}  // namespace cdn::geodns
