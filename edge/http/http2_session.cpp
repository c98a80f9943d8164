#include "edge/http/http2_session.hpp"

#include "common/http_io.hpp"
#include "edge/http/address_budget.hpp"
#include "edge/http/token_bucket.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>

namespace cdn::edge::http {

namespace detail {

class Http2Connection;

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Bucket = TokenBucket<Clock::time_point>;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t write_batch = 64 * 1024;              // bytes of frames per socket write
constexpr std::size_t read_chunk = 16 * 1024;               // bytes per socket read
constexpr std::size_t linger_limit = 1024 * 1024;           // bytes drained after our last frame
constexpr std::chrono::milliseconds linger_time{1000};      // time spent draining
constexpr std::chrono::milliseconds goaway_rtt_wait{1000};  // PING ACK wait before last GOAWAY
// Reply bytes a stream must send to count as progress against the send timeout, so that a client
// opening its window a few bytes at a time cannot hold a stream (and its origin fetch) for ever.
constexpr std::size_t min_progress = 1024;
// A WINDOW_UPDATE smaller than this does no useful work (it is a cheap frame).
constexpr std::uint32_t min_window_update = 1024;

// A wake-up that is never lost: notify() before wait() makes the next wait() return at once.
class Event {
  public:
    explicit Event(const asio::any_io_executor& ex) : timer_(ex) {}
    void notify() {
        signalled_ = true;
        timer_.cancel();
    }
    asio::awaitable<void> wait() {
        if (!signalled_) {
            timer_.expires_at(Clock::time_point::max());
            co_await timer_.async_wait(nothrow);
        }
        signalled_ = false;
    }

  private:
    asio::steady_timer timer_;
    bool signalled_ = false;
};

struct StreamState;

// Request::interim of a stream: 1xx HEADERS before the final reply (103 Early Hints).
class StreamInterim final : public InterimWriter {
  public:
    StreamInterim(Http2Connection& conn, StreamState& st) : conn_(conn), st_(st) {}
    asio::awaitable<void> send_interim(unsigned status, std::string_view fields) override;

  private:
    Http2Connection& conn_;
    StreamState& st_;
};

struct StreamState {
    StreamState(std::int32_t stream_id, const asio::any_io_executor& ex, Http2Connection& conn)
        : id(stream_id), wake(ex), interim(conn, *this) {
        req.interim = &interim;
    }
    StreamState(const StreamState&) = delete;
    StreamState& operator=(const StreamState&) = delete;

