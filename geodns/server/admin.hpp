#pragma once
// geodns' admin port (HTTP/1.1, keep-alive): GET /metrics (Prometheus text), GET /healthz
// (liveness: 200 "ok"), GET /v1/edges (each edge's id, region, addresses, health URL and current
// up/down as JSON, from the generation being served: it follows reloads; with the health view,
// also this observer's own verdict, each peer observer's and the quorum decision), GET
// /v1/health/observations (this observer's own verdicts, what its peers fetch). No
// authentication: bind it to loopback or a private network (geodns/README.md). Kept off the DNS
// addresses. The registry is read-only here; run the listener on the thread that registers
// metrics (worker 0), since a reload adds and removes them.
#include "common/metrics.hpp"
#include "common/runtime.hpp"
#include "geodns/health/edge_health.hpp"
#include "geodns/server/dns_server.hpp"

namespace cdn::geodns {

// The connection handler for a Listener on the admin address. registry, served and health (may
// be null: no quorum view, no observations) must outlive the listener.
ConnectionHandler admin_handler(const MetricsRegistry& registry, const ServedState& served,
                                const EdgeHealth* health = nullptr);

}  // namespace cdn::geodns
