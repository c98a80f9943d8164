#include "common/runtime.hpp"

#include "common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <system_error>

namespace cdn {
namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acc, ConnectionHandler handler) {
    for (;;) {
        auto [ec, sock] = co_await acc->async_accept(nothrow);
        if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
        if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            log_warn("accept on {}: {}", to_string(acc->local_endpoint()), ec.message());
            asio::steady_timer t(acc->get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(nothrow);
            continue;
        }
        boost::system::error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(acc->get_executor(), handler(std::move(sock)), asio::detached);
    }
}

}  // namespace

WorkerPool::WorkerPool(std::size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < threads; ++i)
        contexts_.push_back(std::make_unique<asio::io_context>(1));
}

WorkerPool::~WorkerPool() {
    stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void WorkerPool::run() {
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& c : contexts_)
        guards.push_back(asio::make_work_guard(*c));
    for (std::size_t i = 1; i < contexts_.size(); ++i)
        threads_.emplace_back([c = contexts_[i].get()] { c->run(); });
    contexts_[0]->run();
    for (auto& t : threads_)
        t.join();
    threads_.clear();
}

void WorkerPool::stop() {
    for (auto& c : contexts_)
        c->stop();
}

void WorkerPool::on_termination(std::function<void(int)> on_signal,
                                std::function<void(int)> on_second_signal) {
    signals_ = std::make_unique<asio::signal_set>(*contexts_[0], SIGINT, SIGTERM);
    signals_->async_wait([this, cb = std::move(on_signal), second = std::move(on_second_signal)](
                             const boost::system::error_code& ec, int sig) mutable {
        if (ec) return;
        cb(sig);
        // A second signal while the first one's shutdown is still running: stop now.
        signals_->async_wait(
            [this, second = std::move(second)](const boost::system::error_code& ec2, int sig2) {
                if (ec2) return;
                if (second)
                    second(sig2);
                else
                    stop();
            });
    });
}

Listener::Listener(WorkerPool& pool, const tcp::endpoint& ep, ConnectionHandler handler,
                   std::size_t workers, bool share_port) {
    if (workers == 0 || workers > pool.size()) workers = pool.size();
    if (!share_port && ep.port() != 0) {
        // A probe without SO_REUSEPORT cannot bind beside any listener on the port, reuse-port
        // group or not. (Two processes started in the same instant can still both pass it; the
        // window is between this close and the bind below.) Bound, never listening: no client's
        // connection can land in it.
        tcp::acceptor probe(pool.at(0));
        boost::system::error_code ec;
        probe.open(ep.protocol(), ec);
        if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec && ep.address().is_v6()) probe.set_option(asio::ip::v6_only(true), ec);
        if (!ec) probe.bind(ep, ec);
        if (ec == boost::system::errc::address_in_use)
            throw std::system_error(ec, "cannot listen on " + to_string(ep) +
                                            ": another process listens there (to share the port "
                                            "on purpose, for a replacement process, set "
                                            "reuse_port)");
        if (ec) throw std::system_error(ec, "cannot listen on " + to_string(ep));
        probe.close(ec);
    }
    tcp::endpoint bind_ep = ep;
    for (std::size_t i = 0; i < workers; ++i) {
        // SO_REUSEPORT always, also for one worker: a replacement process (which opts in with
        // share_port) can then join the port of whichever process runs now.
        auto acc = make_acceptor(pool.at(i), bind_ep, true);
        if (!acc) throw std::system_error(acc.error(), "cannot listen on " + to_string(bind_ep));
        if (i == 0) {
            local_ = acc->local_endpoint();
            bind_ep = local_;  // the other workers share the port the first one got
        }
        acceptors_.push_back(std::make_shared<tcp::acceptor>(std::move(*acc)));
        asio::co_spawn(pool.at(i), accept_loop(acceptors_.back(), handler), asio::detached);
    }
}

void Listener::close() {
    for (auto& a : acceptors_) {
        // Close on the acceptor's own thread to avoid racing its pending accept.
        asio::post(a->get_executor(), [a] {
            boost::system::error_code e;
            a->close(e);
        });
    }
}

}  // namespace cdn
