#pragma once
// Worker threads, one io_context each, and the listeners that feed them. Each connection lives on
// one worker for its whole life, so per-connection state needs no locks.
#include "common/net.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace cdn {

class WorkerPool {
  public:
    // threads == 0 means one per core.
    explicit WorkerPool(std::size_t threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    std::size_t size() const { return contexts_.size(); }
    asio::io_context& at(std::size_t i) { return *contexts_[i]; }

    // Runs every worker (worker 0 on the calling thread) until stop(); joins the others.
    void run();
    void stop();
    // Calls on_signal once on SIGINT or SIGTERM (on worker 0). A second signal after it calls
    // on_second_signal, or stop() when that is empty (a graceful shutdown can be cut short).
    void on_termination(std::function<void(int)> on_signal,
                        std::function<void(int)> on_second_signal = {});

  private:
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::vector<std::thread> threads_;
    std::unique_ptr<asio::signal_set> signals_;
};

// A connection handler: called on the acceptor's worker with the accepted socket.
using ConnectionHandler = std::function<asio::awaitable<void>(tcp::socket)>;

// Binds one acceptor per worker on ep (SO_REUSEPORT; port 0 picks one port for all of them),
// starts accepting, and returns the bound endpoint. Throws std::system_error on failure.
//
// A port another socket already listens on is an error (EADDRINUSE, naming the address), even
// when that socket is another process's SO_REUSEPORT group, which the kernel would otherwise let
// this one join silently and split the traffic with. share_port opts in to exactly that: the way
// to start a replacement process beside a running one.
class Listener {
  public:
    Listener(WorkerPool& pool, const tcp::endpoint& ep, ConnectionHandler handler,
             std::size_t workers = 0 /* 0 = all */, bool share_port = false);
    const tcp::endpoint& local_endpoint() const { return local_; }
    void close();

  private:
    std::vector<std::shared_ptr<tcp::acceptor>> acceptors_;
    tcp::endpoint local_;
};

}  // namespace cdn
