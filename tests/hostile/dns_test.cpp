// Hostile DNS clients against the real geodns binary on loopback, over raw UDP and TCP sockets:
// one client hoarding TCP slots, many clients filling them, a reflection flood of a large TXT
// answer from one source (response rate limiting), and malformed packets of every kind.
#include "tests/integration/geodns_fixture.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cdn::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A socket closed on scope exit.
class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_;
};

sockaddr_in loopback(const std::string& address, std::uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1)
        throw std::runtime_error("bad address " + address);
    return sa;
}

// A socket bound to `source` (any 127/8 address is local on Linux), port chosen by the kernel.
Fd bound_socket(int type, const std::string& source) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw std::runtime_error("socket failed");
    const sockaddr_in from = loopback(source, 0);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0)
        throw std::runtime_error("bind " + source + " failed");
    return fd;
}

// A TCP connection from `source` to geodns (the kernel completes it from the listen backlog;
// whether geodns keeps it is for the test to find out).
Fd tcp_from(const std::string& source, std::uint16_t port) {
    Fd fd = bound_socket(SOCK_STREAM, source);
    const sockaddr_in to = loopback("127.0.0.1", port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
        throw std::runtime_error("connect from " + source + " failed");
    return fd;
}

// True when the peer has closed (EOF or reset); reads and discards anything else. Never blocks.
bool peer_closed(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Reads exactly n bytes before the deadline; false on EOF, error or timeout.
bool read_exact(int fd, char* out, std::size_t n, Clock::time_point deadline) {
    std::size_t got = 0;
    while (got < n) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
        const ssize_t r = ::recv(fd, out + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

// One length-framed DNS exchange on a TCP connection; nullopt when the server closed the
// connection or did not answer within `timeout`.
std::optional<std::string> tcp_ask(int fd, const std::string& message,
                                   std::chrono::milliseconds timeout = 2000ms) {
    std::string framed;
    framed.push_back(static_cast<char>(message.size() >> 8));
    framed.push_back(static_cast<char>(message.size() & 0xff));
    framed += message;
    if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(framed.size()))
        return std::nullopt;
    const auto deadline = Clock::now() + timeout;
    char len[2];
    if (!read_exact(fd, len, 2, deadline)) return std::nullopt;
    const std::size_t size =
        (std::size_t{static_cast<unsigned char>(len[0])} << 8) | static_cast<unsigned char>(len[1]);
    std::string reply(size, '\0');
    if (!read_exact(fd, reply.data(), size, deadline)) return std::nullopt;
    return reply;
}

// The fields of a DNS header the tests look at.
struct Reply {
    std::uint16_t id = 0;
    bool qr = false;
    bool tc = false;
    unsigned rcode = 0;  // the header's 4 bits
    std::uint16_t qdcount = 0, ancount = 0;
};

Reply header_of(const std::string& m) {
    REQUIRE(m.size() >= 12);
    auto u16 = [&m](std::size_t at) {
        return static_cast<std::uint16_t>((static_cast<unsigned char>(m[at]) << 8) |
                                          static_cast<unsigned char>(m[at + 1]));
    };
    Reply r;
    r.id = u16(0);
    r.qr = (u16(2) & 0x8000) != 0;
    r.tc = (u16(2) & 0x0200) != 0;
    r.rcode = u16(2) & 0x0f;
    r.qdcount = u16(4);
    r.ancount = u16(6);
    return r;
}

// geodns_config() (tests/integration/geodns_fixture.hpp) with its [server] settings replaced.
std::string config_with_server(const std::string& server_lines, const std::string& extra = "") {
    std::string c = geodns_config({}, extra);
    const std::string fixture_line = "tcp_idle_timeout = \"300ms\"\n";
    const auto at = c.find(fixture_line);
    REQUIRE(at != std::string::npos);
    c.replace(at, fixture_line.size(), server_lines);
    return c;
}

// Four 250-byte strings: a TXT answer of about 1,060 bytes for a 44-byte query (EDNS 1232), the
// ~25x amplification the review measured.
std::string big_txt_record() {
    std::string r = "\n[[zones.records]]\nname = \"big\"\ntype = \"TXT\"\nvalues = [";
    for (int i = 0; i < 4; ++i)
        r += (i ? ", \"" : "\"") + std::string(250, static_cast<char>('a' + i)) + "\"";
    return r + "]\n";
}

// Connections held open by a client, and how many of them the server has closed so far.
struct Held {
    std::vector<Fd> fds;
    std::vector<bool> closed;
    void add(Fd fd) {
        fds.push_back(std::move(fd));
        closed.push_back(false);
    }
    std::size_t count_closed() {
        std::size_t n = 0;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (!closed[i] && peer_closed(fds[i].get())) closed[i] = true;
            n += closed[i] ? 1 : 0;
        }
        return n;
    }
};

}  // namespace

// Before the per-client cap, one address could take every slot (tcp_max_connections) for the
// whole idle timeout and every other client's TCP connection was closed at once.
TEST_CASE("hostile_dns: one client holding idle TCP connections does not lock out another",
          "[hostile][dns][tcp]") {
    TempDir dir;
    // 64 slots, a long idle timeout (the attacker's friend); tcp_max_connections_per_client is
    // left at its default (16).
    GeoDns dns(dir, config_with_server("tcp_max_connections = 64\ntcp_idle_timeout = \"10s\"\n"));
    Held hog;
    for (int i = 0; i < 70; ++i)
        hog.add(tcp_from("127.0.0.1", dns.port()));
    // The connections over the client's cap are closed at once; 16 stay open (idle).
    CHECK(eventually([&] { return hog.count_closed() >= 70 - 16; }, 3s));
    INFO("hog connections closed by the server: " << hog.count_closed());
    CHECK(hog.count_closed() == 70 - 16);

    // Another client (another loopback address) is answered at once.
    const auto t0 = Clock::now();
    Fd other = tcp_from("127.0.0.2", dns.port());
    const auto reply = tcp_ask(other.get(), make_query(0x4242, "ns1.cdn.example", 1), 2000ms);
    const auto took = Clock::now() - t0;
    REQUIRE(reply);
    const Reply h = header_of(*reply);
    CHECK(h.id == 0x4242);
    CHECK(h.rcode == 0);
    CHECK(h.ancount == 1);
    CHECK(took < 1s);
    CHECK(dns.metric("cdn_geodns_tcp_client_refused_total") == 70 - 16);
    CHECK(dns.process().running());
}

// Before the busy idle timeout, slots filled by idle connections from many addresses stayed
// taken for the whole idle timeout (60 s here).
TEST_CASE("hostile_dns: when TCP slots run short, idle connections are closed sooner",
          "[hostile][dns][tcp]") {
    TempDir dir;
    // 16 slots; above 12 open (3/4) idle connections get tcp_busy_idle_timeout (default 1 s)
    // instead of tcp_idle_timeout. The waits below are generous for a loaded CI machine (this
    // test once failed under load with 3 s and 4 s) and still far below the 60 s a newcomer would
    // wait without the busy timeout.
    GeoDns dns(dir, config_with_server("tcp_max_connections = 16\ntcp_idle_timeout = \"60s\"\n"));
    Held idle;
    for (int client = 1; client <= 8; ++client)
        for (int i = 0; i < 2; ++i)
            idle.add(tcp_from("127.0.1." + std::to_string(client), dns.port()));
    // Accepted by both workers in any order: wait until geodns holds all of them.
    REQUIRE(eventually([&] { return dns.metric("cdn_geodns_tcp_connections") == 16; }, 10s));
    // Every slot is taken and every holder is idle: a newcomer gets in within a few seconds.
    const auto t0 = Clock::now();
    bool answered = false;
    CHECK(eventually(
        [&] {
            Fd fd = tcp_from("127.0.0.3", dns.port());
            const auto reply = tcp_ask(fd.get(), make_query(7, "ns2.cdn.example", 1), 1000ms);
            answered = reply && header_of(*reply).ancount == 1;
            return answered;
        },
        15s));
    INFO("newcomer answered after " << std::chrono::duration<double>(Clock::now() - t0).count()
                                    << " s");
    CHECK(answered);
    // Enough idle holders are closed to bring the server back under 3/4 (16 - 12). The newcomer
    // can get in on the first closes, before the rest (a slot it takes counts as open again, so
    // another busy check may be needed): a clean-clone CI run saw 3 of 4 here. Wait for them.
    CHECK(eventually([&] { return idle.count_closed() >= 4; }, 10s));
    INFO("idle connections closed by the server: " << idle.count_closed());
    CHECK(eventually([&] { return dns.metric("cdn_geodns_tcp_busy_closed_total") >= 4; }, 10s));
}

// Before response rate limiting every query of the flood got the full ~1 KB answer: 25x the
// bytes the (spoofable) source sent.
TEST_CASE("hostile_dns: a UDP flood of a large answer from one source is rate limited",
          "[hostile][dns][rrl]") {
    TempDir dir;
    // The default [rrl]: 200 responses/s per /24 and answer, burst 200, slip 2.
    GeoDns dns(dir, config_with_server("tcp_idle_timeout = \"2s\"\n", big_txt_record()));
    {  // The answer really is large.
        const std::string reply =
            udp_exchange(dns.port(), make_query(1, "big.cdn.example", 16, true));
        REQUIRE(reply.size() > 1000);
        CHECK(header_of(reply).ancount == 4);
    }

    Fd flood = bound_socket(SOCK_DGRAM, "127.0.0.1");
    int rcvbuf = 8 << 20;
    ::setsockopt(flood.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    const sockaddr_in to = loopback("127.0.0.1", dns.port());
    constexpr int kQueries = 5000;
    std::size_t bytes_in = 0, bytes_out = 0, full = 0, slipped = 0, replies = 0;
    auto drain = [&](std::chrono::milliseconds wait) {
        char buf[4096];
        for (;;) {
            pollfd p{flood.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return;
            const ssize_t n = ::recv(flood.get(), buf, sizeof buf, 0);
            if (n < 12) continue;
            ++replies;
            bytes_out += static_cast<std::size_t>(n);
            const Reply h = header_of(std::string(buf, static_cast<std::size_t>(n)));
            if (h.tc && h.ancount == 0) ++slipped;
            if (!h.tc && h.ancount == 4) ++full;
        }
    };
    std::optional<std::string> tcp_reply;
    const auto t0 = Clock::now();
    for (int i = 0; i < kQueries; ++i) {
        const std::string q =
            make_query(static_cast<std::uint16_t>(i), "big.cdn.example", 16, true);
        ::sendto(flood.get(), q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
        bytes_in += q.size();
        if (i % 50 == 49) drain(2ms);  // paced, so the kernel drops none of it on either side
        if (i == kQueries / 2) {       // mid-flood, the same source over TCP: never rate limited
            Fd tcp = tcp_from("127.0.0.1", dns.port());
            tcp_reply = tcp_ask(tcp.get(), make_query(0x7777, "big.cdn.example", 16, true));
        }
    }
    drain(500ms);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double ratio = static_cast<double>(bytes_out) / static_cast<double>(bytes_in);
    INFO("sent " << kQueries << " queries (" << bytes_in << " bytes) in " << seconds << " s; got "
                 << replies << " replies (" << bytes_out << " bytes): " << full << " full, "
                 << slipped << " truncated (slip); amplification " << ratio);
    // At most the burst plus the rate over the time the flood lasted (one source port: one
    // worker, one bucket).
    CHECK(full <= static_cast<std::size_t>(200 + 200 * seconds) + 10);
    CHECK(full >= 100);     // the flow is limited, not blocked
    CHECK(slipped >= 100);  // every other limited answer asks the client to retry over TCP
    CHECK(replies < kQueries);
    CHECK(ratio < 5.0);
    REQUIRE(tcp_reply);
    CHECK(header_of(*tcp_reply).ancount == 4);
    CHECK_FALSE(header_of(*tcp_reply).tc);
    // Another /24 is another client: answered in full while 127.0.0.0/24 is limited.
    {
        Fd other = bound_socket(SOCK_DGRAM, "127.0.1.1");
        const std::string q = make_query(9, "big.cdn.example", 16, true);
        ::sendto(other.get(), q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
        pollfd p{other.get(), POLLIN, 0};
        REQUIRE(::poll(&p, 1, 1000) == 1);
        char buf[4096];
        const ssize_t n = ::recv(other.get(), buf, sizeof buf, 0);
        REQUIRE(n > 1000);
    }
    // The metrics count what the client saw: every TXT query over UDP was answered in full,
    // slipped or dropped (two more full answers: the first probe and the other /24).
    const double queries = dns.metric(R"(cdn_geodns_queries_total{transport="udp",qtype="TXT"})");
    const double dropped = dns.metric("cdn_geodns_rrl_dropped_total");
    const double slips = dns.metric("cdn_geodns_rrl_slipped_total");
    INFO("server: " << queries << " TXT queries over UDP, " << dropped << " dropped, " << slips
                    << " slipped");
    CHECK(slips >= static_cast<double>(slipped));
    CHECK(dropped >= 1);
    CHECK(dropped + slips + static_cast<double>(full) + 2 <= queries);
    CHECK(dns.process().running());
}

TEST_CASE("hostile_dns: malformed packets get FORMERR or nothing, over UDP and TCP",
          "[hostile][dns][malformed]") {
    TempDir dir;
    GeoDns dns(dir, config_with_server("tcp_idle_timeout = \"500ms\"\n"));
    const std::string good = make_query(0x1234, "ns1.cdn.example", 1);
    const std::string good_edns = make_query(0x1234, "ns1.cdn.example", 1, true);
    auto with_counts = [](std::string m, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
        const unsigned counts[4] = {qd, an, ns, ar};
        for (int i = 0; i < 4; ++i) {
            m[4 + 2 * i] = static_cast<char>(counts[i] >> 8);
            m[5 + 2 * i] = static_cast<char>(counts[i] & 0xff);
        }
        return m;
    };
    // The OPT record at the end of good_edns: root owner, type 41, class = payload, TTL, RDLEN.
    const std::string opt_head = good_edns.substr(0, good_edns.size() - 2);
    auto with_option = [&](const std::string& option) {
        std::string m = opt_head;
        m.push_back(static_cast<char>(option.size() >> 8));
        m.push_back(static_cast<char>(option.size() & 0xff));
        return m + option;
    };
    struct Case {
        const char* what;
        std::string packet;
        unsigned rcode;  // expected RCODE when answered (16: BADVERS, in OPT: header says 0)
        bool answered;
    };
    std::string version1 = good_edns;
    version1[version1.size() - 5] = 1;  // OPT TTL: extended rcode 0, version 1
    std::string opt_not_root = good_edns;
    opt_not_root[good_edns.size() - 11] = 1;  // owner: a 1-byte label with no end
    const std::string big_payload_lie = good.substr(0, 12) + std::string(5000, '\xff');
    const std::vector<Case> cases = {
        {"2-byte runt", good.substr(0, 2), 0, false},
        {"11-byte header", good.substr(0, 11), 0, false},
        {"header only, promising a question", good.substr(0, 12), 1, true},
        {"question cut in its name", good.substr(0, 16), 1, true},
        {"question without type and class", good.substr(0, good.size() - 4), 1, true},
        {"pointer loop in the question",
         good.substr(0, 12) + std::string("\xc0\x0c\x00\x01\x00\x01", 6), 1, true},
        {"pointer loop in an additional record",
         with_counts(good, 1, 0, 0, 1) +
             std::string("\xc0\x21\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00", 12),
         1, true},
        {"65535 questions", with_counts(good, 65535, 0, 0, 0), 1, true},
        {"huge answer/authority/additional counts", with_counts(good, 1, 65535, 65535, 65535), 1,
         true},
        {"label of 64 bytes", make_query(2, std::string(64, 'a') + ".cdn.example", 1), 1, true},
        {"name over 255 bytes",
         make_query(3,
                    std::string(60, 'a') + "." + std::string(60, 'b') + "." + std::string(60, 'c') +
                        "." + std::string(60, 'd') + "." + std::string(60, 'e'),
                    1),
         1, true},
        {"two OPT records",
         with_counts(good_edns, 1, 0, 0, 2) + good_edns.substr(good_edns.size() - 11), 1, true},
        {"OPT not owned by the root", opt_not_root, 1, true},
        {"OPT RDLENGTH past the end", opt_head + std::string("\x00\x40", 2), 1, true},
        {"EDNS option longer than the OPT", with_option(std::string("\x00\x08\x00\x20\x00\x01", 6)),
         1, true},
        {"ECS family 3", with_option(std::string("\x00\x08\x00\x04\x00\x03\x00\x00", 8)), 1, true},
        {"ECS IPv4 /33",
         with_option(std::string("\x00\x08\x00\x09\x00\x01\x21\x00\x01\x02\x03\x04\x05", 13)), 1,
         true},
        {"ECS bits past the prefix",
         with_option(std::string("\x00\x08\x00\x07\x00\x01\x10\x00\x0a\x01\xff", 11)), 1, true},
        {"EDNS version 1", version1, 0 /* BADVERS: 16 = OPT 1, header 0 */, true},
        {"a response (QR set)", std::string(good).replace(2, 1, 1, '\x81'), 0, false},
        {"5 KB of 0xff after a header", big_payload_lie, 1, true},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        const std::string reply = udp_exchange(dns.port(), c.packet, c.answered ? 1000ms : 300ms);
        if (!c.answered) {
            CHECK(reply.empty());
            continue;
        }
        REQUIRE(reply.size() >= 12);
        const Reply h = header_of(reply);
        CHECK(h.qr);
        CHECK(reply.substr(0, 2) == c.packet.substr(0, 2));
        CHECK(h.rcode == c.rcode);
        CHECK(h.ancount == 0);
        // An error never amplifies: at most the query (cut at 4 KB) and an OPT.
        CHECK(reply.size() <= std::min<std::size_t>(c.packet.size(), 4096) + 11);
    }
    // The same over TCP, one connection each: an error answer, or the connection closed.
    for (const Case& c : cases) {
        INFO("tcp: " << c.what);
        if (c.packet.size() > 65535) continue;
        // Each from its own address, so the per-client TCP cap never comes into it.
        Fd fd = tcp_from("127.0.2." + std::to_string(1 + (&c - cases.data())), dns.port());
        const auto reply = tcp_ask(fd.get(), c.packet, 1000ms);
        if (!reply) continue;  // closed: fine
        REQUIRE(reply->size() >= 12);
        CHECK(header_of(*reply).rcode == c.rcode);
    }
    // Noise: bounded, seeded, random datagrams.
    std::mt19937 rng(13);
    Fd noise = bound_socket(SOCK_DGRAM, "127.0.0.1");
    const sockaddr_in to = loopback("127.0.0.1", dns.port());
    for (int i = 0; i < 100; ++i) {
        std::string junk(12 + rng() % 300, '\0');
        for (char& ch : junk)
            ch = static_cast<char>(rng());
        if (i % 2) junk.replace(0, 12, good.substr(0, 12));  // a plausible header, junk after
        ::sendto(noise.get(), junk.data(), junk.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
    }
    // Still answering, over both transports.
    CHECK(eventually([&] {
        const std::string r = udp_exchange(dns.port(), good_edns, 300ms);
        return r.size() > 12 && header_of(r).ancount == 1;
    }));
    Fd fd = tcp_from("127.0.0.1", dns.port());
    const auto reply = tcp_ask(fd.get(), good);
    REQUIRE(reply);
    CHECK(header_of(*reply).ancount == 1);
    CHECK(dns.metric(R"(cdn_geodns_responses_total{rcode="FORMERR"})") >= 10);
    CHECK(dns.process().running());
}
