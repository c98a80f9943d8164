#include "geodns/server/dns_server.hpp"

#include "common/log.hpp"
#include "geodns/server/responder.hpp"
#include "geodns/server/tcp_admission.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <span>
#include <system_error>

namespace cdn::geodns {
namespace {

namespace beast = boost::beast;
using udp = asio::ip::udp;
using namespace boost::asio::experimental::awaitable_operators;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kUdpBatch = 32;  // datagrams per recvmmsg/sendmmsg call

std::size_t type_index(std::uint16_t qtype) {
    switch (qtype) {
        case 1: return 0;    // A
        case 28: return 1;   // AAAA
        case 2: return 2;    // NS
        case 6: return 3;    // SOA
        case 5: return 4;    // CNAME
        case 16: return 5;   // TXT
        case 255: return 6;  // ANY
        case 0: return 8;    // no question could be read
        default: return 7;
    }
}

std::size_t rcode_index(std::uint16_t rcode) {
    if (rcode <= 5) return rcode;
    return rcode == 16 ? 6 : 7;
}

// A worker's view of a Snapshot: refreshed only when the generation moved.
template <class T>
class View {
  public:
    explicit View(const Snapshot<T>& state) : state_(state) {}
    const T& get() {
        const std::uint64_t g = state_.generation();
        if (g != generation_) {
            current_ = state_.current();
            generation_ = g;
        }
        return *current_;
    }