    std::int32_t id;
    Request req;
    std::string authority;
    std::string cookie;
    std::size_t header_bytes = 0;
    bool header_too_large = false;
    bool body_too_large = false;
    bool request_complete = false;   // END_STREAM received
    std::uint64_t body_counted = 0;  // request body bytes counted in buffered_body_
    bool dispatched = false;         // the handler (or an error reply) has the request
    bool task_running = false;       // its coroutine has not finished
    bool has_reply = false;
    bool submitted = false;  // response HEADERS submitted
    bool closed = false;     // nghttp2 closed the stream
    bool logged = false;
    std::uint32_t close_error = 0;
    Reply reply;
    // The data provider sends `pending`; at its end, body_done means END_STREAM, body_failed
    // means RST_STREAM(INTERNAL_ERROR), otherwise the pump fetches the next piece.
    std::string_view pending;
    bool body_done = false;
    bool body_failed = false;
    std::uint64_t bytes_sent = 0;
    Clock::time_point started = Clock::now();
    // Send-stall detection: when reply bytes last became pending or min_progress of them went
    // out, and the bytes sent since.
    Clock::time_point progress_at{};
    std::size_t progress_bytes = 0;
    Event wake;  // the pump waits here for `pending` to drain or the stream to close
    StreamInterim interim;
};
using StreamPtr = std::shared_ptr<StreamState>;

struct SessionDeleter {
    void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};

// ASCII only (field names are tokens): no locale call per character.
constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = ascii_lower(c);
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Connection-specific fields HTTP/2 forbids (RFC 9113 section 8.2.2), plus trailer announcements
// (we send no trailers).
bool hop_by_hop(std::string_view lname) {
    static constexpr std::array<std::string_view, 8> names = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding",
        "upgrade",    "te",         "trailer",          "http2-settings"};
    return std::find(names.begin(), names.end(), lname) != names.end();
}

// Calls f(name, value) for each field of an HTTP/1.1 head (status line skipped) and extra.
template <class F>
void for_each_field(std::string_view head, std::string_view extra, F&& f) {
    for (std::string_view block : {head, extra}) {
        bool first = block.data() == head.data();
        while (!block.empty()) {
            const std::size_t eol = block.find("\r\n");
            std::string_view line = block.substr(0, eol);
            block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
            if (first) {
                first = false;
                if (line.starts_with("HTTP/")) continue;
            }
            const std::size_t colon = line.find(':');
            if (colon == std::string_view::npos || colon == 0) continue;
            f(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
        }
    }
}

std::uint8_t* bytes(const std::string& s) {
    return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}
std::uint8_t* bytes(std::string_view s) {
    return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}
constexpr std::string_view status_name = ":status";

// The HTTP/2 fields of a head (HTTP/1.1 status line skipped) plus extra: names lower-cased,
// connection-specific fields and those Connection names dropped, and (strict) fields HTTP/2
// cannot carry dropped too.
// The lower-case names live in `names` (reserved up front, so the views stay put); the values
// are views into the head and extra passed in, valid as long as those are.
struct H2Fields {
    std::string names;
    std::vector<std::pair<std::string_view, std::string_view>> list;
};

H2Fields h2_fields(std::string_view head, std::string_view extra, bool strict) {
    std::vector<std::string> connection_tokens;
    for_each_field(head, extra, [&](std::string_view name, std::string_view value) {
        if (!iequals(name, "connection")) return;
        while (!value.empty()) {
            const std::size_t comma = value.find(',');
            connection_tokens.push_back(lower(trim(value.substr(0, comma))));
            value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
        }
    });
    H2Fields out;
    // Never in the small-string buffer: a move of `out` must not move the names.
    out.names.reserve(std::max<std::size_t>(head.size() + extra.size(), 64));
    out.list.reserve(24);
    for_each_field(head, extra, [&](std::string_view name, std::string_view value) {
        const std::size_t at = out.names.size();
        for (char c : name)
            out.names.push_back(ascii_lower(c));
        const std::string_view lname(out.names.data() + at, name.size());
        if (hop_by_hop(lname) ||
            std::find(connection_tokens.begin(), connection_tokens.end(), lname) !=
                connection_tokens.end() ||
            (strict &&
             (nghttp2_check_header_name(bytes(lname), lname.size()) == 0 ||
              nghttp2_check_header_value(reinterpret_cast<const std::uint8_t*>(value.data()),
                                         value.size()) == 0))) {
            out.names.resize(at);
            return;
        }
        out.list.emplace_back(lname, value);
    });
    return out;
}

// The header of an incoming frame and its first payload bytes, as FrameScanner saw them.
struct FrameHead {
    std::uint32_t length = 0;
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::int32_t stream = 0;
    std::array<std::uint8_t, 4> first{};  // the first min(length, 4) payload bytes
};

// Follows frame boundaries in the input before nghttp2 parses it (after the 24-byte client
// preface), so the session sees every frame, also those nghttp2 drops without a callback
// (unknown types), and can meter the ones that do no useful work. Only reads lengths; nghttp2
// still validates everything.
class FrameScanner {
  public:
    // Calls f(head, start) for each frame whose header and first payload bytes complete within
    // data[0, len); start is where that frame began in data (0 when in an earlier chunk). When f
    // returns false the scan stops.
    template <class F>
    void scan(const std::uint8_t* data, std::size_t len, F&& f) {
        std::size_t pos = 0;
        std::size_t start = 0;
        while (pos < len) {
            if (preface_left_ > 0 || skip_ > 0) {
                std::size_t& left = preface_left_ > 0 ? preface_left_ : skip_;
                const std::size_t n = std::min(left, len - pos);
                left -= n;
                pos += n;
                continue;
            }
            if (have_ == 0) start = pos;
            const std::size_t n = std::min(need_ - have_, len - pos);
            std::memcpy(buf_.data() + have_, data + pos, n);
            have_ += n;
            pos += n;
            if (have_ < need_) break;
            FrameHead h;
            h.length = (std::uint32_t{buf_[0]} << 16) | (std::uint32_t{buf_[1]} << 8) | buf_[2];
            if (need_ == 9 && h.length > 0) {
                need_ = 9 + std::min<std::size_t>(h.length, 4);
                continue;
            }
            h.type = buf_[3];
            h.flags = buf_[4];
            h.stream = static_cast<std::int32_t>(((std::uint32_t{buf_[5]} & 0x7f) << 24) |
                                                 (std::uint32_t{buf_[6]} << 16) |
                                                 (std::uint32_t{buf_[7]} << 8) | buf_[8]);
            std::memcpy(h.first.data(), buf_.data() + 9, have_ - 9);
            skip_ = h.length - (have_ - 9);
            have_ = 0;
            need_ = 9;
            if (!f(h, start)) return;
        }
    }

  private:
    std::size_t preface_left_ = http2_client_preface.size();
    std::array<std::uint8_t, 13> buf_{};
    std::size_t have_ = 0;
    std::size_t need_ = 9;
    std::size_t skip_ = 0;  // payload bytes of the current frame still to pass
};

}  // namespace

struct Http2Trampolines;

// One connection: the nghttp2 session, its streams and the coroutines that move bytes. Lives
// in a shared_ptr so a shutdown wake-up posted from another thread can find it gone.
class Http2Connection : public std::enable_shared_from_this<Http2Connection> {
  public:
    Http2Connection(ByteStream& io, RequestHandler& handler, const Http2Limits& limits,
                    ExchangeObserver* observer)
        : io_(io),
          handler_(handler),
          limits_(limits),
          observer_(observer),
          ex_(io.executor()),
          writer_wake_(ex_),
          reader_wake_(ex_),
          tasks_wake_(ex_),
          watchdog_timer_(ex_),
          client_(io.remote_endpoint()),
          reset_bucket_(limits.reset_burst, limits.reset_rate, Clock::now()),
          cheap_bucket_(limits.cheap_frame_burst, limits.cheap_frame_rate, Clock::now()) {}

    bool init();
    asio::awaitable<void> run(std::span<const std::uint8_t> already_read);
    void begin_shutdown();
    void send_interim(StreamState& st, unsigned status, std::string_view fields);

  private:
    // A request head with Expect: 100-continue and a body to come: the pipeline's refusal
    // (RequestHandler::precheck) at once, else :status 100 before the body (RFC 9113 8.1).
    void expect_continue(const StreamPtr& st);
    friend struct Http2Trampolines;
    // nghttp2 callbacks (trampolines below forward here).
    int on_begin_headers(const nghttp2_frame* frame);
    int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
    int on_frame_recv(const nghttp2_frame* frame);
    int on_data_chunk(std::int32_t stream_id, const std::uint8_t* data, std::size_t len);
    int on_stream_close(std::int32_t stream_id, std::uint32_t error_code);
    int on_frame_send(const nghttp2_frame* frame);
    int send_data(const nghttp2_frame& frame, const std::uint8_t* framehd, std::size_t length);
    ssize_t read_body(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                      std::uint32_t* data_flags);

    asio::awaitable<void> reader();
    asio::awaitable<void> writer();
    asio::awaitable<void> watchdog();
    static asio::awaitable<void> run_stream(std::shared_ptr<Http2Connection> self, StreamPtr st);

