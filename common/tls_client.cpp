#include "common/tls_client.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace cdn {
namespace {

namespace ssl = boost::asio::ssl;

}  // namespace

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    return !ec;
}

std::shared_ptr<ssl::context> make_tls_client_context(const TlsClientOptions& options) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (!options.ca_file.empty()) {
        const std::string file = options.ca_file.string();
        // A separate read first: OpenSSL's own message for a missing file is obscure.
        std::ifstream in(options.ca_file);
        if (!in)
            throw std::runtime_error(
                fmt::format("cannot read CA bundle {}: {}", file, std::strerror(errno)));
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(native, file.c_str(), nullptr) != 1)
            throw std::runtime_error(
                fmt::format("{} is not a PEM CA bundle: {}", file, openssl_errors()));
    } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
        throw std::runtime_error("cannot load the system CA store: " + openssl_errors());
    }
    SSL_CTX_set_verify(native, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    return ctx;
}

bool prepare_tls_client(SSL* ssl, const TlsClientConfig& config) {
    const std::string& name = config.server_name;
    if (name.empty()) return !config.verify;  // nothing to check against
    const bool ip = is_ip_literal(name);
    // SSL_set_tlsext_host_name, without the macro's C cast.
    if (!ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                        const_cast<char*>(name.c_str())) != 1)
        return false;
    if (!config.verify) return true;
    if (ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name.c_str()) == 1;
}

std::string tls_handshake_failure(const boost::system::error_code& ec, SSL* ssl) {
    if (ssl != nullptr && ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        const long result = SSL_get_verify_result(ssl);
        if (result != X509_V_OK)
            return fmt::format("certificate verify failed: {}",
                               X509_verify_cert_error_string(result));
        return "certificate verify failed";
    }
    if (ec == ssl::error::stream_truncated) return "the server closed the connection";
    return ec.message();
}

}  // namespace cdn