  private:
    const Snapshot<T>& state_;
    std::uint64_t generation_ = 0;
    std::shared_ptr<const T> current_;
};

udp::endpoint to_udp(const tcp::endpoint& ep) {
    return udp::endpoint(ep.address(), ep.port());
}

std::shared_ptr<udp::socket> bind_udp(asio::io_context& io, const udp::endpoint& ep) {
    auto sock = std::make_shared<udp::socket>(io);
    sock->open(ep.protocol());
    const int one = 1;
    if (::setsockopt(sock->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        throw std::system_error(errno, std::system_category(), "SO_REUSEPORT");
    if (ep.address().is_v6()) sock->set_option(asio::ip::v6_only(true));
    // Room for bursts: a resolver farm sends in waves.
    boost::system::error_code ignored;
    sock->set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
    sock->bind(ep);
    sock->non_blocking(true);
    return sock;
}

// Binds `ep` alone (no SO_REUSEPORT, no SO_REUSEADDR) and lets it go: this fails when another
// socket holds the port, even one that shares it with SO_REUSEPORT (another geodns).
void probe_udp(asio::io_context& io, const udp::endpoint& ep) {
    udp::socket probe(io);
    boost::system::error_code ec;
    probe.open(ep.protocol(), ec);
    if (!ec && ep.address().is_v6()) probe.set_option(asio::ip::v6_only(true), ec);
    if (!ec) probe.bind(ep, ec);
    if (ec == asio::error::address_in_use)
        throw std::system_error(
            ec, fmt::format("udp {}: another process holds this port (another geodns?); set "
                            "[server] reuse_port = true to share it on purpose",
                            to_string(tcp::endpoint(ep.address(), ep.port()))));
    if (ec)
        throw std::system_error(
            ec, fmt::format("udp {}", to_string(tcp::endpoint(ep.address(), ep.port()))));
}

}  // namespace

DnsMetrics::DnsMetrics(MetricsRegistry& r) {
    static constexpr std::array<const char*, kTypes> types = {
        "A", "AAAA", "NS", "SOA", "CNAME", "TXT", "ANY", "other", "none"};
    static constexpr std::array<const char*, kRcodes> rcodes = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"};
    for (std::size_t i = 0; i < kTypes; ++i) {
        udp_queries[i] =
            &r.counter("cdn_geodns_queries_total", "DNS queries by transport and type.",
                       fmt::format(R"(transport="udp",qtype="{}")", types[i]));
        tcp_queries[i] =
            &r.counter("cdn_geodns_queries_total", "DNS queries by transport and type.",
                       fmt::format(R"(transport="tcp",qtype="{}")", types[i]));
    }
    for (std::size_t i = 0; i < kRcodes; ++i)
        responses[i] = &r.counter("cdn_geodns_responses_total", "DNS responses by RCODE.",
                                  fmt::format(R"(rcode="{}")", rcodes[i]));
    truncated = &r.counter("cdn_geodns_truncated_total",
                           "UDP responses cut to fit the requester's buffer (TC set).");
    ecs = &r.counter("cdn_geodns_ecs_queries_total", "Queries carrying EDNS Client Subnet.");
    dropped = &r.counter("cdn_geodns_dropped_total",
                         "Packets not answered (responses, runts, send failures).");
    rrl_dropped =
        &r.counter("cdn_geodns_rrl_dropped_total", "UDP responses over the rate limit, not sent.");
    rrl_slipped = &r.counter("cdn_geodns_rrl_slipped_total",
                             "UDP responses over the rate limit, sent truncated (TC) instead.");
    rrl_evictions = &r.counter("cdn_geodns_rrl_table_evictions_total",
                               "Rate-limiter buckets handed to another flow before they refilled.");
    tcp_refused = &r.counter("cdn_geodns_tcp_refused_total",
                             "TCP connections closed at once: over the connection limit.");
    tcp_client_refused =
        &r.counter("cdn_geodns_tcp_client_refused_total",
                   "TCP connections closed at once: the client holds its limit already.");
    tcp_busy_closed =
        &r.counter("cdn_geodns_tcp_busy_closed_total",
                   "Idle TCP connections closed after the shorter timeout: slots ran short.");
    tcp_closed_bad = &r.counter("cdn_geodns_tcp_bad_total",
                                "TCP connections closed for a bad frame or a stalled query.");
    tcp_connections = &r.gauge("cdn_geodns_tcp_connections", "Open TCP connections.");
    udp_coalesce_waits =
        &r.counter("cdn_geodns_udp_coalesce_waits_total",
                   "UDP threads' waits of [server] udp_coalesce_us for a fuller batch of queries.");
}

void DnsMetrics::count(bool tcp, std::uint16_t qtype, std::uint16_t rcode, bool was_truncated,
                       bool had_ecs) {
    (tcp ? tcp_queries : udp_queries)[type_index(qtype)]->inc();
    responses[rcode_index(rcode)]->inc();
    if (was_truncated) truncated->inc();
    if (had_ecs) ecs->inc();
}

void DnsMetrics::count_query(bool tcp, std::uint16_t qtype, bool had_ecs) {
    (tcp ? tcp_queries : udp_queries)[type_index(qtype)]->inc();
    if (had_ecs) ecs->inc();
}

namespace detail {
// The limits one generation applies, with the rate limiter built for them.
struct DnsLive {
    DnsLimits limits;
    std::shared_ptr<Rrl> rrl;  // null: rate limiting is off
};

struct DnsShared {
    DnsShared(DnsServerOptions o, const ServedState& s, DnsMetrics& m, const Clock& c)
        : endpoints(std::move(o.endpoints)),
          reuse_port(o.reuse_port),
          udp_blocking(o.udp_blocking),
          served(s),
          metrics(m),
          clock(c),
          live(std::make_shared<const DnsLive>(DnsLive{
              o.limits, o.limits.rrl.enabled ? std::make_shared<Rrl>(o.limits.rrl) : nullptr})),
          tcp(o.limits.tcp_max_connections, o.limits.tcp_max_connections_per_client) {}
    const std::vector<asio::ip::tcp::endpoint> endpoints;
    const bool reuse_port;
    const bool udp_blocking;
    std::atomic<bool> stopping{false};  // tells the blocking UDP threads to return
    const ServedState& served;
    DnsMetrics& metrics;
    const Clock& clock;
    Snapshot<DnsLive> live;
    TcpAdmission tcp;
};
}  // namespace detail

namespace {

asio::awaitable<void> udp_loop(std::shared_ptr<detail::DnsShared> shared,
                               std::shared_ptr<udp::socket> sock);
void udp_blocking_loop(std::shared_ptr<detail::DnsShared> shared, int fd);

asio::awaitable<void> tcp_session(std::shared_ptr<detail::DnsShared> shared, tcp::socket socket);

}  // namespace

DnsServer::DnsServer(WorkerPool& pool, DnsServerOptions options, const ServedState& served,
                     DnsMetrics& metrics, const Clock& clock)
    : pool_(pool),
      shared_(std::make_shared<detail::DnsShared>(std::move(options), served, metrics, clock)) {}

DnsServer::~DnsServer() {
    stop();
}

std::vector<tcp::endpoint> DnsServer::start() {
    std::vector<tcp::endpoint> bound;
    auto handler = [shared = shared_](tcp::socket s) { return tcp_session(shared, std::move(s)); };
    for (const tcp::endpoint& want : shared_->endpoints) {
        // A port held by another process is an error, unless sharing it is what the operator
        // asked for (port 0 always gets a port nobody holds).
        if (want.port() != 0 && !shared_->reuse_port) probe_udp(pool_.at(0), to_udp(want));
        // Port 0: let the kernel pick a UDP port, then take the same TCP port; retry if that
        // TCP port is taken.
        std::vector<std::shared_ptr<udp::socket>> socks;
        std::unique_ptr<Listener> listener;
        for (int attempt = 0;; ++attempt) {
            socks.clear();
            socks.push_back(bind_udp(pool_.at(0), to_udp(want)));
            const udp::endpoint got = socks.front()->local_endpoint();
            try {
                listener =
                    std::make_unique<Listener>(pool_, tcp::endpoint(got.address(), got.port()),
                                               handler, 0, shared_->reuse_port);
            } catch (const std::system_error&) {
                if (want.port() != 0 || attempt >= 20) throw;
                continue;
            }
            for (std::size_t w = 1; w < pool_.size(); ++w)
                socks.push_back(bind_udp(pool_.at(w), got));
            bound.emplace_back(got.address(), got.port());
            break;
        }
        for (auto& s : socks) {
            if (shared_->udp_blocking) {
                // Out of the reactor: registered with epoll (edge-triggered), every datagram
                // woke the idle worker as well as the thread that reads it (issue 19: 0.08-0.22
                // extra epoll_wait and 0.2 extra context switches per query).
                const int fd = s->release();
                udp_fds_.push_back(fd);
                udp_threads_.emplace_back(udp_blocking_loop, shared_, fd);
                continue;
            }
            asio::co_spawn(s->get_executor(), udp_loop(shared_, s), asio::detached);
            udp_.push_back(std::move(s));
        }
        tcp_.push_back(std::move(listener));
    }
    return bound;
}

void DnsServer::set_limits(const DnsLimits& limits) {
    using detail::DnsLive;
    const auto old = shared_->live.current();
    std::shared_ptr<Rrl> rrl;
    if (limits.rrl.enabled)
        rrl = old->rrl && old->limits.rrl == limits.rrl ? old->rrl
                                                        : std::make_shared<Rrl>(limits.rrl);
    shared_->tcp.set_limits(limits.tcp_max_connections, limits.tcp_max_connections_per_client);
    shared_->live.publish(std::make_shared<const DnsLive>(DnsLive{limits, std::move(rrl)}));
}

void DnsServer::stop() {
    for (auto& l : tcp_)
        l->close();
    tcp_.clear();
    if (!udp_threads_.empty()) {
        // Wake the blocked recvmmsg calls (a shutdown wakes readers even of an unconnected UDP
        // socket; the receive timeout bounds the wait anyway), then wait for the threads.
        shared_->stopping.store(true);
        for (const int fd : udp_fds_)
            ::shutdown(fd, SHUT_RDWR);
        for (auto& t : udp_threads_)
            t.join();
        udp_threads_.clear();
        for (const int fd : udp_fds_)
            ::close(fd);
        udp_fds_.clear();
    }
    for (auto& s : udp_) {
        // Closed on its own worker: the loop may be inside a batch on that thread.
        asio::post(s->get_executor(), [s] {
            boost::system::error_code ignored;
            s->close(ignored);
        });
    }
    udp_.clear();
}

namespace {

// The packet source as an address (IPv4-mapped IPv6 is left for the responder to unwrap).
asio::ip::address source_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        return asio::ip::address_v4(ntohl(a.sin_addr.s_addr));
    }
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &a6.sin6_addr, b.size());
    return asio::ip::address_v6(b, a6.sin6_scope_id);
}

// One socket's receive and send batches: recvmmsg takes up to kUdpBatch queries per system call
// and sendmmsg returns their answers in one, as gdnsd does; per-packet recvfrom/sendto made the
// kernel most of geodns' cost (bench/README.md, dns_qps).
struct UdpBatch {
    static constexpr std::size_t kQueryBytes = 4096;  // a larger query arrives cut: FORMERR
    explicit UdpBatch(std::size_t answer_bytes)
        : in(kUdpBatch * kQueryBytes), out(kUdpBatch * answer_bytes), answer_size(answer_bytes) {
        arm_receive();
    }
    std::vector<std::uint8_t> in;
    std::vector<std::uint8_t> out;
    std::size_t answer_size;
    std::array<mmsghdr, kUdpBatch> rx{};
    std::array<iovec, kUdpBatch> rx_iov{};
    std::array<sockaddr_storage, kUdpBatch> from{};
    std::array<mmsghdr, kUdpBatch> tx{};
    std::array<iovec, kUdpBatch> tx_iov{};