    StreamPtr find(std::int32_t id) const {
        const auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second;
    }
    bool feed(const std::uint8_t* data, std::size_t len);
    void recv(const std::uint8_t* data, std::size_t len);
    bool cheap(const FrameHead& h) const;
    std::optional<Http2Event> count_reset();
    void calm(Http2Event why);
    void note_sent(StreamState& st, std::size_t n, Clock::time_point now);
    void expire_stalled(Clock::time_point now);
    // Decoded bytes past which a header block is not decoded further (HPACK bomb).
    std::size_t header_block_limit() const {
        return std::max<std::size_t>(2ULL * limits_.max_header_list_size,
                                     std::size_t{limits_.max_header_list_size} + 16 * 1024);
    }
    void dispatch(const StreamPtr& st);
    void reply_now(const StreamPtr& st, Reply reply);
    void drop_body(StreamState& st);
    void expire_requests(Clock::time_point now);
    std::uint64_t body_budget() const {
        return limits_.max_connection_body_bytes ? limits_.max_connection_body_bytes
                                                 : 2 * limits_.max_body_bytes;
    }
    void submit_reply(StreamState& st);
    void maybe_log(StreamState& st);
    void final_goaway();
    void abort_all();
    void task_done(bool orphan);
    std::uint32_t max_orphans() const {
        return limits_.max_orphaned_handlers ? limits_.max_orphaned_handlers
                                             : limits_.max_concurrent_streams;
    }

    ByteStream& io_;
    std::string out_;  // the writer's batch of frames (send_data appends DATA frames to it)
    RequestHandler& handler_;
    const Http2Limits& limits_;
    ExchangeObserver* observer_;
    asio::any_io_executor ex_;
    std::unique_ptr<nghttp2_session, SessionDeleter> session_;
    std::unordered_map<std::int32_t, StreamPtr> streams_;
    Event writer_wake_;
    Event reader_wake_;
    Event tasks_wake_;
    asio::steady_timer watchdog_timer_;
    tcp::endpoint client_;

    int tasks_ = 0;                    // coroutines (reader, watchdog, streams) still running
    std::uint32_t orphans_ = 0;        // stream coroutines whose stream is already closed
    std::uint64_t buffered_body_ = 0;  // request body bytes held by open streams
    bool dead_ = false;                // socket aborted or failed: no more I/O
    bool recv_stopped_ = false;        // nghttp2 wants no more input (GOAWAY, fatal error)
    bool finishing_ = false;           // our last frame is out: draining input, then close
    bool stopped_ = false;             // all I/O over; waiting for stream coroutines
    bool writing_ = false;
    bool reader_running_ = true;
    Clock::time_point write_started_{};
    Clock::time_point last_activity_ = Clock::now();
    Clock::time_point finish_started_{};
    enum class ShutdownState { none, notice_sent, goaway_sent } shutdown_ = ShutdownState::none;
    Clock::time_point shutdown_started_{};
    bool idle_goaway_ = false;
    Bucket reset_bucket_;  // RST_STREAMs (rapid reset)
    Bucket cheap_bucket_;  // frames that do no useful work
    FrameScanner scanner_;
    std::size_t block_bytes_ = 0;                // decoded bytes of the header block being received
    bool header_block_overflow_ = false;         // decoding stopped at header_block_limit()
    std::optional<Http2Event> calm_after_send_;  // a limit hit while sending: GOAWAY next
    Clock::time_point conn_progress_at_ = Clock::now();  // last min_progress bytes of DATA out
    std::size_t conn_progress_bytes_ = 0;
};

asio::awaitable<void> StreamInterim::send_interim(unsigned status, std::string_view fields) {
    if (status < 102) co_return;  // the writer's contract; 100 is the session's own (Expect)
    conn_.send_interim(st_, status, fields);
    co_return;
}

namespace {

Http2Connection* conn(void* user_data) {
    return static_cast<Http2Connection*>(user_data);
}

}  // namespace

// Trampolines: nghttp2 C callbacks forwarding to members. Friends through a struct so the
// member functions stay private.
struct Http2Trampolines {
    static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
        return conn(ud)->on_begin_headers(frame);
    }
    static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                      std::uint8_t, void* ud) {
        return conn(ud)->on_header(
            frame, std::string_view(reinterpret_cast<const char*>(name), namelen),
            std::string_view(reinterpret_cast<const char*>(value), valuelen));
    }
    static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
        return conn(ud)->on_frame_recv(frame);
    }
    static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                          const std::uint8_t* data, std::size_t len, void* ud) {
        return conn(ud)->on_data_chunk(stream_id, data, len);
    }
    static int stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                            void* ud) {
        return conn(ud)->on_stream_close(stream_id, error_code);
    }
    static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
        return conn(ud)->on_frame_send(frame);
    }
    static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                             std::size_t length, std::uint32_t* data_flags, nghttp2_data_source*,
                             void* ud) {
        return conn(ud)->read_body(stream_id, buf, length, data_flags);
    }
    static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                         std::size_t length, nghttp2_data_source*, void* ud) {
        return conn(ud)->send_data(*frame, framehd, length);
    }
};

bool Http2Connection::init() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Http2Trampolines::begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Trampolines::header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Http2Trampolines::frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Trampolines::data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Trampolines::stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Http2Trampolines::frame_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, &Http2Trampolines::send_data);

    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return false;
    }
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, limits_.max_deflate_table_size);
    nghttp2_option_set_max_send_header_block_length(opt, limits_.max_send_header_block);
    nghttp2_option_set_no_closed_streams(opt, 1);
    // nghttp2's own rapid-reset limiter as a backstop behind ours (Debian backported it to 1.52).
    nghttp2_option_set_stream_reset_rate_limit(opt, 2ULL * limits_.reset_burst,
                                               2ULL * limits_.reset_rate);
    // CONTINUATION frames after one HEADERS (CVE-2024-28182; Debian's 1.52 has the backport).
    // nghttp2's default, pinned: with 16 KiB frames a block this long already passes
    // header_block_limit(), where our on_header stops decoding it.
    nghttp2_option_set_max_continuations(opt, 8);

    nghttp2_session* raw = nullptr;
    const int rv = nghttp2_session_server_new2(&raw, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return false;
    session_.reset(raw);

    const std::array<nghttp2_settings_entry, 4> settings = {{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_size},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits_.header_table_size},
    }};
    if (nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings.data(),
                                settings.size()) != 0)
        return false;
    // The connection window bounds request bodies in flight across streams.
    const std::int32_t conn_window = static_cast<std::int32_t>(std::clamp<std::uint64_t>(
        std::uint64_t{limits_.initial_window_size} * 4, 1 << 20, (1U << 31) - 1));
    nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0, conn_window);
    return true;
}

