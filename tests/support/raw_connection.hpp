#pragma once
// Test support: one raw TCP connection to a loopback port, for bytes no well-behaved client would
// send (smuggling, pipelining, half-sent requests) and for reading exactly what comes back.
// Every read is bounded in time.
#include <chrono>
#include <cstdint>
#include <string>

namespace cdn::test {

class RawConnection {
  public:
    // Connects to address:port; `source` binds the local end first (e.g. "127.0.0.2", another
    // loopback address), `receive_buffer` > 0 sets SO_RCVBUF (a slow reader's small window).
    RawConnection(std::uint16_t port, std::string address = "127.0.0.1", std::string source = "",
                  int receive_buffer = 0);
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    void send(const std::string& bytes);
    // Reads until `needle` has arrived (returns everything read so far, kept for later calls
    // too) or `timeout` passes or the peer closes.
    std::string read_until(const std::string& needle,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // One whole HTTP/1.1 response (head, and a Content-Length or chunked body) from what has
    // arrived; "" on timeout. Interim 1xx heads before it are returned as part of it.
    std::string read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Everything until the peer closes or goes quiet for `quiet`.
    std::string read_rest(std::chrono::milliseconds quiet = std::chrono::milliseconds(1000));
    // Reads at most n bytes (waiting up to timeout for the first); "" when none came.
    std::string read_some(std::size_t n, std::chrono::milliseconds timeout);
    // True once the peer has closed (a read returned 0 or a reset), waiting up to timeout.
    bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    int fd() const { return fd_; }

  private:
    bool fill(std::chrono::milliseconds timeout);  // false on timeout or close
    int fd_ = -1;
    bool eof_ = false;
    std::string buffered_;
};

}  // namespace cdn::test
