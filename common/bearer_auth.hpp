#pragma once
// Bearer tokens (RFC 6750) for every endpoint that takes one (purge_api's API, the edge's admin
// purge): reading the token out of an Authorization value and comparing it with a configured one
// without the time taken telling how much of a guess was right. Pure functions.
#include <optional>
#include <string_view>

namespace cdn {

// True when a and b are equal. Compares SHA-256 digests with CRYPTO_memcmp, so the time taken
// tells neither where the first difference is nor how long the secret is.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// "Bearer <token>" (scheme case-insensitive, RFC 9110 11.1) -> the token; nullopt when absent or
// malformed (another scheme, no token).
std::optional<std::string_view> bearer_token(std::string_view authorization) noexcept;

}  // namespace cdn