// ---- nghttp2 callbacks -------------------------------------------------------------------

int Http2Connection::on_begin_headers(const nghttp2_frame* frame) {
    block_bytes_ = 0;  // a new header block (request head or trailers)
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto st = std::make_shared<StreamState>(frame->hd.stream_id, ex_, *this);
    st->req.client = client_;
    st->req.scheme = limits_.scheme;
    st->req.msg.version(11);
    st->req.http2 = true;
    st->req.tls = limits_.tls;
    streams_[frame->hd.stream_id] = std::move(st);
    if (observer_) observer_->on_http2(Http2Event::stream, 0);
    return 0;
}

int Http2Connection::on_header(const nghttp2_frame* frame, std::string_view name,
                               std::string_view value) {
    // HPACK bomb: nghttp2 validates each field before this callback, so a block of one-byte
    // references to a large table entry costs work by what it decodes to, not by its size.
    // Past the hard limit, decoding stops; the HPACK table is then out of step with the client's,
    // so the connection ends (GOAWAY(COMPRESSION_ERROR), RFC 9113 section 4.3).
    const std::size_t field = name.size() + value.size() + 32;  // RFC 9113 section 6.5.2
    block_bytes_ += field;
    if (block_bytes_ > header_block_limit()) {
        header_block_overflow_ = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;  // trailers: ignored
    const StreamPtr st = find(frame->hd.stream_id);
    if (!st || st->header_too_large) return 0;
    st->header_bytes += field;
    if (st->header_bytes > limits_.max_header_list_size) {
        st->header_too_large = true;
        return 0;
    }
    auto& msg = st->req.msg;
    if (name == ":method")
        msg.method_string(value);
    else if (name == ":path")
        msg.target(value);
    else if (name == ":authority")
        st->authority.assign(value);
    else if (name == ":scheme")
        st->req.scheme = value == "https"  ? std::string_view("https")
                         : value == "http" ? std::string_view("http")
                                           : limits_.scheme;
    else if (name == "cookie")  // RFC 9113 section 8.2.3: crumbs are joined for HTTP/1.1
        st->cookie.append(st->cookie.empty() ? "" : "; ").append(value);
    else if (!name.starts_with(':'))
        msg.insert(name, value);
    return 0;
}

int Http2Connection::on_frame_recv(const nghttp2_frame* frame) {
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA: {
            const StreamPtr st = find(frame->hd.stream_id);
            if (!st || st->dispatched) break;
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) st->request_complete = true;
            if (st->header_too_large) {
                reply_now(st, make_reply(431, "Request header fields too large\n",
                                         OutcomeLabel::session_error));
                // A head decoded and thrown away did no useful work.
                if (!cheap_bucket_.take(Clock::now())) calm(Http2Event::limit_cheap_frames);
                break;
            }
            if (frame->hd.type == NGHTTP2_HEADERS && !st->request_complete &&
                frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
                http_io::expects_continue(st->req.msg)) {
                expect_continue(st);
                break;
            }
            if (st->request_complete) dispatch(st);
            break;
        }
        case NGHTTP2_RST_STREAM:
            if (observer_) observer_->on_http2(Http2Event::reset_received, 0);
            if (auto limit = count_reset()) calm(*limit);
            break;
        case NGHTTP2_PING:
            if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && shutdown_ == ShutdownState::notice_sent)
                final_goaway();
            break;
        default: break;
    }
    return 0;
}

int Http2Connection::on_data_chunk(std::int32_t stream_id, const std::uint8_t* data,
                                   std::size_t len) {
    const StreamPtr st = find(stream_id);
    if (!st || st->dispatched || st->header_too_large) return 0;
    auto& body = st->req.msg.body();
    if (body.size() + len > limits_.max_body_bytes) {
        st->body_too_large = true;
        drop_body(*st);
        reply_now(st, make_reply(413, "Request body too large\n", OutcomeLabel::session_error));
        return 0;
    }
    if (buffered_body_ + len > body_budget()) {
        // The connection's streams together hold too much unfinished upload: this stream is
        // refused (not processed, so the client may retry it) rather than the memory growing
        // with max_concurrent_streams x max_body_bytes.
        drop_body(*st);
        st->dispatched = true;
        st->reply =
            make_reply(503, "Too much request body in flight\n", OutcomeLabel::session_error);
        st->reply.detail = "connection body budget";
        st->has_reply = true;
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        writer_wake_.notify();
        return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    st->body_counted += len;
    buffered_body_ += len;
    return 0;
}

void Http2Connection::drop_body(StreamState& st) {
    buffered_body_ -= st.body_counted;
    st.body_counted = 0;
    auto& body = st.req.msg.body();
    body.clear();
    body.shrink_to_fit();
}

// Streams whose request has not completed within request_timeout (a client that opens a stream
// and then stalls its body) get 408 and RST_STREAM, like HTTP/1.1's client_request timeout.
void Http2Connection::expire_requests(Clock::time_point now) {
    std::vector<StreamPtr> late;
    for (const auto& [id, st] : streams_)
        if (!st->dispatched && now - st->started > limits_.request_timeout) late.push_back(st);
    for (const StreamPtr& st : late) {
        drop_body(*st);
        Reply r = make_reply(408, "Request timeout\n", OutcomeLabel::session_error);
        r.detail = "request timeout";
        reply_now(st, std::move(r));
    }
}

int Http2Connection::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
    const auto it = streams_.find(stream_id);
    if (it == streams_.end()) return 0;
    const StreamPtr st = it->second;
    streams_.erase(it);
    buffered_body_ -= st->body_counted;  // the handler may still hold it, bounded by the orphans
    st->body_counted = 0;
    st->closed = true;
    st->close_error = error_code;
    if (st->task_running) ++orphans_;
    st->wake.notify();
    maybe_log(*st);
    return 0;
}

