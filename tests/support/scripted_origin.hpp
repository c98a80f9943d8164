#pragma once
// Test support: an origin on a loopback port whose every response the test writes byte for byte
// (interim 1xx before the final response, a body reflecting the Host it was sent...), for what
// origin_sim will not send. It records each request it reads. Blocking sockets on threads of its
// own; every wait is bounded; the destructor stops and joins everything.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cdn::test {

struct RecordedRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> fields;  // in order, as sent
    std::string body;
    // The first field of that name (any case), or "" when absent.
    std::string field(std::string_view name) const;
    bool has(std::string_view name) const;
};

class ScriptedOrigin {
  public:
    // Returns the bytes to send for a request (all of them: 1xx heads, the final head and its
    // body); an empty string closes the connection without an answer.
    using Script = std::function<std::string(const RecordedRequest&)>;
    explicit ScriptedOrigin(Script script);
    ~ScriptedOrigin();
    ScriptedOrigin(const ScriptedOrigin&) = delete;
    ScriptedOrigin& operator=(const ScriptedOrigin&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<RecordedRequest> requests() const;
    // From now on, after the first `head_bytes` of each reply, the rest goes one byte every
    // `pause` (an origin that trickles). The pause is also bounded by the origin's stop.
    void trickle(std::size_t head_bytes, std::chrono::milliseconds pause) {
        trickle_after_ = head_bytes;
        trickle_pause_ms_ = pause.count();
    }
    std::size_t open_connections() const { return open_.load(); }

  private:
    void accept_loop();
    void serve(int fd);

    Script script_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> open_{0};
    std::atomic<std::size_t> trickle_after_{SIZE_MAX};
    std::atomic<std::int64_t> trickle_pause_ms_{0};
    mutable std::mutex mu_;
    std::vector<RecordedRequest> requests_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

// A response with a body and Content-Length; `fields` are extra lines, each ending in "\r\n".
std::string http_response(unsigned status, const std::string& body,
                          const std::string& fields = "Cache-Control: max-age=60\r\n");

}  // namespace cdn::test
