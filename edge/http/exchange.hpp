#pragma once
// What a protocol session hands the request pipeline and gets back. Protocol-agnostic: the
// HTTP/1.1 and HTTP/2 sessions turn these into bytes; the pipeline never touches sockets.
// Knows no cache or storage types (DESIGN section 2): a reply is a status, a head, a body (or a
// body source) and an opaque outcome label.
#include "common/net.hpp"
#include "common/response_data.hpp"
#include "common/result.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cdn::edge::http {

namespace beast_http = boost::beast::http;
using RequestMessage = beast_http::request<beast_http::string_body>;

// Interim (1xx) responses sent to the client while the pipeline is still working on the final
// one: 103 Early Hints relayed from the origin. Each session implements it for its protocol.
class InterimWriter {
  public:
    virtual ~InterimWriter() = default;
    // Sends a 1xx (102..199; never 101) with `fields` (each "Name: value\r\n") before the
    // final response; silently does nothing when the client cannot take one (HTTP/1.0, a stream
    // already closed). Completes when the bytes are queued; never fails the exchange.
    virtual boost::asio::awaitable<void> send_interim(unsigned status, std::string_view fields) = 0;
};

// The body of an HTTP/1.1 request that expects 100-continue and announced a Content-Length,
// still unread when the pipeline gets the request (Request::deferred_body): the pipeline asks
// for it once it knows where the body goes (the origin's 100 Continue), or never (the session
// then closes the connection after the reply).
class DeferredBody {
  public:
    virtual ~DeferredBody() = default;
    // Sends 100 Continue to the client and reads the body (within the session's limits), the
    // first time; the same body on later calls. nullopt when it could not be read.
    virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
};

// The id that ties a request's access-log line, its origin request and its response together
// (X-Request-Id). Held inline, so it costs no allocation; at most kMax bytes.
class RequestId {
  public:
    static constexpr std::size_t kMax = 128;
    std::string_view view() const { return {data_.data(), size_}; }
    bool empty() const { return size_ == 0; }
    // Precondition: value.size() <= kMax.
    void assign(std::string_view value) {
        size_ = static_cast<std::uint8_t>(value.copy(data_.data(), kMax));
    }
    char* data() { return data_.data(); }
    void resize(std::size_t n) { size_ = static_cast<std::uint8_t>(n < kMax ? n : kMax); }

  private:
    std::array<char, kMax> data_{};
    std::uint8_t size_ = 0;
};

struct Request {
    RequestMessage msg;
    std::string_view scheme = "http";
    tcp::endpoint client;
    // Where 1xx responses go (null: nowhere; the pipeline then drops them). Valid during handle().
    InterimWriter* interim = nullptr;
    // Set (valid during handle()) when the body is still on the wire: msg has the head only.
    DeferredBody* deferred_body = nullptr;
    // Set by the session, for the access log: HTTP/2 (msg.version() then says 1.1) and the TLS
    // version of the connection ("TLSv1.2", "TLSv1.3"; empty on cleartext).
    bool http2 = false;
    std::string_view tls;
    // Set by the pipeline: the client's X-Request-Id when it is sane, else a new one. Empty for
    // requests that never reached it (unreadable ones).
    RequestId id;
};

// A body produced while the reply is being written (origin bytes as they arrive).
class BodySource {
  public:
    virtual ~BodySource() = default;
    // The next piece of the body; empty at the end; an error when the body was cut short.
    // The view stays valid until the next call.
    virtual boost::asio::awaitable<Result<std::string_view>> next() = 0;
};

// What produced a reply, for the access log and the metrics. The sessions carry it without
// interpreting it: the pipeline chooses the codes (the proxy stores its cache outcomes, see
// edge/proxy/outcome_label.hpp), except for the two named here, which every code below 0xf0
// leaves free.
enum class OutcomeLabel : std::uint8_t {
    none = 0xfe,           // nobody labelled the reply
    session_error = 0xff,  // a session's own answer: a request it could not read, a timeout
};

