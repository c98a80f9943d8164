// geodns end to end: the real binary on a loopback port, asked by dig and kdig (UDP, TCP, EDNS
// Client Subnet), by a real resolver (unbound) and by raw sockets with malformed input; health
// failover with real edges killed and restarted; config errors and reloads.
#include "tests/integration/geodns_fixture.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

bool tool_exists(const std::string& name) {
    return run_command({"sh", "-c", "command -v " + name + " >/dev/null"}).status == 0;
}

int tcp_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        throw std::runtime_error("connect failed");
    }
    return fd;
}

// Reads until EOF or timeout; returns true when the peer closed.
bool wait_closed(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) == 1) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return true;
        }
    }
    return false;
}

// Context switches (voluntary + involuntary) of each thread of `pid`, by thread id.
std::map<std::string, long> thread_switches(pid_t pid) {
    std::map<std::string, long> out;
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& t : std::filesystem::directory_iterator(tasks)) {
        std::ifstream status(t.path() / "status");
        std::string line;
        long n = 0;
        while (std::getline(status, line)) {
            if (line.starts_with("voluntary_ctxt_switches:") ||
                line.starts_with("nonvoluntary_ctxt_switches:"))
                n += std::stol(line.substr(line.find(':') + 1));
        }
        out[t.path().filename().string()] = n;
    }
    return out;
}

// Sends `count` "www.cdn.example A" queries over UDP one at a time, each after the previous
// answer; returns how many were answered.
int udp_queries_one_by_one(std::uint16_t port, int count) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0, 0,
                                  0,    3,    'w',  'w',  'w', 3,   'c', 'd', 'n', 7, 'e',
                                  'x',  'a',  'm',  'p',  'l', 'e', 0,   0,   1,   0, 1};
    int answered = 0;
    std::uint8_t buf[1500];
    for (int i = 0; i < count; ++i) {
        ::sendto(fd, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 1000) == 1 && ::recv(fd, buf, sizeof buf, 0) > 12) ++answered;
    }
    ::close(fd);
    return answered;
}

}  // namespace

namespace {

// The test config with [server] udp_threads set.
// A burst of UDP queries from one socket: ids 0..count-1, sent back to back by send_all();
// collect() reads the answers for up to 5 s, each id counted once in `seen`, and hands each
// answer's first bytes to `check`.
struct UdpBurst {
    int fd;
    sockaddr_in to{};
    int count;
    std::vector<int> seen;
    int answers = 0;

    UdpBurst(std::uint16_t port, int n)
        : fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), count(n), seen(n, 0) {
        int rcvbuf = 1 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~UdpBurst() { ::close(fd); }
    UdpBurst(const UdpBurst&) = delete;
    UdpBurst& operator=(const UdpBurst&) = delete;

    template <typename MakeQuery>
    void send_all(MakeQuery make) {
        for (int i = 0; i < count; ++i) {
            const std::string q = make(i);
            ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        }
    }
    template <typename Check>
    void collect(Check check) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (answers < count && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) != 1) continue;
            unsigned char buf[2048];
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n < 12) continue;
            const int id = (buf[0] << 8) | buf[1];
            REQUIRE(id < count);
            ++seen[static_cast<std::size_t>(id)];
            check(id, buf);
            ++answers;
        }
    }
    bool each_once() const { return std::count(seen.begin(), seen.end(), 1) == count; }
};

std::string with_udp_threads(bool on) {
    std::string config = geodns_config();
    const auto at = config.find("[server]\n");
    REQUIRE(at != std::string::npos);
    config.insert(at + 9, on ? "udp_threads = true\n" : "udp_threads = false\n");
    return config;
}

}  // namespace

