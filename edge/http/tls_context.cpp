#include "edge/http/tls_context.hpp"

#include "common/config.hpp"
#include "common/tls_client.hpp"
#include "common/tls_server.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace cdn::edge::http {
namespace {

namespace ssl = boost::asio::ssl;

constexpr unsigned char kSessionIdContext[] = "cdn-edge";

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!out.empty() && out.back() == '.')
        out.pop_back();
    return out;
}

// Session-ticket keys: random, one ring per process, shared by every context and kept across
// reloads, so a ticket issued under one certificate (or before a reload) still resumes. The
// current key is replaced every `rotation`; the one before it still decrypts (and the ticket is
// renewed), anything older does not: a stolen key opens at most two periods of sessions
// (forward secrecy for resumption, which a key kept for the process's life would not give).
struct TicketKey {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
};

class TicketKeyRing {
  public:
    void set_rotation(std::chrono::seconds rotation) {
        std::lock_guard lock(mutex_);
        rotation_ = rotation;
    }
    TicketKey current() {
        std::lock_guard lock(mutex_);
        rotate_if_due();
        return current_;
    }
    // The key named `name`, and whether it is the current one.
    std::optional<std::pair<TicketKey, bool>> find(const unsigned char* name) {
        std::lock_guard lock(mutex_);
        rotate_if_due();
        if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0)
            return std::pair{current_, true};
        if (previous_ && std::memcmp(name, previous_->name.data(), previous_->name.size()) == 0)
            return std::pair{*previous_, false};
        return std::nullopt;
    }

  private:
    static TicketKey fresh() {
        TicketKey k;
        if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
            RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) != 1 ||
            RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) != 1)
            throw std::runtime_error("tls: no randomness for session-ticket keys");
        return k;
    }
    void rotate_if_due() {
        const auto now = std::chrono::steady_clock::now();
        if (!started_) {
            current_ = fresh();
            rotated_ = now;
            started_ = true;
        } else if (now - rotated_ >= 2 * rotation_) {
            current_ = fresh();  // idle for two periods: nothing issued since is worth keeping
            previous_.reset();
            rotated_ = now;
        } else if (now - rotated_ >= rotation_) {
            previous_ = current_;
            current_ = fresh();
            rotated_ = now;
        }
    }

    std::mutex mutex_;
    std::chrono::seconds rotation_{std::chrono::hours(12)};
    bool started_ = false;
    TicketKey current_;
    std::optional<TicketKey> previous_;
    std::chrono::steady_clock::time_point rotated_{};
};

TicketKeyRing& ticket_keys() {
    static TicketKeyRing ring;
    return ring;
}

// OpenSSL's ticket callback (RFC 5077 layout: key name, AES-256-CBC, HMAC-SHA256). Returns 1 to
// use the key, 2 for a valid ticket under the previous key (OpenSSL then issues a new one), 0
// for an unknown key (a full handshake), -1 on failure.
int ticket_key_callback(SSL*, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int encrypt) {
    TicketKey key;
    int result = 1;
    if (encrypt) {
        key = ticket_keys().current();
        std::memcpy(key_name, key.name.data(), key.name.size());
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    } else {
        auto found = ticket_keys().find(key_name);
        if (!found) return 0;
        key = found->first;
        result = found->second ? 1 : 2;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    const int ok = encrypt
                       ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv)
                       : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv);
    return ok == 1 ? result : -1;
}

// The DNS names of the certificate's subjectAltName.
std::vector<std::string> san_dns_names(X509* cert) {
    std::vector<std::string> out;
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS) continue;
        const unsigned char* p = ASN1_STRING_get0_data(g->d.dNSName);
        const int n = ASN1_STRING_length(g->d.dNSName);
        if (p && n > 0)
            out.push_back(lower(
                std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))));
    }
    GENERAL_NAMES_free(names);
    return out;
}

}  // namespace

std::string_view label(TlsFailure f) {
    switch (f) {
        case TlsFailure::timeout: return "timeout";
        case TlsFailure::closed: return "closed";
        case TlsFailure::version: return "version";
        case TlsFailure::cipher: return "cipher";
        case TlsFailure::protocol: return "protocol";
    }
    return "protocol";
}

