// Edge-generated 103 Early Hints (as Cloudflare does): the preload / preconnect / modulepreload
// Link fields of a URL's last HTML response are remembered under its cache key
// (cache::HintTable), and the next miss or revalidation of that URL sends them to the client as
// a 103 before the origin is asked. Only for groups with [origin.early_hints] enabled.
#include "edge/cache/link_hints.hpp"
#include "edge/proxy/edge_handler.hpp"

#include "common/http_util.hpp"

namespace cdn::edge::proxy {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;

namespace {

bool is_html(std::string_view content_type) {
    content_type = http_util::trim(content_type.substr(0, content_type.find(';')));
    return http_util::iequals(content_type, "text/html");
}

}  // namespace

void EdgeHandler::learn_hints(const OriginGroup& group, const std::string& key, unsigned status,
                              const Fields& head) {
    if (!group.early_hints.enabled || !shared_.hints) return;
    // A 304 or an error says nothing about the page's links: what was learned stays.
    if (status < 200 || status >= 300) return;
    if (!is_html(head[beast_http::field::content_type])) {
        shared_.hints->erase(key);
        return;
    }
    cache::LinkHintParser parser({group.early_hints.max_links, group.early_hints.max_bytes});
    const auto [first, last] = head.equal_range(beast_http::field::link);
    for (auto it = first; it != last; ++it)
        parser.add(it->value());
    // No hint Link any more: the entry goes (put with nothing erases).
    shared_.hints->put(key, cache::hint_fields(parser.result().links), shared_.clock.now());
}

asio::awaitable<void> EdgeHandler::send_learned_hints(const OriginGroup& group,
                                                      const std::string& key,
                                                      const http::Request& req) {
    if (!group.early_hints.enabled || !shared_.hints || !req.interim) co_return;
    auto fields = shared_.hints->get(key, shared_.clock.now());
    if (!fields) co_return;
    co_await req.interim->send_interim(103, *fields);
    // The writer sends nothing to an HTTP/1.0 client (HTTP/2 requests say 1.1).
    if (req.msg.version() >= 11) shared_.metrics.early_hints_sent.inc();
}

}  // namespace cdn::edge::proxy
