#include "common/tls_server.hpp"

#include "common/config.hpp"
#include "common/tls_client.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace cdn {
namespace {

namespace ssl = boost::asio::ssl;

// Mozilla "intermediate" (v5.7) for TLS 1.2, without the DHE suites (no DH parameters here).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";

std::string asn1_time(const ASN1_TIME* t) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return "?";
    ASN1_TIME_print(bio, t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(n > 0 ? n : 0));
    BIO_free(bio);
    return s;
}

void check_readable(const std::filesystem::path& path, const std::string& where) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        throw ConfigError(
            fmt::format("{}: {}: cannot read: {}", where, path.string(), std::strerror(errno)));
    std::fclose(f);
}

}  // namespace

std::unique_ptr<ssl::context> make_tls_server_context(const std::filesystem::path& cert,
                                                      const std::filesystem::path& key,
                                                      std::string_view where_view) {
    const std::string where(where_view);
    ERR_clear_error();
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* h = ctx->native_handle();
    SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION);
    SSL_CTX_set_options(
        h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(h, kGroups) != 1)
        throw ConfigError(fmt::format("{}: cipher setup failed: {}", where, openssl_errors()));

    check_readable(cert, where + ".cert");
    if (SSL_CTX_use_certificate_chain_file(h, cert.c_str()) != 1)
        throw ConfigError(fmt::format("{}.cert: {}: not a PEM certificate chain: {}", where,
                                      cert.string(), openssl_errors()));
    check_readable(key, where + ".key");
    if (SSL_CTX_use_PrivateKey_file(h, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        const unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            throw ConfigError(fmt::format("{}.key: {}: does not match the certificate {}", where,
                                          key.string(), cert.string()));
        }
        throw ConfigError(fmt::format("{}.key: {}: not a usable PEM private key: {}", where,
                                      key.string(), openssl_errors()));
    }
    if (SSL_CTX_check_private_key(h) != 1)
        throw ConfigError(fmt::format("{}.key: {}: does not match the certificate {}: {}", where,
                                      key.string(), cert.string(), openssl_errors()));
    X509* leaf = SSL_CTX_get0_certificate(h);
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
        throw ConfigError(fmt::format("{}.cert: {}: certificate expired (notAfter {})", where,
                                      cert.string(), asn1_time(X509_get0_notAfter(leaf))));
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0)
        throw ConfigError(fmt::format("{}.cert: {}: certificate not valid yet (notBefore {})",
                                      where, cert.string(), asn1_time(X509_get0_notBefore(leaf))));
    return ctx;
}

}  // namespace cdn
