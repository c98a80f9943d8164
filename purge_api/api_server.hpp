#pragma once
// purge_api's HTTP/1.1 server: one coroutine per connection on the worker that accepted it.
// Ordinary requests are keep-alive request/response exchanges answered by ApiHandler; a purge
// waits (without blocking the worker) for the log's group commit before it is answered.
// GET /v1/stream turns the connection into an edge's event stream:
//
//   HTTP/1.1 200 OK, Content-Type: text/event-stream, Transfer-Encoding: chunked
//   (HTTP/1.0 clients: no chunking, the end of the stream is the end of the connection)
//
//   event: reset                                   only when after < compacted_through
//   data: {"compacted_through":S,"time_ms":T}      (the edge purges all it cached before T)
//
//   id: 7
//   event: purge
//   data: {"seq":7,"id":"...","time_ms":T,"kind":"files","values":[...],"soft":false}
//
//   event: synced                                  once, when the backlog has been sent
//   data: {"seq":N}                                (N: the last seq sent; 0 if none)
//
//   : ping                                         after each heartbeat interval of silence
//
// The stream sends every purge with seq > after in order, then new ones as the log accepts
// them: each stream waits on its own channel, which the log's append listener signals, so a
// purge reaches N streams with N wake-ups and no polling. A write blocked for longer than
// write_timeout (a client that does not read) ends the stream; so does a newer stream for the
// same edge, and the client closing its side.
//
// Settings (limits, timeouts, tokens) come from a LiveSettings snapshot taken per request (after
// its head and body are read; the body limit is the one current when reading began); a stream
// re-reads heartbeat and write_timeout at each turn, so a reload reaches open streams too.
//
// The same sessions run over TLS (tls_session): the handshake first (within 10 s; a failure,
// e.g. plain HTTP on the TLS port, gets OpenSSL's alert and a close, and is counted), then the
// same requests and streams; a connection ends with close_notify.
#include "common/clock.hpp"
#include "common/runtime.hpp"
#include "purge_api/api_handler.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <memory>

namespace cdn::purge_api {

class ApiServer {
  public:
    // Everything referred to must outlive every session (the WorkerPool's io_contexts).
    ApiServer(const LiveSettings& settings, PurgeStore& store, EdgeRegistry& edges,
              ApiHandler& handler, ApiMetrics& metrics, const Clock& clock);
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    boost::asio::awaitable<void> session(tcp::socket socket);
    // Over TLS with ctx (held for the connection's life, so a reload never pulls it away).
    boost::asio::awaitable<void> tls_session(tcp::socket socket,
                                             std::shared_ptr<boost::asio::ssl::context> ctx);
    ConnectionHandler connection_handler();
    // Runs tls_session() with the context `current` holds when the connection arrives (SIGHUP
    // swaps it). `current` must outlive every session.
    ConnectionHandler tls_connection_handler(
        const std::atomic<std::shared_ptr<boost::asio::ssl::context>>& current);

  private:
    template <class Stream>
    boost::asio::awaitable<void> serve(Stream& stream);
    template <class Stream>
    boost::asio::awaitable<void> serve_stream(Stream& stream, StreamPlan plan, bool chunked);
    // GET /v1/registry?after=V&wait=MS: the listing once the registry's version passes V, or at
    // the deadline (woken by the registry, no polling).
    boost::asio::awaitable<Reply> wait_registry(RegistryWaitPlan plan);

    const LiveSettings& settings_;
    PurgeStore& store_;
    EdgeRegistry& edges_;
    ApiHandler& handler_;
    ApiMetrics& metrics_;
    const Clock& clock_;
};

}  // namespace cdn::purge_api
