#pragma once
// The TLS listener settings of the edge ([tls] in the TOML, --tls-* flags): plain data, parsed
// and validated with the rest of the config, read-only afterwards. No OpenSSL types here; the
// contexts built from these live in tls_context.hpp.
#include "common/net.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace cdn::edge::http {

struct TlsCertificate {
    std::filesystem::path cert;  // PEM: the leaf first, then its intermediates
    std::filesystem::path key;   // PEM private key matching the leaf
    // Server names this certificate answers for ("www.example.com", "*.example.com"); empty =
    // the DNS names of the certificate's subjectAltName.
    std::vector<std::string> hosts;
};

struct TlsSettings {
    std::vector<tcp::endpoint> listen;
    // The first is the default: it answers an absent or unknown SNI name.
    std::vector<TlsCertificate> certificates;
    // Protocols offered through ALPN, in the server's order of preference: "http/1.1", and
    // "h2" for HTTP/2. A client whose list shares none of them still gets a handshake (ALPN is
    // then ignored, RFC 7301 allows it) and speaks HTTP/1.1.
    std::vector<std::string> alpn = {"http/1.1"};
    std::chrono::milliseconds handshake_timeout{10'000};  // a slower handshake is cut
    // Session-ticket keys are replaced this often; a ticket resumes for up to two periods.
    std::chrono::seconds ticket_key_rotation{std::chrono::hours(12)};
};

}  // namespace cdn::edge::http
