#include "purge_api/dashboard_page.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

namespace cdn::purge_api {

std::string inline_sha256(std::string_view html, std::string_view tag) {
    const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
    const auto b = html.find(open);
    if (b == std::string_view::npos) return {};
    const auto start = b + open.size();
    const auto e = html.find(close, start);
    if (e == std::string_view::npos) return {};
    const std::string_view content = html.substr(start, e - start);
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1> b64{};
    const int n = EVP_EncodeBlock(b64.data(), digest.data(), SHA256_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
}

const std::string& dashboard_csp() {
    static const std::string csp = [] {
        const std::string_view html = dashboard_html();
        return "default-src 'none'; script-src 'sha256-" + inline_sha256(html, "script") +
               "'; style-src 'sha256-" + inline_sha256(html, "style") +
               "'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'";
    }();
    return csp;
}

}  // namespace cdn::purge_api
