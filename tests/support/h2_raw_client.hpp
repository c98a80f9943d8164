#pragma once
// A raw HTTP/2 frame client for tests: writes frames byte by byte as a test composes them
// (HPACK through nghttp2's deflater, or by hand for what no encoder would produce) and reads the
// server's frames one by one. For what real clients (nghttp, curl, h2load) will not send: bad
// frames, floods, rapid reset, HPACK bombs, closed windows. Header-only; the test binary links
// nghttp2. Blocking, with a receive timeout on every read.
#include <nghttp2/nghttp2.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdn::test::h2 {

inline constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Frame {
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream = 0;
    std::string payload;
    std::uint32_t error_code() const {  // RST_STREAM, GOAWAY
        const std::size_t at = type == NGHTTP2_GOAWAY ? 4 : 0;
        if (payload.size() < at + 4) return 0xffffffff;
        return (std::uint32_t(std::uint8_t(payload[at])) << 24) |
               (std::uint32_t(std::uint8_t(payload[at + 1])) << 16) |
               (std::uint32_t(std::uint8_t(payload[at + 2])) << 8) |
               std::uint32_t(std::uint8_t(payload[at + 3]));
    }
};

inline std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

inline std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                         std::string_view payload) {
    std::string f;
    const std::size_t n = payload.size();
    f.push_back(static_cast<char>(n >> 16));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f.push_back(static_cast<char>((stream >> 24) & 0x7f));
    f.push_back(static_cast<char>(stream >> 16));
    f.push_back(static_cast<char>(stream >> 8));
    f.push_back(static_cast<char>(stream));
    f.append(payload);
    return f;
}

// A SETTINGS frame with the given (id, value) entries.
inline std::string settings(std::vector<std::pair<std::uint16_t, std::uint32_t>> entries) {
    std::string p;
    for (auto [id, value] : entries) {
        p.push_back(static_cast<char>(id >> 8));
        p.push_back(static_cast<char>(id));
        p += u32(value);
    }
    return frame(NGHTTP2_SETTINGS, 0, 0, p);
}

inline std::string window_update(std::uint32_t stream, std::uint32_t increment) {
    return frame(NGHTTP2_WINDOW_UPDATE, 0, stream, u32(increment));
}

inline std::string rst_stream(std::uint32_t stream, std::uint32_t code = NGHTTP2_CANCEL) {
    return frame(NGHTTP2_RST_STREAM, 0, stream, u32(code));
}

// An HPACK integer with an n-bit prefix whose high bits are `first` (RFC 7541 section 5.1).
inline std::string hpack_int(std::uint8_t first, int prefix_bits, std::size_t value) {
    std::string out;
    const std::size_t max = (std::size_t{1} << prefix_bits) - 1;
    if (value < max) {
        out.push_back(static_cast<char>(first | value));
        return out;
    }
    out.push_back(static_cast<char>(first | max));
    value -= max;
    while (value >= 128) {
        out.push_back(static_cast<char>((value % 128) | 128));
        value /= 128;
    }
    out.push_back(static_cast<char>(value));
    return out;
}

// An HPACK bomb: a GET for `path` (or, with an empty path, a trailer block without pseudo
// fields) whose block adds one `value_size`-byte field to the dynamic table (unless it is there
// already: not first_on_connection) and then refers to it `refs` times, one byte each: about
// value_size + refs bytes that decode to refs x (value_size + 38) bytes of fields.
// HEADERS + END_HEADERS + END_STREAM; the block must fit one frame (16 KiB).
inline std::string hpack_bomb(std::uint32_t stream, std::string_view path, std::size_t value_size,
                              std::size_t refs, bool first_on_connection = true) {
    std::string block;
    if (!path.empty()) {
        block.push_back(static_cast<char>(0x82));  // :method GET (static 2)
        block.push_back(static_cast<char>(0x86));  // :scheme http (static 6)
        block += hpack_int(0x00, 4, 4);            // :path, literal without indexing, name static 4
        block += hpack_int(0x00, 7, path.size());
        block.append(path);
        block += hpack_int(0x00, 4, 1);  // :authority, the same
        block += hpack_int(0x00, 7, 7);
        block += "h2.test";
    }
    if (first_on_connection) {
        block.push_back(0x40);  // literal with incremental indexing, new name
        block += hpack_int(0x00, 7, 6);
        block += "x-bomb";
        block += hpack_int(0x00, 7, value_size);
        block.append(value_size, 'b');
    }
    for (std::size_t i = 0; i < refs; ++i)
        block.push_back(static_cast<char>(0x80 | 62));  // indexed: dynamic table entry 1
    return frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, stream,
                 block);
}

