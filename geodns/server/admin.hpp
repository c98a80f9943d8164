#pragma once
// geodns' admin port (HTTP/1.1, keep-alive): GET /metrics (Prometheus text), GET /healthz
// (liveness: 200 "ok"), GET /v1/edges (each edge's id, region, addresses, health URL and current
// up/down as JSON). Kept off the DNS addresses. Thread-safe: the registry and table are read-only
// here.
#include "common/metrics.hpp"
#include "common/runtime.hpp"
#include "geodns/policy/fleet.hpp"

namespace cdn::geodns {

// The connection handler for a Listener on the admin address. registry, fleet and table must
// outlive the listener.
ConnectionHandler admin_handler(const MetricsRegistry& registry, const Fleet& fleet,
                                const HealthTable& table);

}  // namespace cdn::geodns