int Http2Connection::on_frame_send(const nghttp2_frame* frame) {
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        // A stream reset because the client broke the protocol on it costs a reset token too
        // (a client can make the server reset streams as cheaply as it resets them itself).
        switch (frame->rst_stream.error_code) {
            case NGHTTP2_PROTOCOL_ERROR:
            case NGHTTP2_FLOW_CONTROL_ERROR:
            case NGHTTP2_STREAM_CLOSED:
            case NGHTTP2_FRAME_SIZE_ERROR:
                // GOAWAY after this send round (not from inside nghttp2_session_mem_send).
                if (auto limit = count_reset(); limit && !calm_after_send_)
                    calm_after_send_ = limit;
                break;
            default: break;
        }
    }
    if (observer_) {
        if (frame->hd.type == NGHTTP2_RST_STREAM)
            observer_->on_http2(Http2Event::reset_sent, frame->rst_stream.error_code);
        // The shutdown notice (last stream 2^31-1) is not counted: its final GOAWAY is.
        else if (frame->hd.type == NGHTTP2_GOAWAY &&
                 frame->goaway.last_stream_id != std::numeric_limits<std::int32_t>::max())
            observer_->on_http2(Http2Event::goaway_sent, frame->goaway.error_code);
    }
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    // A reply sent before the request was complete (413, 431): tell the client to stop sending
    // the rest (RFC 9113 section 8.1).
    const StreamPtr st = find(frame->hd.stream_id);
    if (st && !st->request_complete)
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    return 0;
}

ssize_t Http2Connection::read_body(std::int32_t stream_id, std::uint8_t*, std::size_t length,
                                   std::uint32_t* data_flags) {
    const StreamPtr st = find(stream_id);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!st->pending.empty()) {
        // The bytes go straight from the body into the write batch, in send_data (one copy,
        // not two: none into nghttp2's frame buffer).
        const std::size_t n = std::min(length, st->pending.size());
        *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (n == st->pending.size() && st->body_done) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
    }
    if (st->body_done) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    if (st->body_failed) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM
    st->wake.notify();
    return NGHTTP2_ERR_DEFERRED;
}

// A DATA frame whose payload read_body left in the stream's `pending`: called from inside
// nghttp2_session_mem_send, after the frames it returned before (already in out_), so the
// frame is appended in order.
int Http2Connection::send_data(const nghttp2_frame& frame, const std::uint8_t* framehd,
                               std::size_t length) {
    const StreamPtr st = find(frame.hd.stream_id);
    if (!st || length > st->pending.size()) return NGHTTP2_ERR_CALLBACK_FAILURE;
    out_.append(reinterpret_cast<const char*>(framehd), 9);
    const std::size_t padlen = frame.data.padlen;
    if (padlen > 0) out_.push_back(static_cast<char>(padlen - 1));
    out_.append(st->pending.data(), length);
    if (padlen > 1) out_.append(padlen - 1, '\0');
    st->pending.remove_prefix(length);
    st->bytes_sent += length;
    note_sent(*st, length, Clock::now());
    if (st->pending.empty() && !st->body_done) st->wake.notify();  // the pump fetches more
    return 0;
}

// ---- streams -------------------------------------------------------------------------------

void Http2Connection::dispatch(const StreamPtr& st) {
    st->dispatched = true;
    auto& msg = st->req.msg;
    if (!st->authority.empty()) msg.set(beast_http::field::host, st->authority);
    if (!st->cookie.empty()) msg.set(beast_http::field::cookie, st->cookie);
    if (!msg.body().empty() && !msg.has_content_length()) msg.content_length(msg.body().size());
    st->task_running = true;
    ++tasks_;
    asio::co_spawn(ex_, run_stream(shared_from_this(), st), asio::detached);
}

void Http2Connection::reply_now(const StreamPtr& st, Reply reply) {
    st->dispatched = true;
    st->reply = std::move(reply);
    st->has_reply = true;
    submit_reply(*st);
    writer_wake_.notify();
}

asio::awaitable<void> Http2Connection::run_stream(std::shared_ptr<Http2Connection> self,
                                                  StreamPtr st) {
    Http2Connection& c = *self;
    try {
        st->reply = co_await c.handler_.handle(st->req);
    } catch (const std::exception& e) {
        st->reply = make_reply(500, "Internal error\n", OutcomeLabel::session_error);
        st->reply.detail = e.what();
    }
    st->has_reply = true;
    if (!st->reply.object) {
        st->reply = make_reply(500, "Internal error\n", OutcomeLabel::session_error);
        st->reply.detail = "no reply";
    }
    if (!st->closed && !c.dead_) {
        c.submit_reply(*st);
        c.writer_wake_.notify();
        // Pump a streamed body: fetch a piece only once the previous one went out, so the
        // client's flow-control windows pace the origin.
        const bool streamed = st->submitted && st->reply.stream && !st->body_done;
        while (streamed && !st->closed && !c.dead_) {
            if (!st->pending.empty()) {
                co_await st->wake.wait();
                continue;
            }
            Result<std::string_view> piece = std::string_view();
            try {
                piece = co_await st->reply.stream->next();
            } catch (const std::exception&) {
                piece = make_error_code(Errc::internal);
            }
            if (st->closed || c.dead_) break;
            if (!piece)
                st->body_failed = true;
            else if (piece->empty())
                st->body_done = true;
            else {
                st->pending = *piece;
                st->progress_at = Clock::now();  // the send timeout starts now for this piece
                st->progress_bytes = 0;
            }
            nghttp2_session_resume_data(c.session_.get(), st->id);
            c.writer_wake_.notify();
            if (st->body_failed || st->body_done) break;
        }
    }
    // A stream reset (by the client, or by us for a stalled send) frees its body source now: for a
    // pass-through fetch that closes the origin connection.
    if (st->closed || c.dead_) st->reply.stream.reset();
    st->task_running = false;
    if (st->closed && st->close_error != NGHTTP2_NO_ERROR && st->reply.detail.empty())
        st->reply.detail = "stream reset";
    c.maybe_log(*st);
    c.task_done(st->closed);
}