    // Room for answers of up to `answer_bytes` (between batches: nothing points into `out`).
    void fit_answers(std::size_t answer_bytes) {
        if (answer_bytes == answer_size) return;
        out.assign(kUdpBatch * answer_bytes, 0);
        answer_size = answer_bytes;
    }

    // Before the first recvmmsg; after one, rearm(got) resets only what it changed (re-arming
    // all 32 slots cost more than the answer itself at low load: issue 19's callgrind counts).
    void rearm(std::size_t used) {
        for (std::size_t i = 0; i < used; ++i) {
            rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
            rx[i].msg_hdr.msg_flags = 0;
            rx[i].msg_len = 0;
        }
    }

    void arm_receive() {
        for (std::size_t i = 0; i < kUdpBatch; ++i) {
            rx_iov[i] = iovec{in.data() + i * kQueryBytes, kQueryBytes};
            rx[i].msg_hdr = msghdr{};
            rx[i].msg_hdr.msg_name = &from[i];
            rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
            rx[i].msg_hdr.msg_iov = &rx_iov[i];
            rx[i].msg_hdr.msg_iovlen = 1;
            rx[i].msg_len = 0;
        }
    }
};

// Answers the `got` queries recvmmsg put in `batch` and sends the answers with sendmmsg (never
// blocking: a full send buffer drops the answer, the client retries).
void answer_batch(detail::DnsShared& shd, UdpBatch& batch, int fd, std::size_t got,
                  View<Served>& view, View<detail::DnsLive>& live_view) {
    DnsMetrics& m = shd.metrics;
    const Served& served = view.get();
    const detail::DnsLive& live = live_view.get();
    Rrl* const rrl = live.rrl.get();
    ResponderOptions options;
    options.max_udp_payload = live.limits.max_udp_payload;
    options.name_hash = rrl != nullptr;
    batch.fit_answers(std::max<std::size_t>(512, options.max_udp_payload));
    const TimePoint now = rrl != nullptr ? shd.clock.now() : TimePoint{};
    unsigned answers = 0;
    for (std::size_t i = 0; i < got; ++i) {
        const std::size_t n = batch.rx[i].msg_len;
        std::uint8_t* answer = batch.out.data() + answers * batch.answer_size;
        const asio::ip::address source = source_of(batch.from[i]);
        ResponseInfo info = respond(
            *served.zones, *served.steering,
            std::span<const std::uint8_t>(batch.in.data() + i * UdpBatch::kQueryBytes, n), source,
            Transport::udp, options, std::span<std::uint8_t>(answer, batch.answer_size));
        if (info.size == 0) {
            m.dropped->inc();
            continue;
        }
        if (rrl != nullptr) {
            const RrlDecision d = rrl->check(source, info.rcode, info.qtype, info.name_hash, now);
            if (d.evicted) m.rrl_evictions->inc();
            if (d.verdict == RrlVerdict::drop) {
                m.count_query(false, info.qtype, info.ecs);
                m.rrl_dropped->inc();
                continue;
            }
            if (d.verdict == RrlVerdict::slip) {
                info.size = make_slip_response(std::span(answer, info.size));
                info.truncated = false;  // counted as a slip, not as a cut answer
                m.rrl_slipped->inc();
            }
        }
        m.count(false, info.qtype, info.rcode, info.truncated, info.ecs);
        batch.tx_iov[answers] = iovec{answer, info.size};
        batch.tx[answers].msg_hdr = msghdr{};
        batch.tx[answers].msg_hdr.msg_name = &batch.from[i];
        batch.tx[answers].msg_hdr.msg_namelen = batch.rx[i].msg_hdr.msg_namelen;
        batch.tx[answers].msg_hdr.msg_iov = &batch.tx_iov[answers];
        batch.tx[answers].msg_hdr.msg_iovlen = 1;
        ++answers;
    }
    unsigned sent = 0;
    while (sent < answers) {
        const int r = ::sendmmsg(fd, batch.tx.data() + sent, answers - sent, MSG_DONTWAIT);
        if (r <= 0) {
            // A full send buffer (or an error for the first message): drop it and go on
            // with the rest; the client retries.
            m.dropped->inc();
            ++sent;
            continue;
        }
        sent += static_cast<unsigned>(r);
    }
}

asio::awaitable<void> udp_loop(std::shared_ptr<detail::DnsShared> shared,
                               std::shared_ptr<udp::socket> sock) {
    View<Served> view(shared->served);
    View<detail::DnsLive> live_view(shared->live);
    // Answers never exceed max_udp_payload (the responder caps UDP at it); a reload that changes
    // it resizes the answer buffers.
    UdpBatch batch(std::max<std::size_t>(512, live_view.get().limits.max_udp_payload));
    for (;;) {
        auto [ec] = co_await sock->async_wait(udp::socket::wait_read, nothrow);
        if (!sock->is_open()) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            continue;
        }
        const int fd = sock->native_handle();
        // A few batches per wake-up, then back to the io_context so timers and TCP get a turn.
        for (int round = 0; round < 4; ++round) {
            const int got = ::recvmmsg(fd, batch.rx.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
            if (got <= 0) break;  // EAGAIN: drained; anything else (an ICMP error): next wait
            answer_batch(*shared, batch, fd, static_cast<std::size_t>(got), view, live_view);
            batch.rearm(static_cast<std::size_t>(got));
            if (static_cast<std::size_t>(got) < kUdpBatch) break;  // the socket is drained
        }
    }
}

// The same as udp_loop on a thread of its own, blocking in recvmmsg until at least one query is
// there (MSG_WAITFORONE takes what else has arrived, up to the batch), as gdnsd's UDP threads
// do: no reactor, no wake-up of a coroutine per batch. It returns when stop() sets `stopping`.
void udp_blocking_loop(std::shared_ptr<detail::DnsShared> shared, int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const timeval wake{0, 200'000};  // check `stopping` at least this often
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof wake);
    View<Served> view(shared->served);
    View<detail::DnsLive> live_view(shared->live);
    UdpBatch batch(std::max<std::size_t>(512, live_view.get().limits.max_udp_payload));
    // The coalescing wait below is short: without this, the kernel may extend a sleep of this
    // thread by its default timer slack (50 us).
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    while (!shared->stopping.load(std::memory_order_relaxed)) {
        const int got = ::recvmmsg(fd, batch.rx.data(), kUdpBatch, MSG_WAITFORONE, nullptr);
        if (got <= 0) continue;  // the timeout, a signal, an ICMP error, or shutdown by stop()
        answer_batch(*shared, batch, fd, static_cast<std::size_t>(got), view, live_view);
        batch.rearm(static_cast<std::size_t>(got));
        // Interrupt coalescing, as a NIC's: more than one query but less than a batch means they
        // arrive faster than one per wake-up, and each wake-up (a context switch, a recvmmsg and
        // a sendmmsg) costs about as much as answering several queries. Waiting a little lets
        // the next recvmmsg take a fuller batch: less CPU per query under load, for at most
        // udp_coalesce more latency. A lone query (idle or light load) is never held, and a full
        // batch means more are waiting: read them at once.
        const auto wait = live_view.get().limits.udp_coalesce;
        if (wait.count() > 0 && got > 1 && got < static_cast<int>(kUdpBatch)) {
            const timespec ts{
                0, static_cast<long>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count())};
            ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
            shared->metrics.udp_coalesce_waits->inc();
        }
    }
}

