#pragma once
// The edge's registration in purge_api's fleet registry (PUT /v1/registry/ID, then
// POST /v1/registry/ID/heartbeat every renew_every_ms the answer names, DELETE on a drain), so
// geodns learns the edge without anyone editing its config. Uses [purge] api, token and TLS.
//
// - Registered: renews every renew_every_ms; a 404 (the lease lapsed, or purge_api lost its
//   registry) registers again at once.
// - Refused (409: another live instance holds the id): logs an error naming the holder and tries
//   again every lease period (it gets the id once the holder's lease lapses or it deregisters);
//   the edge keeps serving, registered() stays false, and purge_api refuses this instance's purge
//   stream too (the subscriber passes the same instance), so no purge is taken under a stolen id.
// - purge_api unreachable or answering something else: retried with backoff (0.5 s doubling to
//   5 s; 30 s for a 4xx such as a wrong token).
// Each state change is logged once (not every attempt). stop() deregisters (at most 2 s).
//
// Several purge_api instances (the list of [purge] api): the edge registers with one at a time,
// the first that accepts. A registration that fails there (unreachable, or an answer other than
// 200 and 409) or a heartbeat that does (unreachable, or an answer other than 200, 404 and 409)
// moves on to the next instance and registers there: at once, the failover rule of the purge
// stream (purge_api_rotation.hpp); the backoff above applies only once every instance has
// failed in a row. A 409 is no reason to move (the holder is alive). The instances do not share
// their registries (yet), so the registration lives on the one instance the edge last reached;
// the one it left lets its lease lapse.
//
// Threading: everything runs on the executor given (one strand: worker 0's io_context);
// registered() and finished() may be read from any thread.
#include "common/log.hpp"
#include "common/registration.hpp"
#include "edge/proxy/purge_api_rotation.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cdn::edge::proxy {

struct RegistrarSettings {
    std::vector<PurgeApiTarget> apis;  // purge_api's instances, in order; at least one
    std::string token;
    registration::Registration reg;  // id and instance set
};

// Held by shared_ptr: its coroutine keeps it alive until it ends.
class Registrar : public std::enable_shared_from_this<Registrar> {
  public:
    // on_first_attempt runs once on the executor, after the first registration attempt (whatever
    // its outcome): main starts the purge stream then, so a restarted edge that takes its id
    // over is not refused its stream in the meantime.
    Registrar(boost::asio::any_io_executor executor, RegistrarSettings settings,
              std::function<void()> on_first_attempt = {});
    void start();
    // Ends the loop and deregisters if registered (from any thread).
    void stop();

    bool registered() const { return registered_.load(); }
    // True once the loop has ended (after the deregistration, if any).
    bool finished() const { return finished_.load(); }

  private:
    boost::asio::awaitable<void> run(std::shared_ptr<Registrar> self);
    boost::asio::awaitable<void> pause(std::chrono::milliseconds d);
    // Logs `line` at `level` when `state` differs from the last one logged for the current
    // instance.
    void note(const std::string& state, LogLevel level, const std::string& line);
    void first_attempt_done();

    boost::asio::any_io_executor executor_;
    RegistrarSettings settings_;  // its apis moved into rotation_
    PurgeApiRotation rotation_;
    std::function<void()> on_first_attempt_;
    boost::asio::steady_timer timer_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> registered_{false};
    std::atomic<bool> finished_{false};
    std::vector<std::string> states_;  // per instance (rotation_'s order)
};

}  // namespace cdn::edge::proxy