void Http2Connection::submit_reply(StreamState& st) {
    if (st.closed || st.submitted) return;
    const Reply& r = st.reply;
    const std::string status_text = std::to_string(r.status());
    const H2Fields fields = h2_fields(r.object->head(), r.extra, /*strict=*/false);
    std::vector<nghttp2_nv> nv;
    nv.reserve(fields.list.size() + 1);
    nv.push_back({bytes(status_name), bytes(status_text), status_name.size(), status_text.size(),
                  NGHTTP2_NV_FLAG_NONE});
    for (const auto& [name, value] : fields.list)
        nv.push_back({bytes(name), bytes(value), name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});

    const unsigned status = r.status();
    const bool bodiless = r.head_only || status < 200 || status == 204 || status == 304;
    if (!bodiless && r.stream) {
        st.pending = {};
        st.body_done = false;
    } else if (!bodiless && r.object->body) {
        st.pending = std::string_view(*r.object->body)
                         .substr(std::min(r.body_offset, r.object->body->size()), r.body_length);
        st.body_done = true;
    } else {
        st.body_done = true;
    }
    nghttp2_data_provider provider{};
    provider.read_callback = &Http2Trampolines::read_body;
    const bool with_body = !bodiless && (r.stream || !st.pending.empty());
    if (!with_body) st.body_done = true;
    const int rv = nghttp2_submit_response(session_.get(), st.id, nv.data(), nv.size(),
                                           with_body ? &provider : nullptr);
    if (rv != 0) {
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
        st.reply.detail = nghttp2_strerror(rv);
        return;
    }
    st.submitted = true;
    st.progress_at = Clock::now();
    st.progress_bytes = 0;
}

void Http2Connection::expect_continue(const StreamPtr& st) {
    // The Host precheck looks at is set here as dispatch() sets it.
    if (!st->authority.empty()) st->req.msg.set(beast_http::field::host, st->authority);
    if (auto refused = handler_.precheck(st->req)) {
        reply_now(st, std::move(*refused));
        return;
    }
    send_interim(*st, 100, {});
}

void Http2Connection::send_interim(StreamState& st, unsigned status, std::string_view fields) {
    // Only before the final reply, on a stream still open, on a connection still sending.
    if (status < 100 || status == 101 || status > 199 || st.closed || st.submitted || dead_ ||
        recv_stopped_)
        return;
    const std::string status_text = std::to_string(status);
    // Strict: these come from an origin's 1xx, which no cache ever checked.
    const H2Fields list = h2_fields({}, fields, /*strict=*/true);
    std::vector<nghttp2_nv> nv;
    nv.reserve(list.list.size() + 1);
    nv.push_back({bytes(status_name), bytes(status_text), status_name.size(), status_text.size(),
                  NGHTTP2_NV_FLAG_NONE});
    for (const auto& [name, value] : list.list)
        nv.push_back({bytes(name), bytes(value), name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    // Copied by nghttp2; queued ahead of the final HEADERS, which come later.
    if (nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, st.id, nullptr, nv.data(),
                               nv.size(), nullptr) >= 0)
        writer_wake_.notify();
}

void Http2Connection::maybe_log(StreamState& st) {
    if (st.logged || !st.closed || st.task_running || !st.has_reply) return;
    st.logged = true;
    if (observer_)
        observer_->on_exchange(st.req, st.reply, st.bytes_sent, Clock::now() - st.started);
}

void Http2Connection::task_done(bool orphan) {
    --tasks_;
    if (orphan && orphans_ > 0) --orphans_;
    tasks_wake_.notify();
    reader_wake_.notify();
}

// ---- connection ----------------------------------------------------------------------------

void Http2Connection::begin_shutdown() {
    if (shutdown_ != ShutdownState::none || stopped_ || finishing_) return;
    shutdown_started_ = Clock::now();
    if (nghttp2_submit_shutdown_notice(session_.get()) != 0 ||
        nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr) != 0) {
        final_goaway();
        return;
    }
    shutdown_ = ShutdownState::notice_sent;
    writer_wake_.notify();
}

void Http2Connection::final_goaway() {
    if (shutdown_ == ShutdownState::goaway_sent) return;
    if (shutdown_ == ShutdownState::none) shutdown_started_ = Clock::now();
    shutdown_ = ShutdownState::goaway_sent;
    nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    writer_wake_.notify();
}

void Http2Connection::abort_all() {
    if (!dead_) io_.abort();
    dead_ = true;
    writer_wake_.notify();
    reader_wake_.notify();
    for (auto& [id, st] : streams_)
        st->wake.notify();
}

// Input from the client: frames metered as they pass (FrameScanner), then handed to nghttp2.
bool Http2Connection::feed(const std::uint8_t* data, std::size_t len) {
    if (recv_stopped_) return false;
    std::size_t fed = 0;  // bytes of data nghttp2 has
    const auto deliver = [&](std::size_t upto) {
        if (upto > fed && !recv_stopped_) recv(data + fed, upto - fed);
        fed = std::max(fed, upto);
    };
    bool flood = false;
    scanner_.scan(data, len, [&](const FrameHead& h, std::size_t start) {
        // Whether a WINDOW_UPDATE does useful work depends on the streams the frames before it
        // opened and closed: nghttp2 gets those first.
        if (h.type == NGHTTP2_WINDOW_UPDATE) deliver(start);
        if (recv_stopped_) return false;
        if (!cheap(h) || cheap_bucket_.take(Clock::now())) return true;
        deliver(start);  // the frames before the one that emptied the bucket
        flood = true;
        return false;
    });
    if (flood && !recv_stopped_) calm(Http2Event::limit_cheap_frames);
    if (!flood) deliver(len);
    writer_wake_.notify();
    return !recv_stopped_;
}

