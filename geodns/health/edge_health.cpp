#include "geodns/health/edge_health.hpp"

#include "common/config.hpp"
#include "common/http_call.hpp"
#include "common/log.hpp"
#include "geodns/health/observations.hpp"
#include "geodns/health/quorum.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <mutex>
#include <set>

namespace cdn::geodns {

namespace asio = boost::asio;
namespace json = boost::json;

// One edge's own verdict and decision. Guarded by Engine::mu (the cell is atomic: the DNS workers
// read it without the lock).
struct EdgeHealth::Record {
    std::string id;
    std::string labels;                // edge="...",region="..."
    std::shared_ptr<HealthCell> cell;  // the decision
    bool own_up = true;
    TimePoint own_since;
    std::optional<TimePoint> last_check;
    unsigned consecutive_ok = 0;
    unsigned consecutive_failed = 0;
    Decision decision;   // since = epoch until it first changes: the first flip is never held
    QuorumOutcome last;  // the last outcome (votes, overruled, held)
    Counter* to_up = nullptr;
    Counter* to_down = nullptr;
    Counter* overruled_total = nullptr;
};

// One peer observer as last fetched. Guarded by Engine::mu.
struct EdgeHealth::Peer {
    std::string url;
    Url api;
    std::string observer;                // its id, learned from its answers
    std::optional<TimePoint> fetched;    // last good answer, on this observer's clock
    std::optional<TimePoint> attempted;  // last answer or failure
    std::map<std::string, PeerVerdict, std::less<>> verdicts;  // checked edges only
    std::string problem;                                       // the last failure; "" when fine
    bool in_flight = false;
};

struct EdgeHealth::Engine {
    explicit Engine(const Clock& c) : clock(c) {}
    const Clock& clock;
    mutable std::mutex mu;
    std::string observer = "geodns";
    QuorumSettings quorum;
    std::chrono::milliseconds interval{2000};
    bool enabled = true;
    std::map<std::string, std::shared_ptr<Record>, std::less<>> records;
    std::vector<std::shared_ptr<Peer>> peers;

    bool several() const { return quorum.observers > 1; }

    // The peers whose verdicts may count: not this observer answering under its own id (a peer
    // URL pointing back here) and each observer id once (two URLs of one geodns).
    std::vector<const Peer*> voters() const {
        std::vector<const Peer*> out;
        std::set<std::string, std::less<>> seen{observer};
        for (const auto& p : peers)
            out.push_back(p->fetched && seen.insert(p->observer).second ? p.get() : nullptr);
        return out;
    }

    void decide(Record& r, TimePoint now, const std::vector<const Peer*>& voters) {
        if (!enabled) return;
        std::vector<std::optional<PeerVerdict>> votes;
        votes.reserve(voters.size());
        for (const Peer* p : voters) {
            std::optional<PeerVerdict> v;
            if (p != nullptr)
                if (auto it = p->verdicts.find(r.id); it != p->verdicts.end()) v = it->second;
            votes.push_back(v);
        }
        const QuorumOutcome out = decide_quorum(r.own_up, votes, r.decision, now, quorum);
        if (out.changed) {
            r.cell->up.store(out.decision.up, std::memory_order_relaxed);
            if (several())
                log_info(
                    "geodns: edge {}: {} by quorum ({} of {} counted observers see it down, "
                    "quorum {})",
                    r.id, out.decision.up ? "up" : "down", out.down_votes, out.counted,
                    quorum.quorum);
        }
        if (out.overruled && !r.last.overruled) {
            if (r.overruled_total != nullptr) r.overruled_total->inc();
            if (several())
                log_warn(
                    "geodns: edge {}: this observer sees it {}, the quorum does not ({} of {} "
                    "counted observers see it down, quorum {}); answering it as {}",
                    r.id, r.own_up ? "up" : "down", out.down_votes, out.counted, quorum.quorum,
                    out.decision.up ? "up" : "down");
        }
        r.decision = out.decision;
        r.last = out;
    }