struct Reply {
    // Status line, stored fields and body; on a hit, the cached object itself (a
    // storage::CachedObject is a ResponseData: same pointer, no copy).
    ResponsePtr object;
    // Per-request fields (Age, X-Cache, Cache-Status...), each ending in "\r\n".
    std::string extra;
    OutcomeLabel outcome = OutcomeLabel::none;
    bool head_only = false;  // HEAD: send the head only
    // The part of object->body to send (a single byte range is a view, not a copy).
    std::size_t body_offset = 0;
    std::size_t body_length = std::string::npos;  // npos: to the end
    // When set, the body comes from here instead of object->body; `chunked` frames it with
    // Transfer-Encoding: chunked (the head says so), otherwise the head has its length or the
    // connection closes after it.
    std::unique_ptr<BodySource> stream;
    bool chunked = false;
    bool close = false;  // close the connection after this reply
    std::string detail;  // short reason for logs (e.g. "origin-timeout")
    // For the access log: from sending the origin request (the first attempt) to its response
    // head; negative when no origin was asked (a hit, a collapsed wait) or none answered.
    std::chrono::steady_clock::duration origin_time{-1};

    unsigned status() const { return object ? object->status : 0; }
};

// Builds an HTTP/1.1 head field by field.
class HeadBuilder {
  public:
    HeadBuilder(unsigned status, std::string_view reason);
    HeadBuilder& field(std::string_view name, std::string_view value);
    // Adds Content-Length (unless omitted) and returns the head.
    std::string finish(std::size_t content_length, bool with_length = true);

  private:
    std::string head_;
};

// A small response generated by the edge itself (errors, admin pages). Carries a Date.
Reply make_reply(unsigned status, std::string body, OutcomeLabel outcome,
                 std::string_view content_type = "text/plain; charset=utf-8");

class RequestHandler {
  public:
    virtual ~RequestHandler() = default;
    virtual boost::asio::awaitable<Reply> handle(Request& req) = 0;
    // Called by the HTTP/1.1 session with the head of a request that expects 100-continue and
    // announces a body, before any of the body is read: a reply refuses the request without its
    // body (no 100 Continue is sent; the connection closes after the reply). nullopt: go on.
    virtual std::optional<Reply> precheck(const Request& req) {
        (void)req;
        return std::nullopt;
    }
};

// Told about every finished exchange (access log, metrics). Must not block.
// HTTP/2 events worth counting; error_code (RFC 9113 section 7) goes with reset_sent and
// goaway_sent. The limit_* events say which protection fired (http2_limits.hpp):
//  - limit_stream_stall: a stream reset for sending nothing under a closed window;
//  - limit_connection_stall: a connection ended for the same under a closed connection window;
//  - limit_cheap_frames: the budget of frames that do no useful work ran out;
//  - limit_header_block: a header block decoded past the hard limit (HPACK bomb);
//  - limit_reset_rate: the connection's rapid-reset budget ran out;
//  - limit_address_resets: the client address's rapid-reset budget ran out (or was already out
//    when the connection started).
enum class Http2Event {
    connection,
    stream,
    reset_received,
    reset_sent,
    goaway_sent,
    limit_stream_stall,
    limit_connection_stall,
    limit_cheap_frames,
    limit_header_block,
    limit_reset_rate,
    limit_address_resets,
};

class ExchangeObserver {
  public:
    virtual ~ExchangeObserver() = default;
    virtual void on_exchange(const Request& req, const Reply& reply, std::uint64_t bytes_sent,
                             std::chrono::steady_clock::duration elapsed) = 0;
    virtual void on_connection(int delta) = 0;  // +1 opened, -1 closed
    virtual void on_http2(Http2Event /*event*/, std::uint32_t /*error_code*/) {}
};

}  // namespace cdn::edge::http
