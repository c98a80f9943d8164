#pragma once
// HTTP/1.1 client to origins, over plain TCP (http://) or TLS (https://), with keep-alive
// connection reuse and, for TLS, session resumption (one cached session per server and pool).
// One pool per worker (not thread-safe; it lives on its worker's io_context). Every step has a
// timeout; failures come back as cdn::Errc values that say what went wrong on the origin side.
#include "common/net.hpp"
#include "common/result.hpp"
#include "common/tls_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace cdn::edge::upstream {

namespace beast_http = boost::beast::http;
using OriginRequest = beast_http::request<beast_http::string_body>;
using OriginResponse = beast_http::response<beast_http::string_body>;
using OriginHead = beast_http::response_header<>;

class OriginPool;
struct OriginConnection;  // one plain or TLS connection (origin_pool.cpp)

// The body of an upstream response, still arriving: what the pipeline reads a fill or a
// pass-through from. Implemented by OriginBody (a connection of the pool) and by test fakes.
class ResponseBody {
  public:
    virtual ~ResponseBody() = default;
    // Reads up to n body bytes into out: the count, 0 at the end, or an upstream-side error
    // (a body cut short is Errc::origin_closed).
    virtual boost::asio::awaitable<Result<std::size_t>> read_some(char* out, std::size_t n) = 0;
    // From now on the whole body must have arrived by `deadline`: a fill reading at the
    // upstream's pace is bounded in time, not only between bytes. Past it, reads fail with
    // Errc::origin_timeout.
    virtual void set_deadline(std::chrono::steady_clock::time_point deadline) = 0;
    virtual bool done() const = 0;
    virtual std::optional<std::uint64_t> content_length() const = 0;
    // Body bytes already received, that reads return without waiting for the upstream.
    virtual std::size_t buffered() const { return 0; }
};

// The body of an origin response, still on the wire. Owns the connection: when the body has
// been read to its end the connection goes back to the pool (if reusable); destroying the
// reader earlier closes it. Used on the pool's worker only. Each read has the response timeout.
class OriginBody final : public ResponseBody {
  public:
    ~OriginBody() override;
    OriginBody(const OriginBody&) = delete;
    OriginBody& operator=(const OriginBody&) = delete;

    boost::asio::awaitable<Result<std::size_t>> read_some(char* out, std::size_t n) override;
    void set_deadline(std::chrono::steady_clock::time_point deadline) override;
    bool done() const override;
    std::size_t buffered() const override;
    std::optional<std::uint64_t> content_length() const override;

  private:
    friend class OriginPool;
    struct State;
    explicit OriginBody(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// Told of each 103 (Early Hints) an origin sends before its final response, with its head; the
// exchange waits for it (it relays the hints to the client). 100 and 102 are consumed silently.
using InterimHandler = std::function<boost::asio::awaitable<void>(const OriginHead&)>;

// The body of a request sent with "Expect: 100-continue" (its Content-Length set, its body
// empty): asked for when the origin answers 100, or after a second of silence (RFC 9110
// section 10.1.1, as curl does); never when the origin answers with a final status first. nullopt:
// the body could not be had (Errc::bad_request).
using UploadProvider = std::function<boost::asio::awaitable<std::optional<std::string>>()>;

struct StreamedResponse {
    OriginHead head;
    std::unique_ptr<ResponseBody> body;
};

struct OriginServer {
    Url url;
    tcp::endpoint endpoint;  // resolved at start-up
    // https:// origins: the group's context, the server name and whether to verify; null for
    // http://. Shared (and read-only) across workers.
    std::shared_ptr<const TlsClientConfig> tls;
    // This server's own timeouts (parents have theirs); nullopt: the pool's.
    std::optional<std::chrono::milliseconds> connect_timeout;
    std::optional<std::chrono::milliseconds> response_timeout;
};

struct PoolSettings {
    std::chrono::milliseconds connect_timeout{3'000};
    // The response head once the request is sent, and then each read of the body (between
    // bytes); a fill's whole body is bounded by OriginBody::set_deadline.
    std::chrono::milliseconds response_timeout{30'000};
    std::uint32_t max_header_bytes = 64 * 1024;
    std::uint64_t max_body_bytes = 256ull << 20;
    std::size_t max_idle_per_server = 64;
};

class OriginPool {
  public:
    OriginPool(boost::asio::any_io_executor executor, PoolSettings settings);
    ~OriginPool();
    // A reload's settings, for exchanges that start from now on (on the pool's worker).
    void set_settings(const PoolSettings& settings) { settings_ = settings; }
    OriginPool(const OriginPool&) = delete;
    OriginPool& operator=(const OriginPool&) = delete;

    // Sends req and reads the response head; the body is read through the returned reader. A
    // request that fails on a reused keep-alive connection before any response byte arrives is
    // retried once on a fresh connection when the method is idempotent. Interim responses
    // (1xx) never end the exchange: 103s go to `interim` (when set), the others are skipped, and
    // the final response is read after them, all within the response timeout (at most
    // kMaxInterimResponses of them; a 101 nobody asked for is a bad response).
    // With `upload`, req goes in two steps (see UploadProvider); a connection whose origin answered
    // before the body was sent is not reused.
    boost::asio::awaitable<Result<StreamedResponse>> fetch_head(
        const OriginServer& server, const OriginRequest& req,
        const InterimHandler* interim = nullptr, const UploadProvider* upload = nullptr);
    // How long an origin asked with Expect: 100-continue has to answer before it gets the body.
    static constexpr std::chrono::milliseconds kExpectWait{1'000};
    static constexpr int kMaxInterimResponses = 16;
    // The whole response, body included (at most max_body_bytes).
    boost::asio::awaitable<Result<OriginResponse>> fetch(const OriginServer& server,
                                                         const OriginRequest& req);

    std::size_t idle_connections() const;
    // Why the last fetch that failed with Errc::origin_tls failed, e.g. "certificate verify
    // failed: hostname mismatch"; empty when the last fetch failed otherwise or did not fail.
    const std::string& last_tls_failure() const { return last_tls_failure_; }

  private:
    friend class OriginBody;
    using Connection = OriginConnection;
    struct SessionFree {
        void operator()(SSL_SESSION* s) const noexcept;
    };
    void give_back(const std::string& pool_key, std::unique_ptr<Connection> conn);
    boost::asio::awaitable<Result<std::unique_ptr<Connection>>> connect(
        const OriginServer& server, const std::string& pool_key);
    void remember_session(const std::string& pool_key, Connection& conn);
    void tls_failed(const OriginServer& server, const std::string& pool_key, std::string why);

    boost::asio::any_io_executor executor_;
    PoolSettings settings_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
    std::unordered_map<std::string, std::unique_ptr<SSL_SESSION, SessionFree>> sessions_;
    // When each server's last TLS failure was logged (one warning per server per 10 s).
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> tls_warned_;
    std::string last_tls_failure_;
};

}  // namespace cdn::edge::upstream