void Http2Connection::recv(const std::uint8_t* data, std::size_t len) {
    const ssize_t rv = nghttp2_session_mem_recv(session_.get(), data, len);
    if (rv < 0) {
        // Fatal to the connection (bad preface, flood, HPACK bomb): say why and stop.
        std::uint32_t code = NGHTTP2_PROTOCOL_ERROR;
        if (rv == NGHTTP2_ERR_FLOODED) {
            code = NGHTTP2_ENHANCE_YOUR_CALM;
        } else if (header_block_overflow_) {
            code = NGHTTP2_COMPRESSION_ERROR;
            if (observer_) observer_->on_http2(Http2Event::limit_header_block, 0);
        }
        nghttp2_session_terminate_session(session_.get(), code);
        recv_stopped_ = true;
    } else if (!nghttp2_session_want_read(session_.get())) {
        recv_stopped_ = true;
    }
}

// Frames that do no useful work: they cost a token of cheap_bucket_.
bool Http2Connection::cheap(const FrameHead& h) const {
    switch (h.type) {
        case NGHTTP2_DATA: {
            if (h.flags & NGHTTP2_FLAG_END_STREAM) return false;
            const std::size_t pad = (h.flags & NGHTTP2_FLAG_PADDED) ? 1U + h.first[0] : 0;
            return h.length <= pad;  // no payload (or nothing but padding)
        }
        case NGHTTP2_HEADERS:
        case NGHTTP2_CONTINUATION: return h.length == 0;
        case NGHTTP2_RST_STREAM: return false;    // reset_bucket_ has those
        case NGHTTP2_PUSH_PROMISE: return false;  // a connection error anyway
        case NGHTTP2_WINDOW_UPDATE: {
            if (h.length != 4) return true;  // FRAME_SIZE_ERROR from nghttp2
            const std::uint32_t increment = ((std::uint32_t{h.first[0]} & 0x7f) << 24) |
                                            (std::uint32_t{h.first[1]} << 16) |
                                            (std::uint32_t{h.first[2]} << 8) | h.first[3];
            if (increment < min_window_update) return true;
            // Useful when it opens the window of a reply that may still send something.
            return h.stream == 0 ? streams_.empty() : !find(h.stream);
        }
        default: return true;  // PRIORITY, SETTINGS, PING, GOAWAY, unknown and extension types
    }
}

// A stream reset by the client (or for its fault): rapid reset, per connection and per address.
// Returns the limit that ran out, if one did.
std::optional<Http2Event> Http2Connection::count_reset() {
    if (recv_stopped_) return std::nullopt;
    if (!reset_bucket_.take(Clock::now())) return Http2Event::limit_reset_rate;
    if (limits_.address_resets && !limits_.address_resets->take(client_.address()))
        return Http2Event::limit_address_resets;
    return std::nullopt;
}

// A limit ran out: GOAWAY(ENHANCE_YOUR_CALM), nothing more is read.
void Http2Connection::calm(Http2Event why) {
    if (recv_stopped_) return;
    if (observer_) observer_->on_http2(why, 0);
    nghttp2_session_terminate_session(session_.get(), NGHTTP2_ENHANCE_YOUR_CALM);
    recv_stopped_ = true;
    writer_wake_.notify();
}

// n reply bytes of st went into a DATA frame.
void Http2Connection::note_sent(StreamState& st, std::size_t n, Clock::time_point now) {
    st.progress_bytes += n;
    if (st.progress_bytes >= min_progress || st.pending.empty()) {
        st.progress_at = now;
        st.progress_bytes = 0;
    }
    conn_progress_bytes_ += n;
    if (conn_progress_bytes_ >= min_progress) {
        conn_progress_at_ = now;
        conn_progress_bytes_ = 0;
    }
}