// A connection's hold on its admission slot, given back when the session ends.
struct TcpSlot {
    detail::DnsShared& shared;
    asio::ip::address client;
    ~TcpSlot() {
        shared.tcp.release(client);
        shared.metrics.tcp_connections->add(-1);
    }
};

// Waits until the next query starts to arrive, or the client closes. False when the client
// stayed idle too long: tcp_idle_timeout, or tcp_busy_idle_timeout while more than 3/4 of the
// slots are taken. Checked again every busy timeout, so a connection already idle when the rush
// starts is closed too.
asio::awaitable<bool> wait_for_query(detail::DnsShared& shared, const DnsLimits& o,
                                     tcp::socket& socket, asio::steady_timer& timer) {
    const auto busy_timeout = std::min(o.tcp_busy_idle_timeout, o.tcp_idle_timeout);
    boost::system::error_code ec;
    if (socket.available(ec) > 0) co_return true;  // pipelined: the next query is here already
    const auto idle_since = std::chrono::steady_clock::now();
    for (;;) {
        const bool busy = shared.tcp.busy();
        const auto deadline = idle_since + (busy ? busy_timeout : o.tcp_idle_timeout);
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            if (busy && busy_timeout < o.tcp_idle_timeout) shared.metrics.tcp_busy_closed->inc();
            co_return false;
        }
        timer.expires_at(std::min(deadline, now + busy_timeout));
        auto woke = co_await (socket.async_wait(tcp::socket::wait_read, nothrow) ||
                              timer.async_wait(nothrow));
        if (woke.index() == 0) co_return true;  // bytes, EOF or an error: the read tells which
    }
}

