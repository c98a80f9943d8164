// libFuzzer target for the HTTP/2 server session: every input is what a client sends after the
// connection preface. It goes through the real session (detail::run_http2: our nghttp2
// callbacks, frame metering, stream coroutines, flow-control pump, interim replies) over an
// in-memory byte stream, with a fake handler, one io_context per input and no sockets or
// timers that wait. Checks: the run ends (libFuzzer's -timeout finds a hang), the socket is
// closed, every connection opened is closed again, and what the session wrote is whole frames
// starting with its SETTINGS. Built only with clang (tests/fuzz/CMakeLists.txt).
#include "edge/http/address_budget.hpp"
#include "edge/http/http2_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

namespace {

namespace asio = boost::asio;
using namespace cdn::edge::http;

[[noreturn]] void fail() {
    __builtin_trap();
}

// The client's side of the socket, in memory: reads hand out the input in chunks, yielding to
// the session's other coroutines first (as the next packet would take a while to arrive); the
// end of the input is EOF, after the session had a few rounds to answer. Writes are kept.
class MemoryStream final : public detail::ByteStream {
  public:
    MemoryStream(asio::io_context& io, std::span<const std::uint8_t> input, std::size_t chunk)
        : io_(io), input_(input), chunk_(chunk) {}

    asio::any_io_executor executor() override { return io_.get_executor(); }
    asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        asio::mutable_buffer buf) override {
        const int rounds = pos_ == input_.size() ? 32 : 2;
        for (int i = 0; i < rounds && !closed_; ++i)
            co_await asio::post(io_, asio::use_awaitable);
        if (closed_) co_return std::pair{asio::error::operation_aborted, std::size_t{0}};
        if (pos_ == input_.size()) co_return std::pair{asio::error::eof, std::size_t{0}};
        const std::size_t n = std::min({buf.size(), input_.size() - pos_, chunk_});
        std::memcpy(buf.data(), input_.data() + pos_, n);
        pos_ += n;
        co_return std::pair{boost::system::error_code{}, n};
    }
    asio::awaitable<std::pair<boost::system::error_code, std::size_t>> write(
        asio::const_buffer buf) override {
        co_await asio::post(io_, asio::use_awaitable);
        if (closed_) co_return std::pair{asio::error::broken_pipe, std::size_t{0}};
        out_.append(static_cast<const char*>(buf.data()), buf.size());
        co_return std::pair{boost::system::error_code{}, buf.size()};
    }
    void abort() override { closed_ = true; }
    void shutdown_send() override {}
    cdn::tcp::endpoint remote_endpoint() override {
        return {asio::ip::make_address("192.0.2.7"), 40000};
    }

    bool closed() const { return closed_; }
    const std::string& out() const { return out_; }

  private:
    asio::io_context& io_;
    std::span<const std::uint8_t> input_;
    std::size_t chunk_;
    std::size_t pos_ = 0;
    bool closed_ = false;
    std::string out_;
};

std::size_t number(std::string_view s) {
    std::size_t n = 0;
    std::from_chars(s.data(), s.data() + s.size(), n);
    return n;
}

// A body in pieces, each after a yield, as an origin relay hands them out.
class PieceSource final : public BodySource {
  public:
    PieceSource(std::size_t size, bool fails) : left_(size), fails_(fails), piece_(4096, 'p') {}
    asio::awaitable<cdn::Result<std::string_view>> next() override {
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        if (left_ == 0) co_return std::string_view();
        if (fails_ && left_ < 4096) co_return make_error_code(cdn::Errc::internal);
        const std::size_t n = std::min(left_, piece_.size());
        left_ -= n;
        co_return std::string_view(piece_).substr(0, n);
    }

  private:
    std::size_t left_;
    bool fails_;
    std::string piece_;
};

// Paths pick the reply: /s/N an N-byte string body; /p/N (/f/N: cut short) N bytes through a
// BodySource; /e a 103 first; /y a few yields first; /x throws; /n no reply object; /r a slice;
// anything else 404. Sizes are capped so one input stays cheap.
class FuzzHandler final : public RequestHandler {
  public:
    asio::awaitable<Reply> handle(Request& req) override {
        const std::string target(req.msg.target());
        const std::string_view t = target;
        const std::size_t n =
            std::min<std::size_t>(t.size() > 3 ? number(t.substr(3)) : 0, 1 << 18);
        if (t.starts_with("/e") && req.interim) {
            co_await req.interim->send_interim(103, "Link: </a.css>; rel=preload\r\nX-A: 1\r\n");
            co_await req.interim->send_interim(100 + static_cast<unsigned>(n % 120),
                                               "Bad Name: x\r\n");
        }
        if (t.starts_with("/y")) {
            for (std::size_t i = 0; i < n % 8; ++i)
                co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        }
        if (t.starts_with("/x")) throw std::runtime_error("handler failed");
        if (t.starts_with("/n")) co_return Reply{};
        if (t.starts_with("/p/") || t.starts_with("/f/")) {
            Reply r;
            r.object = cdn::make_response(
                200,
                "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n");
            r.stream = std::make_unique<PieceSource>(n, t.starts_with("/f/"));
            r.chunked = true;
            r.head_only = req.msg.method() == beast_http::verb::head;
            co_return r;
        }
        Reply r = make_reply(t.starts_with("/s/") || t.starts_with("/r/") ? 200 : 404,
                             std::string(n, 's'), OutcomeLabel::none);
        if (t.starts_with("/r/")) {
            r.body_offset = n / 3;
            r.body_length = n / 3;
        }
        r.head_only = req.msg.method() == beast_http::verb::head;
        co_return r;
    }
};