TlsFailure classify_handshake_error(const boost::system::error_code& ec) {
    namespace asio = boost::asio;
    if (ec == boost::beast::error::timeout) return TlsFailure::timeout;
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
        ec == asio::error::operation_aborted)
        return TlsFailure::closed;
    if (ec.category() == asio::error::get_ssl_category()) {
        const auto packed = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
        switch (ERR_GET_REASON(packed)) {
            case SSL_R_UNSUPPORTED_PROTOCOL:
            case SSL_R_VERSION_TOO_LOW:
            case SSL_R_UNKNOWN_PROTOCOL:
            case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION: return TlsFailure::version;
            case SSL_R_NO_SHARED_CIPHER: return TlsFailure::cipher;
            default: break;
        }
    }
    return TlsFailure::protocol;
}

TlsContextSet::~TlsContextSet() = default;

std::shared_ptr<const TlsContextSet> TlsContextSet::load(const TlsSettings& settings) {
    if (settings.certificates.empty())
        throw ConfigError("tls.certificates: at least one certificate is needed");
    std::shared_ptr<TlsContextSet> set(new TlsContextSet());
    set->handshake_timeout_ = settings.handshake_timeout;
    ticket_keys().set_rotation(settings.ticket_key_rotation);
    for (const std::string& p : settings.alpn) {
        if (p.empty() || p.size() > 255)
            throw ConfigError(fmt::format("tls.alpn: \"{}\" is not a protocol name", p));
        set->alpn_wire_.push_back(static_cast<char>(p.size()));
        set->alpn_wire_.append(p);
    }
    for (std::size_t i = 0; i < settings.certificates.size(); ++i) {
        const TlsCertificate& c = settings.certificates[i];
        const std::string where = fmt::format("tls.certificates[{}]", i);
        // Protocols, ciphers, the certificate and key (read and checked): common/tls_server.
        std::unique_ptr<ssl::context> ctx = make_tls_server_context(c.cert, c.key, where);
        SSL_CTX* h = ctx->native_handle();
        SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(h, 20 * 1024);
        SSL_CTX_set_session_id_context(h, kSessionIdContext, sizeof kSessionIdContext - 1);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(h, ticket_key_callback);
        X509* leaf = SSL_CTX_get0_certificate(h);

        std::vector<std::string> hosts;
        for (const std::string& host : c.hosts)
            hosts.push_back(lower(host));
        if (hosts.empty()) hosts = san_dns_names(leaf);
        for (const std::string& host : hosts) {
            if (host.starts_with("*.") && host.size() > 2)
                set->wildcard_.emplace_back(host.substr(1), i);
            else
                set->exact_.emplace(host, i);  // the first certificate listing a name keeps it
        }
        set->hosts_.push_back(std::move(hosts));

        // SSL_CTX_set_tlsext_servername_callback, without its C cast.
        SSL_CTX_callback_ctrl(h, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                              reinterpret_cast<void (*)()>(&TlsContextSet::on_servername));
        SSL_CTX_set_tlsext_servername_arg(h, set.get());
        if (!set->alpn_wire_.empty())
            SSL_CTX_set_alpn_select_cb(h, &TlsContextSet::on_alpn, &set->alpn_wire_);
        set->contexts_.push_back(std::move(ctx));
    }
    return set;
}

std::size_t TlsContextSet::select(std::string_view server_name) const {
    const std::string name = lower(server_name);
    if (auto it = exact_.find(name); it != exact_.end()) return it->second;
    // "*.example.com" covers exactly one more label: "a.example.com", not "a.b.example.com".
    for (const auto& [suffix, index] : wildcard_) {
        if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
        const std::string_view label =
            std::string_view(name).substr(0, name.size() - suffix.size());
        if (label.find('.') == std::string_view::npos) return index;
    }
    return 0;
}

int TlsContextSet::on_servername(SSL* ssl, int* /*alert*/, void* arg) {
    const auto* set = static_cast<const TlsContextSet*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
    const std::size_t i = set->select(name);
    if (i != 0) SSL_set_SSL_CTX(ssl, set->contexts_[i]->native_handle());
    return SSL_TLSEXT_ERR_OK;  // unknown names get the default certificate, not an alert
}

int TlsContextSet::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg) {
    const auto* wire = static_cast<const std::string*>(arg);
    unsigned char* selected = nullptr;
    // Walks our list in order and takes the first the client offers: server preference.
    if (SSL_select_next_proto(
            &selected, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
            static_cast<unsigned int>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;  // nothing in common: carry on without ALPN (HTTP/1.1)
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace cdn::edge::http