class RawClient {
  public:
    // Connects to 127.0.0.1:port (from `source`, another loopback address, when given).
    explicit RawClient(std::uint16_t port, std::string_view source = {}) : sock_(io_) {
        namespace asio = boost::asio;
        sock_.open(asio::ip::tcp::v4());
        if (!source.empty()) sock_.bind({asio::ip::make_address(std::string(source)), 0});
        sock_.connect({asio::ip::make_address("127.0.0.1"), port});
        timeval tv{10, 0};
        ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        nghttp2_hd_deflate_new(&deflater_, 4096);
    }
    ~RawClient() { nghttp2_hd_deflate_del(deflater_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    // False when the server has closed (or reset) the connection.
    bool send(std::string_view bytes) {
        boost::system::error_code ec;
        boost::asio::write(sock_, boost::asio::buffer(bytes), ec);
        return !ec;
    }
    // The preface and our SETTINGS (plus `extra` SETTINGS entries); with ack, also the
    // acknowledgement of the server's SETTINGS (sent at once: the server submits them before it
    // reads anything).
    static std::string preface(bool ack = false,
                               std::vector<std::pair<std::uint16_t, std::uint32_t>> extra = {}) {
        return std::string(client_preface) + settings(std::move(extra)) +
               (ack ? frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, {}) : std::string());
    }
    // A HEADERS frame (END_HEADERS, and END_STREAM unless a body follows) for method + path.
    std::string headers(std::uint32_t stream, std::string_view method, std::string_view path,
                        bool end_stream = true, bool with_path = true,
                        std::vector<std::pair<std::string, std::string>> extra = {}) {
        std::vector<std::pair<std::string, std::string>> fields = {
            {":method", std::string(method)}, {":scheme", "http"}, {":authority", "h2.test"}};
        if (with_path) fields.emplace_back(":path", std::string(path));
        fields.insert(fields.end(), extra.begin(), extra.end());
        std::vector<nghttp2_nv> nv;
        for (auto& [k, v] : fields)
            nv.push_back({reinterpret_cast<std::uint8_t*>(k.data()),
                          reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                          NGHTTP2_NV_FLAG_NONE});
        std::string block(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
        const auto n =
            nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(block.data()),
                                  block.size(), nv.data(), nv.size());
        if (n < 0) throw std::runtime_error("nghttp2_hd_deflate_hd failed");
        block.resize(static_cast<std::size_t>(n));
        return frame(NGHTTP2_HEADERS,
                     NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), stream,
                     block);
    }
    // The next frame; nullopt at EOF, on error or after the 10 s receive timeout.
    std::optional<Frame> read() {
        std::array<std::uint8_t, 9> h{};
        boost::system::error_code ec;
        boost::asio::read(sock_, boost::asio::buffer(h), ec);
        if (ec) return std::nullopt;
        Frame f;
        const std::size_t len = (std::size_t(h[0]) << 16) | (std::size_t(h[1]) << 8) | h[2];
        f.type = h[3];
        f.flags = h[4];
        f.stream = ((std::uint32_t(h[5]) & 0x7f) << 24) | (std::uint32_t(h[6]) << 16) |
                   (std::uint32_t(h[7]) << 8) | h[8];
        f.payload.resize(len);
        boost::asio::read(sock_, boost::asio::buffer(f.payload), ec);
        if (ec) return std::nullopt;
        return f;
    }
    // Reads frames until pred(frame) is true (returns it) or the connection ends (nullopt).
    template <class Pred>
    std::optional<Frame> read_until(Pred pred, std::vector<Frame>* seen = nullptr) {
        for (int i = 0; i < 1'000'000; ++i) {
            auto f = read();
            if (!f) return std::nullopt;
            if (seen) seen->push_back(*f);
            if (pred(*f)) return f;
        }
        return std::nullopt;
    }
    // True when the server closes the connection (EOF or reset) within the receive timeout.
    bool closed_by_server() {
        for (int i = 0; i < 100000; ++i) {
            std::array<char, 4096> buf{};
            boost::system::error_code ec;
            sock_.read_some(boost::asio::buffer(buf), ec);
            if (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
                return true;
            if (ec) return false;  // timeout
        }
        return false;
    }

  private:
    boost::asio::io_context io_;
    boost::asio::ip::tcp::socket sock_;
    nghttp2_hd_deflater* deflater_ = nullptr;
};

inline bool is_goaway(const Frame& f) {
    return f.type == NGHTTP2_GOAWAY;
}

}  // namespace cdn::test::h2