    void decide_all(TimePoint now) {
        const auto v = voters();
        for (auto& [id, r] : records)
            decide(*r, now, v);
    }

    void decide_one(Record& r, TimePoint now) { decide(r, now, voters()); }
};

struct EdgeHealth::Edge {
    std::string health_url;
    HttpCheckTarget target;
    std::string labels;  // edge="...",region="..."
    std::shared_ptr<Record> record;
    std::unique_ptr<HttpHealthChecker> checker;  // null: not checked (yet)
};

// Every interval: re-takes every decision (hold-downs run out, peer verdicts go stale) and
// fetches each peer's observations (at most one fetch per peer in flight).
class EdgeHealth::Poller : public std::enable_shared_from_this<Poller> {
  public:
    Poller(asio::any_io_executor ex, std::shared_ptr<Engine> engine,
           std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
        : executor_(std::move(ex)),
          engine_(std::move(engine)),
          interval_(interval),
          timeout_(timeout),
          timer_(executor_) {}
    void start() { asio::co_spawn(executor_, run(shared_from_this()), asio::detached); }
    void stop() {  // on the executor's thread
        stopping_ = true;
        timer_.cancel();
    }

  private:
    asio::awaitable<void> run(std::shared_ptr<Poller> self) {  // self: keeps it alive
        while (!stopping_) {
            std::vector<std::shared_ptr<Peer>> fetch;
            {
                std::lock_guard lock(engine_->mu);
                engine_->decide_all(engine_->clock.now());
                for (const auto& p : engine_->peers)
                    if (!p->in_flight) {
                        p->in_flight = true;
                        fetch.push_back(p);
                    }
            }
            for (auto& p : fetch)
                asio::co_spawn(executor_, fetch_one(self, std::move(p)), asio::detached);
            timer_.expires_after(interval_);
            boost::system::error_code ec;
            co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    asio::awaitable<void> fetch_one(std::shared_ptr<Poller> /*keep alive*/,
                                    std::shared_ptr<Peer> peer) {
        HttpCall call;
        call.target = "/v1/health/observations";
        call.timeout = timeout_;
        Url api;
        {
            std::lock_guard lock(engine_->mu);
            api = peer->api;
        }
        HttpCallResult r = co_await http_call(executor_, api, nullptr, call);
        std::optional<PeerObservations> got;
        std::string problem;
        if (!r.ok())
            problem = r.error;
        else if (r.status != 200)
            problem = fmt::format("answered {}", r.status);
        else {
            auto parsed = parse_observations(r.body);
            if (auto* e = std::get_if<std::string>(&parsed))
                problem = "unreadable observations: " + *e;
            else
                got = std::move(std::get<PeerObservations>(parsed));
        }
        std::lock_guard lock(engine_->mu);
        peer->in_flight = false;
        if (stopping_) co_return;
        const TimePoint now = engine_->clock.now();
        peer->attempted = now;
        if (got && got->observer == engine_->observer) {
            problem = fmt::format(
                "answers as observer \"{}\", this geodns' own id (a peer URL "
                "pointing back here?); ignored",
                got->observer);
            got.reset();
        }
        if (!got) {
            if (peer->problem.empty())
                log_warn("geodns: observer {}: {}; its verdicts stop counting once stale",
                         peer->url, problem);
            peer->problem = problem.empty() ? "failed" : problem;
            engine_->decide_all(now);
            co_return;
        }
        if (!peer->problem.empty() || !peer->fetched)
            log_info("geodns: observer {} ({}): reachable, {} edge verdict(s)", got->observer,
                     peer->url, got->edges.size());
        peer->problem.clear();
        peer->observer = got->observer;
        peer->fetched = now;
        peer->verdicts.clear();
        for (const PeerObservedEdge& e : got->edges)
            if (e.checked_ago) peer->verdicts[e.id] = PeerVerdict{e.up, now - *e.checked_ago};
        engine_->decide_all(now);
    }

    asio::any_io_executor executor_;
    std::shared_ptr<Engine> engine_;
    std::chrono::milliseconds interval_;
    std::chrono::milliseconds timeout_;
    asio::steady_timer timer_;
    bool stopping_ = false;  // touched on the executor's thread only, except by fetch_one
                             // (same executor)
};

namespace {

HttpCheckTarget target_of(const EdgeInfo& e) {
    auto url = parse_url(e.health_url);
    boost::system::error_code ec;
    auto addr = url ? asio::ip::make_address(url->host, ec) : asio::ip::address();
    if (!url || ec)
        throw ConfigError(
            fmt::format("edge {}: health URL \"{}\" needs a numeric address", e.id, e.health_url));
    HttpCheckTarget t;
    t.endpoint = tcp::endpoint(addr, url->port);
    t.host = url->authority();
    t.name = fmt::format("{} ({})", e.id, e.health_url);
    t.path = url->path;
    return t;
}

std::int64_t unix_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t ms_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

bool same_check_settings(const HttpCheckSettings& a, const HttpCheckSettings& b) {
    return a.path == b.path && a.interval == b.interval && a.timeout == b.timeout &&
           a.thresholds.rise == b.thresholds.rise && a.thresholds.fall == b.thresholds.fall &&
           a.user_agent == b.user_agent && a.subject == b.subject;
}

EdgeHealth::EdgeHealth(MetricsRegistry& registry, const Clock& clock)
    : registry_(registry), engine_(std::make_shared<Engine>(clock)) {
    // Series whose label sets follow the config and the fleet: computed at scrape time.
    registry_.gauge_samples_fn(
        "cdn_geodns_observer_up",
        "1 while the peer observer's verdicts are fresh (fetched within stale_after).",
        [engine = engine_] {
            MetricsRegistry::Samples out;
            std::lock_guard lock(engine->mu);
            const TimePoint now = engine->clock.now();
            for (const auto& p : engine->peers)
                out.emplace_back(
                    fmt::format(R"(observer="{}")", p->url),
                    p->fetched && now - *p->fetched <= engine->quorum.stale_after ? 1.0 : 0.0);
            return out;
        });
    registry_.gauge_samples_fn(
        "cdn_geodns_observers_down",
        "Observers (this one and fresh peers) whose verdict on the edge is down, at the last "
        "decision.",
        [engine = engine_] {
            MetricsRegistry::Samples out;
            std::lock_guard lock(engine->mu);
            for (const auto& [id, r] : engine->records)
                out.emplace_back(r->labels, static_cast<double>(r->last.down_votes));
            return out;
        });
    registry_.gauge_fn("cdn_geodns_quorum",
                       "Down verdicts needed to take an edge out of the answers.",
                       [engine = engine_] {
                           std::lock_guard lock(engine->mu);
                           return static_cast<double>(engine->quorum.quorum);
                       });
    registry_.gauge_fn("cdn_geodns_observers", "Configured health observers, this one included.",
                       [engine = engine_] {
                           std::lock_guard lock(engine->mu);
                           return static_cast<double>(engine->quorum.observers);
                       });
}

EdgeHealth::~EdgeHealth() {
    stop();
}

void EdgeHealth::register_metrics(Edge& edge, const std::string& labels) {
    edge.labels = labels;
    Counter* to_up =
        &registry_.counter("cdn_geodns_health_transitions_total",
                           "Edge health flips seen by geodns' checks.", labels + R"(,to="up")");
    Counter* to_down =
        &registry_.counter("cdn_geodns_health_transitions_total",
                           "Edge health flips seen by geodns' checks.", labels + R"(,to="down")");
    Counter* overruled = &registry_.counter(
        "cdn_geodns_quorum_overruled_total",
        "Times this observer's own verdict on the edge was overruled by the quorum rule.", labels);
    registry_.gauge_fn(
        "cdn_geodns_edge_up", "1 while geodns answers with the edge (the quorum decision).",
        [cell = edge.record->cell] { return cell->up.load(std::memory_order_relaxed) ? 1.0 : 0.0; },
        labels);
    std::lock_guard lock(engine_->mu);
    edge.record->labels = labels;
    edge.record->to_up = to_up;
    edge.record->to_down = to_down;
    edge.record->overruled_total = overruled;
}

void EdgeHealth::unregister_metrics(const Edge& edge) {
    registry_.remove("cdn_geodns_health_transitions_total", edge.labels + R"(,to="up")");
    registry_.remove("cdn_geodns_health_transitions_total", edge.labels + R"(,to="down")");
    registry_.remove("cdn_geodns_quorum_overruled_total", edge.labels);
    registry_.remove("cdn_geodns_edge_up", edge.labels);
}

void EdgeHealth::start_checker(const std::string& id, Edge& edge) {
    edge.checker.reset();  // stops the old one first: it never writes the record again
    if (!enabled_ || stopped_ || !executor_) return;
    HttpCheckTarget t = edge.target;
    {
        std::lock_guard lock(engine_->mu);
        t.initially_up = edge.record->own_up;
    }
    std::vector<HttpCheckTarget> targets;
    targets.push_back(std::move(t));
    edge.checker =
        std::make_unique<HttpHealthChecker>(*executor_, std::move(targets), settings_, nullptr);
    edge.checker->set_on_check(
        [engine = engine_, record = edge.record](std::size_t, bool success, bool up) {
            std::lock_guard lock(engine->mu);
            Record& r = *record;
            const TimePoint now = engine->clock.now();
            r.last_check = now;
            if (success) {
                ++r.consecutive_ok;
                r.consecutive_failed = 0;
            } else {
                ++r.consecutive_failed;
                r.consecutive_ok = 0;
            }
            if (up == r.own_up) return;
            r.own_up = up;
            r.own_since = now;
            (up ? r.to_up : r.to_down)->inc();
            engine->decide_one(r, now);
        });
    edge.checker->start();
    log(LogLevel::debug, "geodns: checking edge {} at {}", id, edge.health_url);
}

void EdgeHealth::restart_poller() {
    if (poller_) {
        poller_->stop();
        poller_.reset();
    }
    if (!enabled_ || stopped_ || !executor_) return;
    poller_ = std::make_shared<Poller>(*executor_, engine_, settings_.interval, settings_.timeout);
    poller_->start();
}

std::shared_ptr<const HealthTable> EdgeHealth::update(
    const Fleet& fleet, const HttpCheckSettings& settings, bool enabled,
    const std::set<std::string, std::less<>>& start_up, const ObserverSettings& observers) {
    // Everything that can fail first, so a bad fleet changes nothing.
    std::vector<HttpCheckTarget> targets;
    targets.reserve(fleet.edges.size());
    for (const EdgeInfo& e : fleet.edges)
        targets.push_back(target_of(e));

    const bool restart_all =
        !first_ && (enabled != enabled_ || !same_check_settings(settings, settings_));
    const bool restart_polling = first_ || restart_all || !(observers == observers_);
    settings_ = settings;
    enabled_ = enabled;
    observers_ = observers;
    const TimePoint now = engine_->clock.now();

    std::map<std::string, std::unique_ptr<Edge>, std::less<>> next;
    std::vector<std::shared_ptr<HealthCell>> cells;
    std::vector<std::string> added, added_up;
    std::vector<std::pair<std::string, Edge*>> to_start;
    for (std::size_t i = 0; i < fleet.edges.size(); ++i) {
        const EdgeInfo& e = fleet.edges[i];
        const std::string labels =
            fmt::format(R"(edge="{}",region="{}")", e.id, fleet.regions[e.region].id);
        auto it = edges_.find(e.id);
        std::unique_ptr<Edge> edge;
        if (it != edges_.end()) {
            edge = std::move(it->second);
            edges_.erase(it);
            if (edge->labels != labels) {  // moved to another region
                unregister_metrics(*edge);
                register_metrics(*edge, labels);
            }
            if (restart_all || edge->health_url != e.health_url || !edge->checker)
                to_start.emplace_back(e.id, edge.get());
        } else {
            edge = std::make_unique<Edge>();
            // A fresh fleet is assumed healthy until checked; an edge added to a running one is
            // not answered before its checks pass.
            const bool up = first_ || !enabled || start_up.contains(e.id);
            edge->record = std::make_shared<Record>();
            edge->record->id = e.id;
            edge->record->cell = std::make_shared<HealthCell>(up);
            edge->record->own_up = up;
            edge->record->own_since = now;
            edge->record->decision = Decision{up, TimePoint{}};
            register_metrics(*edge, labels);
            if (!first_) (up ? added_up : added).push_back(e.id);
            to_start.emplace_back(e.id, edge.get());
        }
        edge->health_url = e.health_url;
        edge->target = std::move(targets[i]);
        cells.push_back(edge->record->cell);
        next.emplace(e.id, std::move(edge));
    }
    // What is left went away: no more checks, no more metrics.
    std::vector<std::string> removed;
    for (auto& [id, edge] : edges_) {
        edge->checker.reset();
        unregister_metrics(*edge);
        removed.push_back(id);
    }
    edges_ = std::move(next);
    if (!enabled) {
        for (auto& [id, edge] : edges_)
            edge->checker.reset();
    }
    {
        std::lock_guard lock(engine_->mu);
        engine_->observer = observers.observer;
        engine_->quorum = QuorumSettings{observers.observers(), observers.quorum,
                                         observers.stale_after, observers.hold_down};
        engine_->interval = settings.interval;
        engine_->enabled = enabled;
        engine_->records.clear();
        for (auto& [id, edge] : edges_) {
            engine_->records.emplace(id, edge->record);
            if (!enabled) {
                edge->record->own_up = true;
                edge->record->decision.up = true;
                edge->record->last = QuorumOutcome{};
                edge->record->cell->up.store(true, std::memory_order_relaxed);
            }
        }
        std::vector<std::shared_ptr<Peer>> peers;
        for (std::size_t i = 0; i < observers.peers.size(); ++i) {
            std::shared_ptr<Peer> p;
            for (const auto& old : engine_->peers)
                if (old->url == observers.peers[i]) p = old;
            if (!p) {
                p = std::make_shared<Peer>();
                p->url = observers.peers[i];
                p->api = observers.peer_urls[i];
            }
            peers.push_back(std::move(p));
        }
        engine_->peers = std::move(peers);
    }
    if (enabled) {
        for (auto& [id, edge] : to_start)
            start_checker(id, *edge);
    }
    if (restart_polling) restart_poller();
    if (!added.empty() || !added_up.empty() || !removed.empty())
        log_info("geodns: fleet changed: added [{}]{}{}, removed [{}] (no longer checked)",
                 fmt::join(added, ", "), enabled ? " (down until their checks pass)" : "",
                 added_up.empty() ? std::string()
                                  : fmt::format(", added [{}] (registered: up until their "
                                                "checks fail)",
                                                fmt::join(added_up, ", ")),
                 fmt::join(removed, ", "));
    if (restart_all)
        log_info("geodns: health checks {}", enabled ? "restarted with the new [health] settings"
                                                     : "are off; every edge counts as up");
    first_ = false;
    return std::make_shared<const HealthTable>(std::move(cells));
}

void EdgeHealth::start(asio::any_io_executor executor) {
    if (executor_ || stopped_) return;
    executor_ = std::move(executor);
    for (auto& [id, edge] : edges_)
        start_checker(id, *edge);
    restart_poller();
    std::lock_guard lock(engine_->mu);
    if (engine_->several())
        log_info(
            "geodns: observer \"{}\" with {} peer(s): an edge leaves the answers when {} of "
            "{} observers see it down",
            engine_->observer, engine_->peers.size(), engine_->quorum.quorum,
            engine_->quorum.observers);
}

void EdgeHealth::stop() {
    stopped_ = true;
    for (auto& [id, edge] : edges_)
        edge->checker.reset();
    if (poller_) {
        poller_->stop();
        poller_.reset();
    }
}

void EdgeHealth::decide_all() {
    std::lock_guard lock(engine_->mu);
    engine_->decide_all(engine_->clock.now());
}

std::string EdgeHealth::observations_json() const {
    Observations o;
    std::lock_guard lock(engine_->mu);
    o.observer = engine_->observer;
    o.now = engine_->clock.now();
    o.interval = engine_->interval;
    for (const auto& [id, r] : engine_->records) {
        ObservedEdge e;
        e.id = id;
        e.up = r->own_up;
        e.since = r->own_since;
        // With checks off nothing here is a verdict: publish none, so no peer counts it.
        if (engine_->enabled) e.last_check = r->last_check;
        e.consecutive_ok = r->consecutive_ok;
        e.consecutive_failed = r->consecutive_failed;
        o.edges.push_back(std::move(e));
    }
    return geodns::observations_json(o);
}

json::object EdgeHealth::quorum_json(std::string_view edge_id) const {
    std::lock_guard lock(engine_->mu);
    auto it = engine_->records.find(edge_id);
    if (it == engine_->records.end()) return {};
    const Record& r = *it->second;
    const TimePoint now = engine_->clock.now();
    json::object own{{"up", r.own_up},
                     {"since_ms", unix_ms(r.own_since)},
                     {"last_check_ms",
                      r.last_check ? json::value(unix_ms(*r.last_check)) : json::value(nullptr)},
                     {"consecutive_ok", r.consecutive_ok},
                     {"consecutive_failed", r.consecutive_failed}};
    json::array observers;
    const auto voters = engine_->voters();
    for (std::size_t i = 0; i < engine_->peers.size(); ++i) {
        const Peer& p = *engine_->peers[i];
        json::object o{{"observer", p.observer}, {"url", p.url}};
        auto v = p.verdicts.find(r.id);
        if (voters[i] != nullptr && v != p.verdicts.end()) {
            o["up"] = v->second.up;
            o["checked_ms_ago"] = ms_between(v->second.checked, now);
            o["counted"] = now - v->second.checked <= engine_->quorum.stale_after;
        } else {
            o["up"] = nullptr;
            o["counted"] = false;
        }
        observers.push_back(std::move(o));
    }
    json::object decision{
        {"up", r.cell->up.load(std::memory_order_relaxed)},
        {"since_ms", r.decision.since == TimePoint{} ? json::value(nullptr)
                                                     : json::value(unix_ms(r.decision.since))},
        {"down_votes", r.last.down_votes},
        {"counted", r.last.counted},
        {"quorum", engine_->quorum.quorum},
        {"overruled", r.last.overruled},
        {"held", r.last.held}};
    return json::object{{"own", std::move(own)},
                        {"observers", std::move(observers)},
                        {"decision", std::move(decision)}};
}

json::object EdgeHealth::observers_json() const {
    std::lock_guard lock(engine_->mu);
    const TimePoint now = engine_->clock.now();
    json::array peers;
    for (const auto& p : engine_->peers) {
        const bool fresh = p->fetched && now - *p->fetched <= engine_->quorum.stale_after;
        peers.push_back(
            json::object{{"url", p->url},
                         {"observer", p->observer},
                         {"reachable", fresh},
                         {"fetched_ms_ago", p->fetched ? json::value(ms_between(*p->fetched, now))
                                                       : json::value(nullptr)},
                         {"error", p->problem}});
    }
    return json::object{{"observer", engine_->observer},
                        {"observers", engine_->quorum.observers},
                        {"quorum", engine_->quorum.quorum},
                        {"stale_after_ms", engine_->quorum.stale_after.count()},
                        {"hold_down_ms", engine_->quorum.hold_down.count()},
                        {"peers", std::move(peers)}};
}

}  // namespace cdn::geodns
