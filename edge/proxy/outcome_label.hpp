#pragma once
// The cache outcome (cache/outcome.hpp) in and out of the opaque label an http::Reply carries:
// the pipeline labels each reply with its outcome, the access log and the metrics read it back.
// edge/http knows no cache types, so this mapping lives here, on the proxy side.
#include "edge/cache/outcome.hpp"
#include "edge/http/exchange.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace cdn::edge::proxy {

static_assert(cache::kOutcomeCount < 0xf0, "outcome codes must leave http's own labels free");

constexpr http::OutcomeLabel to_label(cache::Outcome o) noexcept {
    return static_cast<http::OutcomeLabel>(static_cast<std::uint8_t>(o));
}

// A session's own answers count as errors; an unlabelled reply as synthetic (the edge answered
// itself), as before labels existed.
constexpr cache::Outcome outcome_of(http::OutcomeLabel label) noexcept {
    if (label == http::OutcomeLabel::session_error) return cache::Outcome::error;
    const auto code = static_cast<std::uint8_t>(label);
    return code < cache::kOutcomeCount ? static_cast<cache::Outcome>(code)
                                       : cache::Outcome::synthetic;
}

// http::make_reply with a cache outcome.
inline http::Reply make_reply(unsigned status, std::string body, cache::Outcome outcome,
                              std::string_view content_type = "text/plain; charset=utf-8") {
    return http::make_reply(status, std::move(body), to_label(outcome), content_type);
}

}  // namespace cdn::edge::proxy