class CountingObserver final : public ExchangeObserver {
  public:
    void on_exchange(const Request&, const Reply&, std::uint64_t,
                     std::chrono::steady_clock::duration) override {}
    void on_connection(int delta) override { open += delta; }
    int open = 0;
};

// Time for the per-address budget: a minute passes between inputs, so every bucket is full again
// when the next one starts (as if the table were new, without building one per input). After
// about 100 years of inputs the clock steps back to 0, as a wall clock may (it once ran past the
// end of TimePoint, after 2.5 million one-hour steps: signed overflow).
class FuzzClock final : public cdn::Clock {
  public:
    cdn::TimePoint now() const noexcept override { return now_; }
    void next_input() {
        now_ += std::chrono::minutes(1);
        if (now_.time_since_epoch() > std::chrono::hours(24 * 365 * 100)) now_ = {};
    }

  private:
    cdn::TimePoint now_{};
};

// Limits small enough that the fuzzer reaches them: streams, header list, bodies, cheap frames,
// resets.
Http2Limits fuzz_limits() {
    Http2Limits l;
    l.max_concurrent_streams = 8;
    l.initial_window_size = 65535;
    l.max_header_list_size = 2048;
    l.max_body_bytes = 32 * 1024;
    l.max_connection_body_bytes = 48 * 1024;
    l.reset_burst = 16;
    l.reset_rate = 1;
    l.cheap_frame_burst = 64;
    l.cheap_frame_rate = 1;
    l.max_orphaned_handlers = 4;
    return l;
}

// The session's output is whole frames, the first its SETTINGS.
void check_frames(const std::string& out) {
    if (out.empty()) return;
    if (out.size() < 9 || out[3] != 4 /* SETTINGS */) fail();
    std::size_t pos = 0;
    while (pos < out.size()) {
        if (out.size() - pos < 9) fail();
        const auto* p = reinterpret_cast<const std::uint8_t*>(out.data() + pos);
        const std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
        pos += 9 + len;
    }
    if (pos != out.size()) fail();
}

asio::awaitable<void> serve(MemoryStream& stream, FuzzHandler& handler, const Http2Limits& limits,
                            CountingObserver& observer, std::shared_ptr<GracefulShutdown> shutdown,
                            bool& done) {
    const auto* preface = reinterpret_cast<const std::uint8_t*>(http2_client_preface.data());
    co_await detail::run_http2(stream, handler, limits, &observer,
                               {preface, http2_client_preface.size()}, std::move(shutdown));
    done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static FuzzClock clock;
    static AddressResetBudget budget({.burst = 24, .rate = 1, .slots = 16}, clock);
    static const Http2Limits base = [] {
        Http2Limits l = fuzz_limits();
        l.address_resets = &budget;
        return l;
    }();
    clock.next_input();
    // The input's length picks how it is cut into reads (a frame may straddle two) and whether a
    // graceful shutdown starts while it is read: a mutation of the length explores both. (Tiny
    // reads only for small inputs: they cost a round of the event loop each.)
    const std::size_t chunk = size % 3 == 0 ? 16384 : size % 3 == 1 && size <= 2048 ? 13 : 700;
    const bool shutdown_midway = size % 5 == 4;

    asio::io_context io(1);
    MemoryStream stream(io, {data, size}, chunk);
    FuzzHandler handler;
    CountingObserver observer;
    auto shutdown = std::make_shared<GracefulShutdown>();
    bool done = false;
    asio::co_spawn(io, serve(stream, handler, base, observer, shutdown, done), asio::detached);
    if (shutdown_midway) {
        io.run_one();  // the session is under way
        shutdown->trigger();
    }
    io.run();
    if (!done || !stream.closed() || observer.open != 0) fail();
    check_frames(stream.out());
    return 0;
}
