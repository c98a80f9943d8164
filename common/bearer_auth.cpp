#include "common/bearer_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace cdn {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    // SHA-256 of each, compared with OpenSSL's CRYPTO_memcmp: the time depends on neither where
    // the first difference is nor the configured token's length.
    unsigned char da[SHA256_DIGEST_LENGTH];
    unsigned char db[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
    SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

std::optional<std::string_view> bearer_token(std::string_view h) noexcept {
    constexpr std::string_view kScheme = "bearer";
    if (h.size() <= kScheme.size() + 1) return std::nullopt;
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        char c = h[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != kScheme[i]) return std::nullopt;
    }
    h.remove_prefix(kScheme.size());
    if (h.front() != ' ') return std::nullopt;
    while (!h.empty() && h.front() == ' ')
        h.remove_prefix(1);
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.remove_suffix(1);
    if (h.empty()) return std::nullopt;
    return h;
}

}  // namespace cdn
