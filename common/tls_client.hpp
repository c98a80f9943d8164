#pragma once
// Client-side TLS towards upstream servers (the edge's https:// origins and their health checks):
// one OpenSSL context per configuration, shared by every connection and worker (creating SSL
// objects from one SSL_CTX is thread-safe), and the per-connection steps every client repeats:
// SNI, the name check, and a readable reason when a handshake fails.
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <filesystem>
#include <memory>
#include <string>

struct ssl_st;  // SSL

namespace cdn {

struct TlsClientOptions {
    bool verify = true;             // the chain against ca_file (or the system store) and the name
    std::filesystem::path ca_file;  // PEM bundle of trusted CAs; empty: the system store
};

// A TLS 1.2+ client context. Throws std::runtime_error with a readable reason (naming ca_file)
// when the CA bundle cannot be read or holds no certificate.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(const TlsClientOptions& options);

// What a client needs to open TLS connections to one server. Immutable once built.
struct TlsClientConfig {
    std::shared_ptr<boost::asio::ssl::context> context;  // shared, never null
    std::string server_name;  // sent as SNI (unless an IP literal) and checked when verifying
    bool verify = true;
};

// Prepares a fresh client SSL object before its handshake: SNI for a DNS name (none for an IP
// literal, RFC 6066), and with verification on, the DNS name or IP address the certificate must
// match. False when OpenSSL refuses the name.
bool prepare_tls_client(ssl_st* ssl, const TlsClientConfig& config);

// Why a client handshake failed, e.g. "certificate verify failed: hostname mismatch" or
// "certificate verify failed: self-signed certificate"; ec's message otherwise.
std::string tls_handshake_failure(const boost::system::error_code& ec, ssl_st* ssl);

// The queued OpenSSL errors as text, "; "-separated (and the queue cleared); "unknown OpenSSL
// error" when the queue is empty.
std::string openssl_errors();

// True when host is an IPv4 or IPv6 literal (without brackets).
bool is_ip_literal(const std::string& host);

}  // namespace cdn
