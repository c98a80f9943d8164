#pragma once
// The limits and timeouts of one HTTP/2 connection (http2_session.hpp). The edge fills them from
// [http2] and the shared [limits]/[timeouts] (http1_session.cpp, http2_limits()).
#include <chrono>
#include <cstdint>
#include <string_view>

namespace cdn::edge::http {

class AddressResetBudget;

struct Http2Limits {
    // Advertised in SETTINGS.
    std::uint32_t max_concurrent_streams = 100;
    std::uint32_t initial_window_size = 256 * 1024;  // per stream, for request bodies
    // Larger request heads get 431 (the rest of the block is decoded but not kept). A header
    // block (request head or trailers) that decodes to more than max(2 x this, this + 16 KiB)
    // is not decoded further: the connection ends with GOAWAY(COMPRESSION_ERROR), so an HPACK
    // bomb costs at most that much work, whatever its input.
    std::uint32_t max_header_list_size = 32 * 1024;
    std::uint32_t header_table_size = 4096;  // HPACK table the client may use with us
    // HPACK table we use towards the client (capped by what it allows) and the largest header
    // block we send.
    std::uint32_t max_deflate_table_size = 4096;
    std::uint32_t max_send_header_block = 64 * 1024;
    std::uint64_t max_body_bytes = 16 * 1024 * 1024;  // larger request bodies get 413
    // Request body bytes all unfinished streams of one connection may hold together; a stream
    // whose DATA would pass it is refused (RST_STREAM(REFUSED_STREAM)). 0: 2 x max_body_bytes.
    std::uint64_t max_connection_body_bytes = 0;
    // Rapid reset (CVE-2023-44487): RST_STREAMs from the client are a token bucket of
    // `reset_burst` tokens refilled at `reset_rate` per second; an empty bucket ends the
    // connection with GOAWAY(ENHANCE_YOUR_CALM). nghttp2's own limiter (Debian's 1.52 has the
    // backport, GOAWAY(INTERNAL_ERROR)) is set to twice these values as a backstop.
    std::uint32_t reset_burst = 200;
    std::uint32_t reset_rate = 20;
    // The same budget per client address across all its connections (null: none). Each reset
    // counted above also takes a token here; when the address has none left, the connection ends
    // with GOAWAY(ENHANCE_YOUR_CALM), and a new connection from it gets that GOAWAY at once.
    // Shared by every connection of every worker; owned by the caller (the edge's main).
    AddressResetBudget* address_resets = nullptr;
    // Frames that do no useful work (PRIORITY, PING, SETTINGS, GOAWAY, unknown types, DATA or
    // header fragments without payload or END_STREAM, WINDOW_UPDATEs under 1 KiB or for nothing
    // in flight, request heads over max_header_list_size): a token bucket of
    // `cheap_frame_burst`, refilled at `cheap_frame_rate` per second; when it is empty the
    // connection ends with GOAWAY(ENHANCE_YOUR_CALM).
    std::uint32_t cheap_frame_burst = 1000;
    std::uint32_t cheap_frame_rate = 100;
    // Handlers still running for streams the client already closed (reset) count against this;
    // beyond it the session stops reading until some finish, so reset streams cannot pile up
    // work. 0: max_concurrent_streams.
    std::uint32_t max_orphaned_handlers = 0;
    // A stream whose request (head and body) is not complete this long after its HEADERS gets
    // 408 and RST_STREAM.
    std::chrono::milliseconds request_timeout{10'000};
    // No frame read, nothing written and no handler running: GOAWAY and close.
    std::chrono::milliseconds idle_timeout{60'000};
    // A write that makes no progress for this long aborts the connection. A stream with reply
    // bytes the client's flow-control window holds back that sends nothing (less than 1 KiB)
    // for this long is reset (RST_STREAM(CANCEL)) and its body source released; when the
    // connection window holds everything back, the connection ends (GOAWAY(ENHANCE_YOUR_CALM)).
    std::chrono::milliseconds send_timeout{60'000};
    // After a graceful shutdown starts, streams in flight get this long to finish.
    std::chrono::milliseconds shutdown_timeout{30'000};
    std::string_view scheme = "http";  // Request::scheme when the client sends no :scheme
    std::string_view tls;              // Request::tls: the connection's TLS version, if any
};

}  // namespace cdn::edge::http