TEST_CASE("geodns: dig gets the nearest edge by source address and by ECS", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    // The source address picks the place (tests/data: 127.1/16 Chicago, 127.2/16 Berlin,
    // 127.3/16 Seoul, 127.6/16 Honolulu; 127.0.0.1 is not in the database).
    CHECK(dig_short(dns.port(), {"-b", "127.1.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.1"});
    CHECK(dig_short(dns.port(), {"-b", "127.2.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.2"});
    CHECK(dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.3"});
    // Honolulu is nearer Seoul than Ashburn across the antimeridian.
    CHECK(dig_short(dns.port(), {"-b", "127.6.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.3"});
    // Unknown client and a record without coordinates: the default region.
    CHECK(dig_short(dns.port(), {"www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.1"});
    CHECK(dig_short(dns.port(), {"-b", "127.7.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.1"});
    CHECK(dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "AAAA"}) ==
          std::vector<std::string>{"2001:db8:e::3"});

    // ECS wins over the source address; the scope is the merged block of its answer class.
    const std::string out =
        dig(dns.port(), {"-b", "127.1.0.1", "+subnet=198.51.100.0/24", "www.cdn.example", "A"});
    CHECK_THAT(out, Contains("127.10.0.2"));
    CHECK_THAT(out, Contains("CLIENT-SUBNET: 198.51.100.0/24/24"));
    const std::string v6 = dig(dns.port(), {"+subnet=2001:db8:3::/48", "www.cdn.example", "A"});
    CHECK_THAT(v6, Contains("127.10.0.3"));
    CHECK_THAT(v6, Contains("CLIENT-SUBNET: 2001:db8:3::/48/48"));
    // A /0 source prefix means "do not use my address": scope 0.
    CHECK_THAT(dig(dns.port(), {"+subnet=0.0.0.0/0", "www.cdn.example", "A"}),
               Contains("CLIENT-SUBNET: 0.0.0.0/0/0"));
    // The answer's TTL is the steered name's.
    CHECK_THAT(dig(dns.port(), {"+noall", "+answer", "www.cdn.example", "A"}), Contains("\t20\t"));
    CHECK(dns.metric(R"(cdn_geodns_ecs_queries_total)") >= 3);
}

TEST_CASE("geodns: the ECS scope is the widest block with the same answer, as gdnsd's",
          "[geodns]") {
    // Issue 19: database networks whose clients get the same region order are merged, so a
    // resolver caches one answer for the whole block. The values are what gdnsd 3.8.1 answers
    // for the same database and regions (bench/dns_qps.sh compares the two).
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    auto scope_of = [&](const std::string& subnet) {
        const std::string out = kdig(dns.port(), {"+subnet=" + subnet, "www.cdn.example", "A"});
        const auto at = out.find("CLIENT-SUBNET: ");
        REQUIRE(at != std::string::npos);
        const auto end = out.find_first_of("\n", at);
        return out.substr(at + 15, end - at - 15);
    };
    CHECK(scope_of("192.0.2.0/24") == "192.0.2.0/24/6");  // the database says /24
    CHECK(scope_of("2001:db8:2:1::/64") == "2001:db8:2:1::/64/48");
    CHECK(scope_of("127.1.0.0/8") == "127.0.0.0/8/15");  // narrower than the source: allowed
    CHECK(scope_of("::ffff:127.1.0.0/120") == "::ffff:127.1.0.0/120/111");
    CHECK(scope_of("10.1.2.0/24") == "10.1.2.0/24/2");  // not in the database: default's class
    CHECK(scope_of("0.0.0.0/0") == "0.0.0.0/0/0");
    // dig agrees, and the answer is still the nearest edge.
    const std::string out = dig(dns.port(), {"+subnet=192.0.2.0/24", "www.cdn.example", "A"});
    CHECK_THAT(out, Contains("CLIENT-SUBNET: 192.0.2.0/24/6"));
    CHECK_THAT(out, Contains("127.10.0.1"));
}

TEST_CASE("geodns: udp_threads serves UDP from blocking threads and stops cleanly", "[geodns]") {
    // [server] udp_threads = true: a thread per UDP socket in recvmmsg instead of the reactor.
    TempDir dir;
    GeoDns dns(dir, with_udp_threads(true));
    for (int i = 0; i < 20; ++i) {
        CHECK(dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "A"}) ==
              std::vector<std::string>{"127.10.0.3"});
    }
    CHECK_THAT(dig(dns.port(), {"+subnet=192.0.2.0/24", "www.cdn.example", "A"}),
               Contains("CLIENT-SUBNET: 192.0.2.0/24/6"));
    CHECK_THAT(dig(dns.port(), {"+tcp", "ns1.cdn.example", "A"}), Contains("127.0.0.53"));
    CHECK(dns.metric(R"(cdn_geodns_queries_total{transport="udp",qtype="A"})") >= 21);
    // Only the thread reading a socket wakes for its datagrams: the socket is out of the
    // workers' epoll set. (Registered there, edge-triggered, every datagram also woke a worker
    // that had nothing to do: one more wake-up and context switch per query; issue 19.)
    const int queries = 400;
    const auto before = thread_switches(dns.process().pid());
    REQUIRE(udp_queries_one_by_one(dns.port(), queries) >= queries - 5);
    const auto after = thread_switches(dns.process().pid());
    std::vector<long> woke;
    for (const auto& [tid, n] : after)
        woke.push_back(n - (before.contains(tid) ? before.at(tid) : 0));
    std::sort(woke.rbegin(), woke.rend());
    REQUIRE(!woke.empty());
    CHECK(woke[0] >= queries / 2);  // the UDP thread that read them
    long others = 0;
    for (std::size_t i = 1; i < woke.size(); ++i)
        others += woke[i];
    INFO("context switches by thread, most first: " << woke[0] << ", then " << others
                                                    << " in all the others");
    CHECK(others < queries / 2);  // health checks and the admin port, not a wake per query
    // SIGTERM: the UDP threads are woken and joined, and geodns exits 0 promptly.
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(dns.process().terminate() == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("geodns: udp_threads = false serves UDP from the workers' reactor", "[geodns]") {
    // The default is udp_threads = true (every other test here); the reactor stays usable.
    TempDir dir;
    GeoDns dns(dir, with_udp_threads(false));
    CHECK(udp_queries_one_by_one(dns.port(), 50) == 50);
    CHECK(dig_short(dns.port(), {"-b", "127.3.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.3"});
    CHECK_THAT(dig(dns.port(), {"+subnet=192.0.2.0/24", "www.cdn.example", "A"}),
               Contains("CLIENT-SUBNET: 192.0.2.0/24/6"));
    CHECK(dns.metric(R"(cdn_geodns_queries_total{transport="udp",qtype="A"})") >= 52);
    CHECK(dns.process().terminate() == 0);
}

TEST_CASE("geodns: udp_coalesce_us waits after a partial batch and still answers every query",
          "[geodns]") {
    TempDir dir;
    std::string config = with_udp_threads(true);
    config.insert(config.find("[server]\n") + 9, "udp_coalesce_us = 300\n");
    GeoDns dns(dir, config);
    // Stopped, geodns reads nothing: 100 queries queue up (well within the socket's default
    // receive buffer), and once it runs again its UDP thread reads them as 3 full batches of 32
    // (no wait) and a partial one of 4 (a wait).
    const pid_t pid = dns.process().pid();
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    UdpBurst burst(dns.port(), 100);
    burst.send_all(
        [](int i) { return make_query(static_cast<std::uint16_t>(i), "www.cdn.example", 1); });
    REQUIRE(::kill(pid, SIGCONT) == 0);
    burst.collect([](int, const unsigned char*) {});
    CHECK(burst.answers == burst.count);
    CHECK(burst.each_once());
    CHECK(dns.metric("cdn_geodns_udp_coalesce_waits_total") >= 1);
    // A lone query is never held: one at a time, no more waits.
    const double waits = dns.metric("cdn_geodns_udp_coalesce_waits_total");
    CHECK(udp_queries_one_by_one(dns.port(), 20) == 20);
    CHECK(dns.metric("cdn_geodns_udp_coalesce_waits_total") == waits);
}

TEST_CASE("geodns: NXDOMAIN, NODATA, REFUSED, CNAME, SOA, NS and TXT", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    const std::string nx = dig(dns.port(), {"nope.cdn.example", "A"});
    CHECK_THAT(nx, Contains("status: NXDOMAIN"));
    CHECK_THAT(nx, Contains("flags: qr aa rd"));
    CHECK_THAT(nx, Contains("AUTHORITY: 1"));
    CHECK_THAT(nx, Contains("SOA\tns1.cdn.example. hostmaster.cdn.example. 2026112201"));

    const std::string nodata = dig(dns.port(), {"www.cdn.example", "MX"});
    CHECK_THAT(nodata, Contains("status: NOERROR"));
    CHECK_THAT(nodata, Contains("ANSWER: 0"));
    CHECK_THAT(nodata, Contains("AUTHORITY: 1"));

    CHECK_THAT(dig(dns.port(), {"example.org", "A"}), Contains("status: REFUSED"));

    const auto cname = dig_short(dns.port(), {"-b", "127.2.0.1", "assets.cdn.example", "A"});
    REQUIRE(cname.size() == 2);
    CHECK(cname[0] == "www.cdn.example.");
    CHECK(cname[1] == "127.10.0.2");

    CHECK(dig_short(dns.port(), {"cdn.example", "SOA"}).size() == 1);
    auto ns = dig_short(dns.port(), {"cdn.example", "NS"});
    std::sort(ns.begin(), ns.end());
    CHECK(ns == std::vector<std::string>{"ns1.cdn.example.", "ns2.cdn.example."});
    CHECK(dig_short(dns.port(), {"txt.cdn.example", "TXT"}) ==
          std::vector<std::string>{"\"hello world\""});
    // Case is preserved in the question, answers still match.
    CHECK(dig_short(dns.port(), {"-b", "127.2.0.1", "WwW.CdN.ExAmPlE", "A"}) ==
          std::vector<std::string>{"127.10.0.2"});
    CHECK(dns.metric(R"(cdn_geodns_responses_total{rcode="NXDOMAIN"})") >= 1);
    CHECK(dns.metric(R"(cdn_geodns_responses_total{rcode="REFUSED"})") >= 1);
}

TEST_CASE("geodns: TCP with several queries per connection, and truncation falls back to TCP",
          "[geodns]") {
    TempDir dir;
    std::string many = "\n[[zones.records]]\nname = \"many\"\ntype = \"A\"\nvalues = [";
    for (int i = 1; i <= 100; ++i)
        many += (i > 1 ? ", " : "") + ("\"127.50.0." + std::to_string(i) + "\"");
    many += "]\n";
    GeoDns dns(dir, geodns_config({}, many));
    CHECK(dig_short(dns.port(), {"+tcp", "-b", "127.3.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.3"});
    // kdig sends both queries over one TCP connection (+keepopen).
    const std::string two = kdig(dns.port(), {"+tcp", "+keepopen", "+short", "ns1.cdn.example", "A",
                                              "ns2.cdn.example", "A"});
    CHECK_THAT(two, Contains("127.0.0.53"));
    CHECK_THAT(two, Contains("127.0.0.54"));
    // 100 A records do not fit 512 bytes: TC over UDP, and dig retries over TCP by itself.
    const std::string tc = dig(dns.port(), {"+ignore", "+noedns", "many.cdn.example", "A"});
    CHECK_THAT(tc, Contains("flags: qr aa tc rd"));
    CHECK(dig_short(dns.port(), {"+noedns", "many.cdn.example", "A"}).size() == 100);
    CHECK(dns.metric(R"(cdn_geodns_truncated_total)") >= 1);
    CHECK(dns.metric(R"(cdn_geodns_queries_total{transport="tcp",qtype="A"})") >= 3);
}

TEST_CASE("geodns: malformed packets get FORMERR or nothing, and the server lives on", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    const std::string good = make_query(0x1234, "ns1.cdn.example", 1);
    // Runts and responses are dropped silently.
    CHECK(udp_exchange(dns.port(), std::string("\x12\x34", 2), 300ms).empty());
    std::string response = good;
    response[2] = static_cast<char>(0x81);  // QR set
    CHECK(udp_exchange(dns.port(), response, 300ms).empty());
    // A header that promises a question it does not carry: FORMERR with the same id.
    const std::string lying = good.substr(0, 12);
    std::string reply = udp_exchange(dns.port(), lying);
    REQUIRE(reply.size() >= 12);
    CHECK(reply.substr(0, 2) == "\x12\x34");
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 1);  // FORMERR
    // A compression pointer pointing at itself.
    std::string loop = good.substr(0, 12) + std::string("\xc0\x0c\x00\x01\x00\x01", 6);
    reply = udp_exchange(dns.port(), loop);
    REQUIRE(reply.size() >= 12);
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 1);
    // A 64-byte label.
    reply = udp_exchange(dns.port(), make_query(7, std::string(64, 'a') + ".cdn.example", 1));
    REQUIRE(reply.size() >= 12);
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 1);
    // Two OPT records.
    std::string two_opt = make_query(8, "ns1.cdn.example", 1, true);
    two_opt[11] = 2;
    two_opt += std::string("\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11);
    reply = udp_exchange(dns.port(), two_opt);
    REQUIRE(reply.size() >= 12);
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 1);
    // An opcode we do not implement (NOTIFY = 4): NOTIMP.
    std::string notify = good;
    notify[2] = static_cast<char>(4 << 3);
    reply = udp_exchange(dns.port(), notify);
    REQUIRE(reply.size() >= 12);
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 4);
    // Still answering.
    reply = udp_exchange(dns.port(), good);
    REQUIRE(reply.size() > 12);
    CHECK((static_cast<unsigned char>(reply[3]) & 0x0f) == 0);
    CHECK(dns.process().running());
}

TEST_CASE("geodns: a zero-length TCP frame and a stalled TCP client are closed", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    {
        const int fd = tcp_connect(dns.port());
        ::send(fd, "\x00\x00", 2, MSG_NOSIGNAL);
        CHECK(wait_closed(fd, 2s));
        ::close(fd);
    }
    {
        // Half a length prefix, then silence: closed after the idle timeout (300 ms here).
        const int fd = tcp_connect(dns.port());
        ::send(fd, "\x00", 1, MSG_NOSIGNAL);
        CHECK(wait_closed(fd, 5s));
        ::close(fd);
    }
    CHECK(dig_short(dns.port(), {"+tcp", "ns1.cdn.example", "A"}) ==
          std::vector<std::string>{"127.0.0.53"});
    CHECK(dns.metric("cdn_geodns_tcp_bad_total") >= 1);
}

TEST_CASE("geodns: a bad config is refused at start-up naming the file and line", "[geodns]") {
    TempDir dir;
    std::string bad = geodns_config();
    bad += "\n[[zones.records]]\nname = \"x\"\ntype = \"A\"\nvalues = [\"not-an-ip\"]\n";
    const std::string path = dir.write("bad.toml", bad);
    const auto r = run_command(
        {"sh", "-c", std::string(GEODNS_BIN) + " --config " + path + " --dns 127.0.0.1:0 2>&1"});
    CHECK(r.status == 2);
    CHECK_THAT(r.out, Contains("bad.toml:"));
    CHECK_THAT(r.out, Contains("not-an-ip"));

    const std::string db_path = dir.write("garbage.mmdb", "this is not a MaxMind database");
    std::string bad_db = geodns_config();
    const std::string real_db = geodns_test_data("geodns-test.mmdb");
    bad_db.replace(bad_db.find(real_db), real_db.size(), db_path);
    const std::string p2 = dir.write("bad-db.toml", bad_db);
    const auto r2 = run_command(
        {"sh", "-c", std::string(GEODNS_BIN) + " --config " + p2 + " --dns 127.0.0.1:0 2>&1"});
    CHECK(r2.status == 2);
    CHECK_THAT(r2.out, Contains("garbage.mmdb"));
}

TEST_CASE("geodns: SIGHUP reloads the zones, and a bad file keeps the old ones", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    CHECK(dig_short(dns.port(), {"new.cdn.example", "A"}).empty());
    // A broken file: refused, old zones still served.
    { std::ofstream(dns.config_path()) << geodns_config() << "\n[[zones.records]]\nname = 3\n"; }
    ::kill(dns.process().pid(), SIGHUP);
    dns.process().wait_for_log("geodns: reload failed");
    CHECK(dig_short(dns.port(), {"ns1.cdn.example", "A"}) ==
          std::vector<std::string>{"127.0.0.53"});
    // A good one with a new record: served after the reload.
    {
        std::ofstream(dns.config_path())
            << geodns_config() << "\n[[zones.records]]\nname = \"new\"\ntype = \"A\"\n"
            << "values = [\"127.0.0.99\"]\n";
    }
    ::kill(dns.process().pid(), SIGHUP);
    dns.process().wait_for_log("geodns: reloaded");
    CHECK(dig_short(dns.port(), {"new.cdn.example", "A"}) ==
          std::vector<std::string>{"127.0.0.99"});
    CHECK(dns.metric("cdn_geodns_reloads_total") == 1);
    CHECK(dns.metric("cdn_geodns_reload_failures_total") == 1);
}

TEST_CASE("geodns: unbound resolves through geodns with a stub zone and client subnet",
          "[geodns][unbound]") {
    if (!tool_exists("unbound")) {
        WARN("unbound is not installed; skipping");
        return;
    }
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    // unbound on a free port: one free for UDP (bind port 0) that is also free for TCP, since
    // unbound listens on both and exits when either is taken (other tests run in parallel).
    std::uint16_t uport = 0;
    for (int attempt = 0; attempt < 50 && uport == 0; ++attempt) {
        const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        socklen_t len = sizeof sa;
        ::getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &len);
        const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0)
            uport = ntohs(sa.sin_port);
        ::close(tcp);
        ::close(udp);
    }
    REQUIRE(uport != 0);
    const std::string conf = dir.write("unbound.conf", R"(server:
  interface: 127.0.0.1@)" + std::to_string(uport) + R"(
  port: )" + std::to_string(uport) + R"(
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  chroot: ""
  username: ""
  directory: ")" + dir.path().string() + R"("
  pidfile: ")" + (dir.path() / "unbound.pid").string() + R"("
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-daemonize: no
  num-threads: 1
  module-config: "subnetcache iterator"
  send-client-subnet: 127.0.0.1
  max-client-subnet-ipv4: 24
  local-zone: "example." nodefault
  harden-referral-path: no
  qname-minimisation: no
stub-zone:
  name: "cdn.example"
  stub-addr: 127.0.0.1@)" + std::to_string(dns.port()) + R"(
)");
    Process unbound({"/usr/sbin/unbound", "-d", "-c", conf}, (dir.path() / "unbound.log").string());
    const bool up = eventually(
        [&] {
            return !unbound.running() || !dig_short(uport, {"ns1.cdn.example", "A"}).empty();
        },
        20s);
    INFO("unbound log:\n" << unbound.log());
    REQUIRE(unbound.running());
    REQUIRE(up);
    // The resolver forwards the client's subnet (ECS), so a Seoul client gets Seoul's edge and a
    // Berlin client Frankfurt's, each cached for its own subnet.
    CHECK(dig_short(uport, {"-b", "127.3.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.3"});
    CHECK(dig_short(uport, {"-b", "127.2.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.2"});
    CHECK_THAT(dig(uport, {"nope.cdn.example", "A"}), Contains("status: NXDOMAIN"));
}

TEST_CASE("geodns: a burst of UDP queries is answered in full, each to its own id", "[geodns]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    // 300 queries sent back to back from one socket land in the server's receive queue together
    // and are read and answered in batches (recvmmsg/sendmmsg); every id must come back once.
    UdpBurst burst(dns.port(), 300);
    burst.send_all([](int i) {
        return make_query(static_cast<std::uint16_t>(i),
                          i % 2 ? "www.cdn.example" : "nope.cdn.example", 1, i % 3 == 0);
    });
    burst.collect([](int id, const unsigned char* answer) {
        // Odd ids asked for www (NOERROR), even ones for a name that does not exist.
        CHECK((answer[3] & 0x0f) == (id % 2 ? 0 : 3));
    });
    CHECK(burst.answers == burst.count);
    CHECK(burst.each_once());
}
