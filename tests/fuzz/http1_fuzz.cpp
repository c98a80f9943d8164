// libFuzzer target: the edge's HTTP/1.1 request path. Every input is the byte stream a client
// sends on one connection (several pipelined requests, bodies, garbage), served by the real
// serve_http1 session and EdgeHandler over a socketpair: parsing and its limits, Transfer-
// Encoding and framing checks, Host and target validation, the key, lookup, conditional and
// range answers, variants, purge verdicts, pass and miss. The cache is filled at start-up from a
// scripted origin; while fuzzing the origin is marked down, so a miss or a pass answers 503 at
// once without network I/O. Checks: the edge never writes a byte the session did not frame (each
// reply starts "HTTP/1.1 "), and the session always ends. Built only with clang
// (tests/fuzz/CMakeLists.txt).
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "edge/cache/fill_registry.hpp"
#include "edge/cache/inflight_keys.hpp"
#include "edge/cache/purge_rules.hpp"
#include "edge/config.hpp"
#include "edge/http/http1_session.hpp"
#include "edge/proxy/edge_handler.hpp"
#include "edge/proxy/edge_metrics.hpp"
#include "edge/proxy/inflight_budget.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/upstream/origin_set.hpp"
#include "tests/support/scripted_origin.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace cdn;
using namespace cdn::edge;

// The objects the cache holds while fuzzing: validators, a Vary, ranges, a tag, a cookie.
std::string origin_reply(const test::RecordedRequest& r) {
    const std::string body(r.target.starts_with("/big") ? 5000 : 100, 'x');
    std::string fields =
        "Cache-Control: max-age=3600, stale-while-revalidate=60\r\nETag: \"v1\"\r\n"
        "Last-Modified: Sun, 06 Dec 2026 10:00:00 GMT\r\n";
    fields += r.target.starts_with("/big") ? "Surrogate-Key: t1 t2\r\n" : "Surrogate-Key: t1\r\n";
    if (r.target.starts_with("/vary")) fields += "Vary: Accept-Encoding, X-Var\r\n";
    if (r.target.starts_with("/cookie")) fields += "Set-Cookie: a=b\r\n";
    if (r.target.starts_with("/private")) fields = "Cache-Control: private\r\n";
    return test::http_response(200, body, fields);
}

struct Edge {
    test::ScriptedOrigin origin{origin_reply};
    EdgeConfig config;
    storage::MemoryStore store{64 << 20, 4};
    MetricsRegistry registry;
    proxy::EdgeMetrics metrics{registry, store};
    cache::InflightKeys refreshing;
    cache::FillRegistry fills;
    cache::PurgeRules purges;
    std::shared_ptr<proxy::EdgeGeneration> generation;
    proxy::InflightBudget inflight{64 << 20};
    asio::io_context io;
    std::unique_ptr<proxy::EdgeHandler> handler;

    Edge() {
        config.name = "fuzz";
        config.session.max_header_bytes = 4096;
        config.session.max_body_bytes = 2048;
        OriginGroup g;
        g.hosts = {"*"};
        g.servers.push_back(make_origin_server(origin.url(), "fuzz"));
        g.pass_headers = {"x-forwarded-host"};
        g.pass_headers_vary = "x-forwarded-host";
        g.retries = 0;
        config.origins.push_back(std::move(g));
        generation = std::make_shared<proxy::EdgeGeneration>();
        generation->config = config;
        const OriginGroup& group = generation->config.origins.front();
        generation->origin_sets.push_back(
            std::make_shared<upstream::OriginSet>(group.servers, group.balance, group.breaker));
        handler = std::make_unique<proxy::EdgeHandler>(
            proxy::EdgeShared{store, metrics, SystemClock::instance(), refreshing, fills, purges,
                              inflight},
            generation, io.get_executor());
        // Fill the cache through the pipeline itself, then take the origin away.
        serve(
            "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"
            "GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n"
            "GET /vary HTTP/1.1\r\nHost: a.example\r\nAccept-Encoding: gzip\r\n\r\n"
            "GET /vary HTTP/1.1\r\nHost: a.example\r\nAccept-Encoding: br\r\nX-Var: 1\r\n\r\n"
            "GET /cookie HTTP/1.1\r\nHost: a.example\r\n\r\n"
            "GET /private HTTP/1.1\r\nHost: a.example\r\n\r\n"
            "GET /x?q=1 HTTP/1.1\r\nHost: b.example:8080\r\nX-Forwarded-Host: h\r\n\r\n");
        // A soft purge of what is tagged t2 (/big): lookups find it stale from now on.
        cache::PurgeRequest soft;
        soft.kind = cache::PurgeKind::tags;
        soft.values = {"t2"};
        soft.soft = true;
        purges.add(soft, storage::next_object_sequence());
        generation->origin_sets.front()->set_healthy(0, false);
    }

    // One connection: `input` from the client, then its end of sending; everything the edge
    // writes back is read (and returned) until the session closes the connection.
    std::string serve(std::string_view input) {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
        tcp::socket server(io);
        boost::system::error_code ec;
        server.assign(tcp::v4(), fds[0], ec);
        if (ec) std::abort();
        asio::local::stream_protocol::socket client(io);
        client.assign(asio::local::stream_protocol(), fds[1], ec);
        if (ec) std::abort();
        asio::co_spawn(io, http::serve_http1(std::move(server), *handler, config.session, nullptr),
                       asio::detached);
        std::string out;
        asio::co_spawn(io, client_side(client, std::string(input), out), asio::detached);
        io.restart();
        io.run();
        return out;
    }

    static asio::awaitable<void> client_side(asio::local::stream_protocol::socket& client,
                                             std::string input, std::string& out) {
        constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
        co_await asio::async_write(client, asio::buffer(input), nothrow);
        boost::system::error_code ignored;
        client.shutdown(asio::socket_base::shutdown_send, ignored);
        char buf[16 * 1024];
        for (;;) {
            auto [ec, n] = co_await client.async_read_some(asio::buffer(buf), nothrow);
            out.append(buf, n);
            if (ec) break;
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Edge* edge = new Edge();  // lives for the whole run
    const std::string out =
        edge->serve(std::string_view(reinterpret_cast<const char*>(data), size));
    // Whatever came in, what goes out is HTTP/1.1 responses (or nothing).
    if (!out.empty() && !out.starts_with("HTTP/1.1 ")) __builtin_trap();
    return 0;
}
