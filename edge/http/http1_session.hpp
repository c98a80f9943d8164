#pragma once
// The HTTP/1.1 server session: read a request (with limits and timeouts on every step), hand it
// to the pipeline, write the reply, repeat while keep-alive holds. Malformed input gets 400,
// oversized headers 431, an oversized body 413; a request that stalls is logged as 408 and
// its connection closed. Runs on one worker; the socket never leaves it. The same session body
// runs over plain TCP and over TLS (a template on the stream type: no per-read dispatch).
#include "edge/http/exchange.hpp"
#include "edge/http/graceful_shutdown.hpp"
#include "edge/http/http2_limits.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

namespace cdn::edge::http {

struct SessionLimits {
    std::uint32_t max_header_bytes = 16 * 1024;
    std::uint64_t max_body_bytes = 16 * 1024 * 1024;
    std::chrono::milliseconds idle_timeout{60'000};     // waiting for the next request
    std::chrono::milliseconds request_timeout{10'000};  // receiving a request once it started
    std::chrono::milliseconds send_timeout{60'000};     // writing a reply
    std::string_view scheme = "http";  // "https" on TLS listeners: cache keys, normalised Host
    // Cleartext listeners: a connection that opens with the HTTP/2 client preface (prior
    // knowledge, RFC 9113 section 3.3) is served as HTTP/2 ([server] h2c = true).
    bool h2c = false;
    // After a graceful shutdown starts (SIGTERM), requests in flight get this long to finish.
    std::chrono::milliseconds drain_timeout{10'000};
    // HTTP/2 connections ([http2]); header and body limits, the idle and send timeouts, the drain
    // timeout and the scheme come from the fields above (http2_limits()).
    Http2Limits http2;
};

class TlsContextSet;
class TlsObserver;

// `shutdown` (may be null): once triggered, an idle keep-alive connection closes at once and a
// request in flight is answered with "Connection: close" (HTTP/2 connections: GOAWAY, see
// serve_http2).
boost::asio::awaitable<void> serve_http1(tcp::socket socket, RequestHandler& handler,
                                         const SessionLimits& limits, ExchangeObserver* observer,
                                         std::shared_ptr<GracefulShutdown> shutdown = nullptr);

// The TLS handshake (under tls->handshake_timeout(), SNI picking the certificate), then the
// same HTTP/1.1 session over the encrypted stream. A handshake that fails or stalls closes the
// connection (with an alert where the protocol has one) and is reported to tls_observer (may be
// null). The session keeps `tls` alive for its whole life, whatever reloads happen meanwhile.
boost::asio::awaitable<void> serve_http1_tls(tcp::socket socket,
                                             std::shared_ptr<const TlsContextSet> tls,
                                             RequestHandler& handler, const SessionLimits& limits,
                                             ExchangeObserver* observer, TlsObserver* tls_observer,
                                             std::shared_ptr<GracefulShutdown> shutdown = nullptr);

}  // namespace cdn::edge::http
