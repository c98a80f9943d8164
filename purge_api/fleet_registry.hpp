#pragma once
// The fleet registry: edges register themselves (common/registration.hpp) and keep a lease
// alive; geodns and operators read the live registrations. Pure logic on an injected clock
// (tests move a manual clock), plus an optional file (DATA_DIR/registry.json) it is persisted
// to on every change of membership, written atomically (tmp, fsync, rename, fsync of the
// directory). Thread-safe: one mutex; the file is written under it (registrations are rare).
//
// - A lease lasts lease_ttl from the last registration or heartbeat; edges renew every third.
// - An id whose live lease is held by another instance is refused (the holder is returned),
//   unless the newcomer has the same http URL and addresses: the same edge restarted before its
//   lease lapsed, which takes the id over.
// - Expiry is evaluated against the clock: every read and sweep() drop lapsed leases.
// - version() grows with every change of the listing (register, update, takeover, deregister,
//   expiry; not a plain renewal), and waiters (the long polls of GET /v1/registry) are woken.
// - Loaded at start-up with every lease restarted at full TTL from load time, so edges get a
//   chance to renew after a purge_api restart; the version continues past the stored one.
// - Several instances (the etcd store): local changes go out through the Replica, the others'
//   come in through merge(), so every instance lists the same edges and an edge may renew its
//   lease on any of them (each instance still counts its own version).
#include "common/clock.hpp"
#include "common/registration.hpp"
#include "purge_api/edge_registry.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cdn::purge_api {

using registration::RegisteredEdge;
using registration::Registration;
using registration::RegistryListing;

struct FleetRegistryOptions {
    std::chrono::milliseconds lease_ttl{10'000};
    std::filesystem::path file;  // empty: kept in memory only
};

class FleetRegistry {
  public:
    FleetRegistry(const Clock& clock, FleetRegistryOptions options);
    FleetRegistry(const FleetRegistry&) = delete;
    FleetRegistry& operator=(const FleetRegistry&) = delete;

    // Reads the file (if configured and present). Returns a problem to log when it is corrupt:
    // the registry then starts empty (not fatal), and the next change rewrites the file.
    std::optional<std::string> load();

    enum class PutOutcome { registered, renewed, updated, taken_over, refused };
    struct PutResult {
        PutOutcome outcome = PutOutcome::registered;
        std::optional<RegisteredEdge> holder;  // refused: who holds the id
        std::uint64_t version = 0;
    };
    // PUT /v1/registry/ID (r is validated).
    PutResult put(const Registration& r);

    enum class RenewOutcome { renewed, unknown, other_instance };
    struct RenewResult {
        RenewOutcome outcome = RenewOutcome::unknown;
        std::optional<RegisteredEdge> holder;  // other_instance
        std::uint64_t version = 0;
    };
    // POST /v1/registry/ID/heartbeat: unknown when there is no live lease for the id.
    RenewResult heartbeat(std::string_view id, std::string_view instance);
    // DELETE /v1/registry/ID: unknown when no live lease; other_instance leaves it in place.
    RenewResult remove(std::string_view id, std::string_view instance);

    // The live registrations, by id (lapsed leases are dropped first).
    RegistryListing list();
    // Drops lapsed leases; returns how many.
    std::size_t sweep();
    std::uint64_t version() const;
    std::size_t size();
    // The live registration of `id` when another instance holds it (for GET /v1/stream).
    std::optional<RegisteredEdge> held_by_other(std::string_view id, std::string_view instance);

    // Woken (from any thread) after every change of version; kept while the waiter lives.
    void add_waiter(const std::shared_ptr<StreamWaker>& waker);

    // ---- Shared between instances (the etcd store) ----
    // Where this instance's registrations, renewals and deregistrations go for the others (set
    // once, before serving; called outside the lock). Expiry is not sent: every instance
    // expires a lease by its end time.
    struct Replica {
        std::function<void(const RegisteredEdge&)> put;
        std::function<void(const std::string& id)> removed;
    };
    void set_replica(Replica r);
    // A registration or renewal another instance took: the newer one wins (for the same edge
    // process, the later renewal; between two processes, the later registration). Ignored once
    // lapsed.
    void merge(const RegisteredEdge& e);
    // Another instance deregistered `id`.
    void merge_removed(std::string_view id);
    // One entry as replicated (a listing of one, so it parses like GET /v1/registry).
    std::string encode(const RegisteredEdge& e) const;
    static std::optional<RegisteredEdge> decode(std::string_view value);

    std::chrono::milliseconds lease_ttl() const { return options_.lease_ttl; }
    std::chrono::milliseconds renew_every() const { return options_.lease_ttl / 3; }
    const std::filesystem::path& file() const { return options_.file; }
    std::int64_t now_ms() const;  // the injected clock, in unix ms

    // cdn_purge_api_registry_events_total{event=...}
    std::uint64_t registers() const { return registers_.load(); }
    std::uint64_t renews() const { return renews_.load(); }
    std::uint64_t expires() const { return expires_.load(); }
    std::uint64_t deregisters() const { return deregisters_.load(); }
    std::uint64_t refused() const { return refused_.load(); }
    void count_refused() { ++refused_; }  // a stream refused for a held id

  private:
    // With mu_ held: drops lapsed leases (counting them); true when any went.
    bool sweep_locked(std::int64_t now);
    // With mu_ held: the listing changed: version + 1, the file rewritten, waiters collected.
    void changed_locked(std::vector<std::shared_ptr<StreamWaker>>& wake);
    void persist_locked();
    static void wake(std::vector<std::shared_ptr<StreamWaker>>& wakers);

    const Clock& clock_;
    FleetRegistryOptions options_;
    mutable std::mutex mu_;
    std::map<std::string, RegisteredEdge, std::less<>> edges_;
    std::uint64_t version_ = 0;
    std::vector<std::weak_ptr<StreamWaker>> waiters_;
    std::atomic<std::uint64_t> registers_{0}, renews_{0}, expires_{0}, deregisters_{0}, refused_{0};
    bool persist_failed_ = false;  // logged once until a write works again
    Replica replica_;
};

// A one-line description of a holder for errors and logs: "instance 9f2c... (http
// http://127.0.0.1:8080, ipv4 127.0.0.1, region eu-central, registered since 2026-...Z)".
std::string describe_holder(const RegisteredEdge& e);

}  // namespace cdn::purge_api
