#pragma once
// Server-side TLS for the edge: one OpenSSL context per configured certificate, chosen for each
// handshake by SNI (exact name, then a one-label wildcard, else the first certificate). Every
// context: TLS 1.2 and 1.3 only, Mozilla "intermediate" ciphers (ECDHE with AES-GCM or
// ChaCha20-Poly1305 for 1.2, OpenSSL's defaults for 1.3) in the server's order, no compression,
// no renegotiation, a server session cache and session tickets, ALPN from the settings.
//
// Thread-safety: a TlsContextSet is immutable once built and may be shared by every worker. A
// certificate reload builds a new set and swaps a shared_ptr; each connection holds the set it
// started with for its whole life, so live connections never see a context go away.
#include "edge/http/tls_observer.hpp"
#include "edge/http/tls_settings.hpp"

#include <boost/asio/ssl/context.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cdn::edge::http {

// Maps the error a handshake completed with to its reason.
TlsFailure classify_handshake_error(const boost::system::error_code& ec);

class TlsContextSet {
  public:
    // Reads every certificate and key and builds the contexts. Throws cdn::ConfigError naming
    // the setting and the file when a file cannot be read, is not PEM, has expired or is not yet
    // valid, or when the key does not match the certificate.
    static std::shared_ptr<const TlsContextSet> load(const TlsSettings& settings);

    TlsContextSet(const TlsContextSet&) = delete;
    TlsContextSet& operator=(const TlsContextSet&) = delete;
    ~TlsContextSet();

    // The context a new connection starts with (the first certificate's); SNI may switch it.
    boost::asio::ssl::context& initial_context() const { return *contexts_.front(); }
    std::chrono::milliseconds handshake_timeout() const { return handshake_timeout_; }
    // Index of the certificate for a server name (any case, trailing dot allowed); 0 (the
    // default) when no certificate lists it.
    std::size_t select(std::string_view server_name) const;
    std::size_t size() const { return contexts_.size(); }
    // The names certificate i answers for (after SAN defaulting), lower-case.
    const std::vector<std::string>& hosts(std::size_t i) const { return hosts_[i]; }

  private:
    TlsContextSet() = default;
    static int on_servername(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                       const unsigned char* in, unsigned int inlen, void* arg);

    std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
    std::vector<std::vector<std::string>> hosts_;
    std::unordered_map<std::string, std::size_t> exact_;
    std::vector<std::pair<std::string, std::size_t>> wildcard_;  // ".example.com" -> index
    std::string alpn_wire_;  // length-prefixed protocol names, server preference first
    std::chrono::milliseconds handshake_timeout_{10'000};
};

}  // namespace cdn::edge::http
