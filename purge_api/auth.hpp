#pragma once
// Bearer tokens: which token a request carries, and what it may purge. Tokens are compared in
// constant time (every configured token is compared in full, whatever matches), so response
// timing does not tell how much of a guess was right. Pure code; read-only after construction,
// so safe to share between threads. (Reading the Authorization value and the constant-time
// comparison are common/bearer_auth.hpp, shared with the edge's admin port.)
#include "common/bearer_auth.hpp"
#include "purge_api/purge_request.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdn::purge_api {

struct Token {
    std::string name;  // for logs; "token-N" when not configured
    std::string value;
    std::vector<std::string> hosts;  // lower-cased; empty = every host (an admin token)

    bool all_hosts() const { return hosts.empty(); }
    bool covers_host(std::string_view host) const;
};

using cdn::bearer_token;
using cdn::constant_time_equal;

class TokenSet {
  public:
    TokenSet() = default;
    explicit TokenSet(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
    // The configured token equal to `presented`, or nullptr.
    const Token* find(std::string_view presented) const noexcept;
    bool empty() const { return tokens_.empty(); }
    std::size_t size() const { return tokens_.size(); }

  private:
    std::vector<Token> tokens_;
};

// Whether `token` may purge `draft`: a host-limited token may only name its hosts (a file's
// URL host, a prefix's host, a hosts entry) and may not purge tags or everything (they reach
// every host). Returns the 403 error when not.
std::optional<ApiError> authorize(const Token& token, const PurgeDraft& draft);

}  // namespace cdn::purge_api
