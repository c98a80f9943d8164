#pragma once
// Server-side TLS contexts with the project's settings, shared by the edge's listeners and
// purge_api: TLS 1.2 and 1.3 only, Mozilla "intermediate" ciphers for 1.2 (ECDHE with AES-GCM or
// ChaCha20-Poly1305) in the server's order, OpenSSL's TLS 1.3 suites, groups X25519, P-256 and
// P-384, no compression, no renegotiation. The certificate and key are read and checked when the
// context is made, so a bad file is a start-up (or reload) error, not a failed handshake later.
#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <string_view>

namespace cdn {

// A server context holding cert (PEM chain, leaf first) and key (PEM). Throws cdn::ConfigError
// naming `where` (e.g. "tls.certificates[0]", giving "tls.certificates[0].cert: FILE: ...") and
// the file when a file cannot be read, is not PEM, when the key does not match the certificate,
// or when the certificate has expired or is not valid yet. The caller adds what is its own
// (session cache, tickets, SNI, ALPN) before sharing the context.
std::unique_ptr<boost::asio::ssl::context> make_tls_server_context(
    const std::filesystem::path& cert, const std::filesystem::path& key, std::string_view where);

}  // namespace cdn