// The send timeout under flow control: a reply whose bytes wait for a window the client keeps
// closed (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE) would otherwise hold its stream, and
// its origin connection, for as long as the client likes. HTTP/1.1 cuts the same reader at
// send_timeout; here the stream is reset, or the connection ended when its own window is shut.
void Http2Connection::expire_stalled(Clock::time_point now) {
    const bool conn_shut = nghttp2_session_get_remote_window_size(session_.get()) <= 0;
    bool conn_stalled = false;
    std::vector<StreamPtr> stalled;
    for (const auto& [id, st] : streams_) {
        if (!st->submitted || st->closed || st->pending.empty() ||
            now - st->progress_at <= limits_.send_timeout)
            continue;
        if (conn_shut) {
            conn_stalled = true;
        } else if (nghttp2_session_get_stream_remote_window_size(session_.get(), id) <= 0) {
            stalled.push_back(st);
        }
    }
    if (conn_stalled && now - conn_progress_at_ > limits_.send_timeout) {
        if (observer_) observer_->on_http2(Http2Event::limit_connection_stall, 0);
        for (const auto& [id, st] : streams_)
            if (st->reply.detail.empty()) st->reply.detail = "send timeout";
        nghttp2_session_terminate_session(session_.get(), NGHTTP2_ENHANCE_YOUR_CALM);
        recv_stopped_ = true;
        writer_wake_.notify();
        return;
    }
    for (const StreamPtr& st : stalled) {
        if (observer_) observer_->on_http2(Http2Event::limit_stream_stall, 0);
        if (st->reply.detail.empty()) st->reply.detail = "send timeout";
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
    if (!stalled.empty()) writer_wake_.notify();
}

asio::awaitable<void> Http2Connection::reader() {
    std::vector<std::uint8_t> buf(read_chunk);
    std::size_t drained = 0;
    while (!dead_) {
        // Back-pressure: do not take new frames while reset streams still hold handlers.
        if (!finishing_ && orphans_ > max_orphans()) {
            co_await reader_wake_.wait();
            continue;
        }
        auto [ec, n] = co_await io_.read_some(asio::buffer(buf));
        if (ec) break;
        last_activity_ = Clock::now();
        if (finishing_) {
            drained += n;
            if (drained > linger_limit) break;
            continue;
        }
        if (recv_stopped_) continue;  // GOAWAY on its way: discard
        feed(buf.data(), n);
    }
    if (!finishing_) {
        // The client went away (or the socket failed): nothing more can be sent.
        if (!dead_) io_.abort();
        dead_ = true;
        writer_wake_.notify();
        for (auto& [id, st] : streams_)
            st->wake.notify();
    }
    reader_running_ = false;
    task_done(false);
}

asio::awaitable<void> Http2Connection::writer() {
    std::string& out = out_;
    out.reserve(write_batch + 16 * 1024);
    while (!dead_) {
        out.clear();
        while (out.size() < write_batch) {
            const std::uint8_t* data = nullptr;
            const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
            if (n < 0) {
                abort_all();
                break;
            }
            if (n == 0) break;
            out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        if (dead_) break;
        if (calm_after_send_) {
            calm(*calm_after_send_);  // its GOAWAY goes out in the next round
            calm_after_send_.reset();
            if (out.empty()) continue;
        }
        if (!out.empty()) {
            writing_ = true;
            write_started_ = Clock::now();
            auto [ec, n] = co_await io_.write(asio::buffer(out));
            writing_ = false;
            last_activity_ = Clock::now();
            if (ec) {
                abort_all();
                break;
            }
            continue;
        }
        if (!nghttp2_session_want_read(session_.get()) &&
            !nghttp2_session_want_write(session_.get()))
            break;  // GOAWAY sent and every stream done
        co_await writer_wake_.wait();
    }
}

asio::awaitable<void> Http2Connection::watchdog() {
    const auto shortest =
        std::min({limits_.idle_timeout, limits_.send_timeout, limits_.shutdown_timeout,
                  limits_.request_timeout, linger_time});
    const auto tick = std::clamp<std::chrono::milliseconds>(
        shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    while (!stopped_) {
        watchdog_timer_.expires_after(tick);
        co_await watchdog_timer_.async_wait(nothrow);
        if (stopped_) break;
        const auto now = Clock::now();
        if (finishing_) {
            if (now - finish_started_ > linger_time) abort_all();
            continue;
        }
        if (dead_) continue;
        if (writing_ && now - write_started_ > limits_.send_timeout) {
            abort_all();
            continue;
        }
        // Stream coroutines other than the reader and this watchdog.
        const bool busy = tasks_ > 2 || writing_;
        if (!busy && !idle_goaway_ && now - last_activity_ > limits_.idle_timeout) {
            idle_goaway_ = true;
            nghttp2_session_terminate_session(session_.get(), NGHTTP2_NO_ERROR);
            recv_stopped_ = true;
            writer_wake_.notify();
        } else if (idle_goaway_ && now - last_activity_ > limits_.idle_timeout + linger_time) {
            abort_all();  // the GOAWAY itself could not be written
        }
        if (!recv_stopped_) {
            expire_requests(now);
            expire_stalled(now);
        }
        if (shutdown_ == ShutdownState::notice_sent && now - shutdown_started_ > goaway_rtt_wait)
            final_goaway();
        if (shutdown_ != ShutdownState::none && now - shutdown_started_ > limits_.shutdown_timeout)
            abort_all();
    }
    task_done(false);
}

asio::awaitable<void> Http2Connection::run(std::span<const std::uint8_t> already_read) {
    if (observer_) {
        observer_->on_connection(+1);
        observer_->on_http2(Http2Event::connection, 0);
    }
    // A client address that has spent its reset budget on other connections is turned away.
    if (limits_.address_resets && !limits_.address_resets->has_budget(client_.address()))
        calm(Http2Event::limit_address_resets);
    tasks_ += 2;
    asio::co_spawn(ex_, reader(), asio::detached);
    asio::co_spawn(ex_, watchdog(), asio::detached);
    if (!already_read.empty()) feed(already_read.data(), already_read.size());
    co_await writer();
    if (!dead_) {
        // Our last frame is out: half-close and drain what the client still sends, so the
        // kernel does not reset the connection under the GOAWAY before the client read it.
        finishing_ = true;
        finish_started_ = Clock::now();
        io_.shutdown_send();
        reader_wake_.notify();
        // The reader ends at EOF (or after linger_limit bytes); the watchdog aborts the socket
        // after linger_time.
        while (reader_running_)
            co_await tasks_wake_.wait();
    }
    abort_all();
    stopped_ = true;
    watchdog_timer_.cancel();
    for (auto& [id, st] : streams_)
        st->wake.notify();
    // Every coroutine spawned here must be gone before the borrowed objects are.
    while (tasks_ > 0)
        co_await tasks_wake_.wait();
    // Streams the connection ended under (client gone, timeout): logged like a reset.
    for (auto& [id, st] : streams_) {
        st->closed = true;
        if (st->reply.detail.empty()) st->reply.detail = "connection closed";
        maybe_log(*st);
    }
    streams_.clear();
    if (observer_) observer_->on_connection(-1);
}

asio::awaitable<void> run_http2(ByteStream& io, RequestHandler& handler, const Http2Limits& limits,
                                ExchangeObserver* observer,
                                std::span<const std::uint8_t> already_read,
                                std::shared_ptr<GracefulShutdown> shutdown) {
    auto connection = std::make_shared<Http2Connection>(io, handler, limits, observer);
    if (!connection->init()) {
        io.abort();
        co_return;
    }
    std::uint64_t sub = 0;
    if (shutdown) {
        std::weak_ptr<Http2Connection> weak = connection;
        sub = shutdown->subscribe([weak, ex = io.executor()] {
            asio::post(ex, [weak] {
                if (auto c = weak.lock()) c->begin_shutdown();
            });
        });
    }
    co_await connection->run(already_read);
    if (shutdown) shutdown->unsubscribe(sub);
}

}  // namespace detail
}  // namespace cdn::edge::http
