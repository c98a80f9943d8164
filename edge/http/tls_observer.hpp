#pragma once
// What the TLS listeners report about handshakes (for metrics), without OpenSSL types, so the
// metrics code need not see OpenSSL headers.
#include <string_view>

namespace cdn::edge::http {

// Why a handshake failed (the `reason` label of cdn_edge_tls_handshake_failures_total).
enum class TlsFailure {
    timeout,   // not complete within the handshake timeout
    closed,    // the client went away (or reset) before finishing
    version,   // only protocol versions we refuse (SSL 3, TLS 1.0, 1.1)
    cipher,    // no cipher suite in common
    protocol,  // anything else: garbage, plain HTTP, malformed records
};
inline constexpr TlsFailure kAllTlsFailures[] = {TlsFailure::timeout, TlsFailure::closed,
                                                 TlsFailure::version, TlsFailure::cipher,
                                                 TlsFailure::protocol};
std::string_view label(TlsFailure f);
// Told about every handshake (metrics). Must not block; called on the connection's worker.
class TlsObserver {
  public:
    virtual ~TlsObserver() = default;
    virtual void on_handshake(std::string_view version) = 0;  // "1.2" or "1.3"
    virtual void on_handshake_failure(TlsFailure reason) = 0;
};

}  // namespace cdn::edge::http
