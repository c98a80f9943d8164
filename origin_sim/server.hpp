#pragma once
// The HTTP/1.1 session of the origin simulator: reads requests (keep-alive, pipelining, limits,
// timeouts), asks the RequestHandler for a plan and carries it out on the socket, including the
// faults (reset, close, hang, slow, truncate), over plain TCP or TLS. One coroutine per connection,
// on the worker that accepted it.
#include "common/clock.hpp"
#include "common/runtime.hpp"
#include "origin_sim/config.hpp"
#include "origin_sim/handler.hpp"
#include "origin_sim/state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace cdn::origin_sim {

struct ServerOptions {
    std::uint32_t header_limit = 32 * 1024;           // larger request heads get 431
    std::uint64_t body_limit = 64ull * 1024 * 1024;   // larger request bodies get 413
    std::chrono::milliseconds idle_timeout{60'000};   // waiting for (the rest of) a request
    std::chrono::milliseconds write_timeout{60'000};  // each write of up to 64 KiB
    std::chrono::milliseconds hang_limit{300'000};    // fault=hang holds a connection this long
};

// Owns the state and the handler; must outlive every session (the io_contexts running them).
class Server {
  public:
    Server(std::shared_ptr<const SimConfig> config, const Clock& clock, std::string name = {},
           ServerOptions options = {});
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Serves one connection until it closes.
    boost::asio::awaitable<void> session(tcp::socket socket);
    // The same over TLS: the handshake (within the idle timeout) first; counted in the state.
    boost::asio::awaitable<void> tls_session(tcp::socket socket,
                                             std::shared_ptr<boost::asio::ssl::context> ctx);
    // A ConnectionHandler for cdn::Listener that runs session().
    ConnectionHandler connection_handler();
    // One that runs tls_session() with ctx.
    ConnectionHandler tls_connection_handler(std::shared_ptr<boost::asio::ssl::context> ctx);

    SimState& state() { return state_; }
    RequestHandler& handler() { return handler_; }

  private:
    template <class Stream>
    boost::asio::awaitable<void> serve(Stream& stream);

    SimState state_;
    RequestHandler handler_;
    ServerOptions options_;
};

}  // namespace cdn::origin_sim