asio::awaitable<void> tcp_session(std::shared_ptr<detail::DnsShared> shared, tcp::socket socket) {
    DnsMetrics& m = shared->metrics;
    boost::system::error_code ignored;
    boost::system::error_code pec;
    const auto peer = socket.remote_endpoint(pec);
    if (pec) {  // reset before we got to it
        socket.close(ignored);
        co_return;
    }
    switch (shared->tcp.admit(peer.address())) {
        case TcpAdmission::Result::admitted: break;
        case TcpAdmission::Result::server_full:
            m.tcp_refused->inc();
            socket.close(ignored);
            co_return;
        case TcpAdmission::Result::client_full:
            m.tcp_client_refused->inc();
            socket.close(ignored);
            co_return;
    }
    m.tcp_connections->add(1);
    TcpSlot slot{*shared, peer.address()};
    beast::tcp_stream stream(std::move(socket));
    asio::steady_timer idle_timer(stream.get_executor());
    std::vector<std::uint8_t> in(65535);
    std::vector<std::uint8_t> out(2 + 65535);
    View<Served> view(shared->served);
    View<detail::DnsLive> live_view(shared->live);
    for (unsigned q = 0;; ++q) {
        // The limits of the latest reload; this query keeps them until it is answered.
        const DnsLimits& o = live_view.get().limits;
        if (q >= o.tcp_max_queries) break;
        const auto busy_timeout = std::min(o.tcp_busy_idle_timeout, o.tcp_idle_timeout);
        ResponderOptions options;
        options.max_udp_payload = o.max_udp_payload;
        if (!co_await wait_for_query(*shared, o, stream.socket(), idle_timer)) break;
        // Once a query has begun, all of it must arrive within the idle timeout (RFC 7766
        // §6.2.3: a client that stalls mid-message is closed like an idle one).
        stream.expires_after(shared->tcp.busy() ? busy_timeout : o.tcp_idle_timeout);
        std::array<std::uint8_t, 2> len{};
        auto [lec, ln] = co_await asio::async_read(stream, asio::buffer(len), nothrow);
        if (lec) {
            if (lec == beast::error::timeout && ln > 0) m.tcp_closed_bad->inc();
            break;
        }
        const std::size_t size = (std::size_t{len[0]} << 8) | len[1];
        if (size == 0) {  // a zero-length frame is no DNS message
            m.tcp_closed_bad->inc();
            break;
        }
        auto [rec, rn] = co_await asio::async_read(stream, asio::buffer(in.data(), size), nothrow);
        if (rec) {
            m.tcp_closed_bad->inc();
            break;
        }
        const Served& served = view.get();
        const ResponseInfo info =
            respond(*served.zones, *served.steering, std::span(in.data(), size), peer.address(),
                    Transport::tcp, options, std::span(out.data() + 2, out.size() - 2));
        if (info.size == 0) {
            m.dropped->inc();
            break;
        }
        m.count(true, info.qtype, info.rcode, info.truncated, info.ecs);
        out[0] = static_cast<std::uint8_t>(info.size >> 8);
        out[1] = static_cast<std::uint8_t>(info.size & 0xff);
        auto [wec, wn] =
            co_await asio::async_write(stream, asio::buffer(out.data(), info.size + 2), nothrow);
        if (wec) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
}

}  // namespace

}  // namespace cdn::geodns
