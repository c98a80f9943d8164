// purge_latency: how long a purge takes to reach every edge, end to end, with real processes.
//
// Starts origin_sim, purge_api (its log in a fresh directory under --dir, default /tmp, so
// fdatasync is real) and N edges (one worker thread each, 64 MiB of memory, no disk, no access
// log) on loopback, all subscribed to purge_api's stream. Fills every edge with P small objects
// (URL i carries the tag k<i>), then runs P purges one after another: purge i names URL i (a
// files purge, or a tag purge of k<i>: --kind), so each purge hits an object cached on every
// edge and no re-warming is needed. For each purge, from just before the POST:
//
//   post      the POST answered (purge_api answers once the purge is fsynced in its log)
//   ack       every edge acknowledged it: GET /v1/edges shows last_applied_seq >= seq for all
//   miss      every edge answered URL i with something other than a HIT
//
// How they are observed: after the POST answers, the bench polls in rounds, --poll-us apart
// (default 200 us). A round writes one request on each keep-alive connection it polls, then
// reads the answers, so it costs about one round trip, not N. "ack" polls GET /v1/edges: it is
// what purge_api itself reports as applied (the operator's view), and one small request covers
// every edge. (An edge's /metrics, cdn_edge_purge_last_seq, would be earlier by the ack's trip,
// but renders every metric, N times per round.)
//
//   --observe ack (default)  only purge_api is polled until every edge acknowledged; then each
//                            edge is asked for URL i once. "miss" is then "verified on every
//                            edge": ack plus one round of N GETs. Cheapest, so the figure the
//                            target is checked against. A HIT from an edge that acknowledged
//                            is counted as an error (exit 1).
//   --observe both           the edges are polled for URL i in the same rounds, so "miss" is
//                            the first miss itself (it can come before the ack). Ten GETs every
//                            200 us take a good part of a 2-core machine: every figure rises.
//
// A HIT before the purge arrives is harmless; the first non-HIT refills the object, which is
// never asked for again. The resolution is one round (~0.1-0.3 ms plus the pause).
//
// Then the log's throughput: --clients threads POST purges (of URLs nobody cached) for
// --tput-seconds, each waiting for its answer (durable) before the next; purges/s accepted, the
// POST latency under that load, purges per fdatasync (from purge_api's metrics), and how long
// the edges took to apply the whole burst after it ended.
//
// HA mode (--etcd-members M, --instances K): the bench first starts an etcd cluster of M members
// (Debian's /usr/bin/etcd) on free loopback ports, their data under the temporary directory (so
// on --dir's disk: etcd's fsyncs are real), then K purge_api instances sharing one log in it
// ([store] backend = "etcd", every member as an endpoint, a fresh prefix), each with its own
// --data-dir. Edge j streams from instance j % K. Every purge is POSTed to instance 0 and "ack"
// polls instance 0's GET /v1/edges, which shows every edge's acks through etcd; so with K > 1
// most edges get the purge through another instance's watch and their acks come back through
// etcd: the figure is the fleet's, not one instance's. The throughput clients spread their POSTs
// over the instances round-robin (client c POSTs to instance c % K).
//
// Every loop is bounded in count and time; the processes (etcd members too) are stopped
// (SIGTERM, then SIGKILL) at exit and die with the bench (PR_SET_PDEATHSIG). Exit status 1 when a
// purge did not reach every edge within --purge-timeout, an edge served a purged object after
// acknowledging it, or the fill did not leave the objects cached.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef PURGE_LATENCY_BIN_DIR
#define PURGE_LATENCY_BIN_DIR "."
#endif

namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "bench-admin-token-0123456789";
constexpr const char* kEdgeToken = "bench-edge-token-0123456789";
constexpr const char* kHost = "bench.test";
constexpr const char* kEtcdBin = "/usr/bin/etcd";

double ms_between(Steady::time_point a, Steady::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Processes

class TempDir {
  public:
    TempDir(const fs::path& parent, bool keep) : keep_(keep) {
        fs::create_directories(parent);
        std::string templ = (parent / "purge_latency.XXXXXX").string();
        if (!::mkdtemp(templ.data())) throw std::runtime_error(templ + ": cannot create");
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        if (!keep_) fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
    bool keep_;
};

// A child process; stdout and stderr go to a log file. Stopped on destruction.
class Child {
  public:
    Child(const std::vector<std::string>& argv, const fs::path& log) : log_(log) {
        const pid_t parent = ::getpid();
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::runtime_error(log.string() + ": cannot create");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(fd);
    }
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    bool running() {
        if (pid_ <= 0) return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }
    std::string log() const {
        std::ifstream in(log_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    // Waits (at most 15 s) for "<marker> ADDRESS:PORT" in the log and returns PORT.
    std::uint16_t wait_for_port(std::string_view marker) {
        const auto deadline = Steady::now() + 15s;
        while (Steady::now() < deadline) {
            const std::string text = log();
            if (const auto at = text.find(marker); at != std::string::npos) {
                const auto end = text.find_first_of(" \n", at + marker.size() + 1);
                if (end != std::string::npos) {
                    const std::string addr =
                        text.substr(at + marker.size() + 1, end - at - marker.size() - 1);
                    const auto colon = addr.rfind(':');
                    if (colon != std::string::npos)
                        return static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1)));
                }
            }
            if (!running())
                throw std::runtime_error(fmt::format("{} exited:\n{}", log_.string(), log()));
            std::this_thread::sleep_for(10ms);
        }
        throw std::runtime_error(fmt::format("no \"{}\" in {}:\n{}", marker, log_.string(), log()));
    }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        const auto deadline = Steady::now() + 5s;
        while (Steady::now() < deadline && running())
            std::this_thread::sleep_for(5ms);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    pid_t pid_ = -1;
    fs::path log_;
};

// ---------------------------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client on one keep-alive loopback connection: cheap enough that
// the client is not what is measured. Every socket operation times out after 5 s.

struct Reply {
    int status = 0;
    std::string head;
    std::string body;
    // A header's value ("" when absent); case-insensitive name.
    std::string header(std::string_view name) const {
        std::size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos + 2 < head.size()) {
            const std::size_t start = pos + 2;
            const std::size_t end = head.find("\r\n", start);
            const std::string_view line(head.data() + start,
                                        (end == std::string::npos ? head.size() : end) - start);
            const auto colon = line.find(':');
            if (colon == name.size() &&
                std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) ==
                           std::tolower(static_cast<unsigned char>(b));
                })) {
                std::string_view v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ')
                    v.remove_prefix(1);
                while (!v.empty() && v.back() == ' ')
                    v.remove_suffix(1);
                return std::string(v);
            }
            pos = end;
        }
        return {};
    }
};

class Conn {
  public:
    explicit Conn(std::uint16_t port) : port_(port) {}
    ~Conn() { close(); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    static std::string get_request(const std::string& target, const std::string& host,
                                   const std::string& auth = {}) {
        std::string r = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
        if (!auth.empty()) r += "Authorization: Bearer " + auth + "\r\n";
        return r + "\r\n";
    }
    static std::string post_request(const std::string& target, const std::string& host,
                                    const std::string& auth, const std::string& body) {
        return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " +
               auth + "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    }

    // Writes a request (connecting first if needed); false on failure.
    bool send(const std::string& req) {
        if (fd_ < 0 && !connect()) return false;
        std::size_t off = 0;
        while (off < req.size()) {
            const ssize_t n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
            if (n <= 0) {
                close();
                return false;
            }
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    // Reads one response; false on failure (the connection is then closed).
    bool recv(Reply& r) {
        std::size_t head_end;
        while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return fail();
        r.head = buf_.substr(0, head_end + 2);
        buf_.erase(0, head_end + 4);
        r.status = r.head.size() > 12 ? std::atoi(r.head.c_str() + 9) : 0;
        r.body.clear();
        const std::string te = r.header("Transfer-Encoding");
        if (te.find("chunked") != std::string::npos) {
            for (;;) {
                std::size_t eol;
                while ((eol = buf_.find("\r\n")) == std::string::npos)
                    if (!fill()) return fail();
                const std::size_t size = std::strtoul(buf_.c_str(), nullptr, 16);
                while (buf_.size() < eol + 2 + size + 2)
                    if (!fill()) return fail();
                r.body.append(buf_, eol + 2, size);
                buf_.erase(0, eol + 2 + size + 2);
                if (size == 0) break;  // no trailers from these servers
            }
        } else {
            const std::string cl = r.header("Content-Length");
            const std::size_t size = cl.empty() ? 0 : std::strtoul(cl.c_str(), nullptr, 10);
            while (buf_.size() < size)
                if (!fill()) return fail();
            r.body = buf_.substr(0, size);
            buf_.erase(0, size);
        }
        const std::string connection = r.header("Connection");
        if (connection == "close") close();
        return true;
    }
    // One request and its response, with one retry on a fresh connection.
    Reply exchange(const std::string& req) {
        Reply r;
        for (int attempt = 0; attempt < 2; ++attempt)
            if (send(req) && recv(r)) return r;
        throw std::runtime_error(
            fmt::format("127.0.0.1:{}: request failed: {}", port_, req.substr(0, req.find('\r'))));
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }

  private:
    bool connect() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return false;
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port_);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            close();
            return false;
        }
        return true;
    }
    bool fill() {
        char tmp[16384];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    bool fail() {
        close();
        return false;
    }

    std::uint16_t port_;
    int fd_ = -1;
    std::string buf_;
};

// ---------------------------------------------------------------------------------------------
// Statistics

struct Summary {
    std::size_t n = 0;
    double p50 = 0, p99 = 0, max = 0, mean = 0;
};

Summary summarize(std::vector<double> v) {
    Summary s;
    s.n = v.size();
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    auto rank = [&](double q) {  // nearest rank
        const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
        return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
    };
    s.p50 = rank(0.50);
    s.p99 = rank(0.99);
    s.max = v.back();
    double sum = 0;
    for (double x : v)
        sum += x;
    s.mean = sum / static_cast<double>(v.size());
    return s;
}

void print_row(const std::string& name, const Summary& s) {
    std::printf("%-28s %6zu %9.3f %9.3f %9.3f %9.3f\n", name.c_str(), s.n, s.p50, s.p99, s.max,
                s.mean);
}

// purge_api's GET /v1/edges: the lowest last_applied_seq over `edges` connected edges, or
// nullopt when fewer are known. `each` gets every edge's (id, seq).
template <class Each>
std::optional<std::uint64_t> min_applied(const std::string& json, std::size_t edges, Each each) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(json, ec);
    if (ec || !v.is_array()) return std::nullopt;
    std::size_t count = 0;
    std::uint64_t lowest = UINT64_MAX;
    for (const auto& e : v.as_array()) {
        const auto& o = e.as_object();
        const auto seq = o.at("last_applied_seq").to_number<std::uint64_t>();
        each(std::string(o.at("edge").as_string()), seq, o.at("connected").as_bool());
        lowest = std::min(lowest, seq);
        ++count;
    }
    if (count < edges) return std::nullopt;
    return lowest;
}

// The value of a metric sample in Prometheus text (-1 when absent).
double metric(const std::string& text, const std::string& sample) {
    const auto pos = text.find("\n" + sample + " ");
    if (pos == std::string::npos) return -1;
    return std::strtod(text.c_str() + pos + sample.size() + 2, nullptr);
}

std::uint64_t seq_of(const Reply& r) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(r.body, ec);
    if (ec || r.status != 200) throw std::runtime_error("purge refused: " + r.head + r.body);
    return v.at("result").at("seq").to_number<std::uint64_t>();
}

// `n` distinct free loopback ports: each socket is held until every port is picked.
std::vector<std::uint16_t> free_loopback_ports(std::size_t n) {
    std::vector<int> fds;
    std::vector<std::uint16_t> ports;
    for (std::size_t i = 0; i < n; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        fds.push_back(fd);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
            break;
        ports.push_back(ntohs(sa.sin_port));
    }
    for (const int fd : fds)
        ::close(fd);
    if (ports.size() != n) throw std::runtime_error("cannot pick free loopback ports");
    return ports;
}

// An etcd cluster of `members` on free loopback ports, data in `dir`/etcd-m<i>; returns once
// every member answers GET /health with "true" (20 s at most). The members go first in
// `procs`, so they are stopped after what is declared later (purge_api removes its keys).
std::vector<std::string> start_etcd(int members, const fs::path& dir,
                                    std::vector<std::unique_ptr<Child>>& procs) {
    const auto ports = free_loopback_ports(2 * static_cast<std::size_t>(members));
    auto client = [&](int i) { return ports[static_cast<std::size_t>(2 * i)]; };
    auto peer = [&](int i) { return ports[static_cast<std::size_t>(2 * i + 1)]; };
    std::string cluster;
    for (int i = 0; i < members; ++i)
        cluster += fmt::format("{}m{}=http://127.0.0.1:{}", i ? "," : "", i, peer(i));
    std::vector<std::string> endpoints;
    for (int i = 0; i < members; ++i) {
        const std::string c = fmt::format("http://127.0.0.1:{}", client(i));
        const std::string p = fmt::format("http://127.0.0.1:{}", peer(i));
        endpoints.push_back(c);
        procs.push_back(std::make_unique<Child>(
            std::vector<std::string>{
                kEtcdBin, "--name", fmt::format("m{}", i), "--data-dir",
                (dir / fmt::format("etcd-m{}", i)).string(), "--listen-client-urls", c,
                "--advertise-client-urls", c, "--listen-peer-urls", p,
                "--initial-advertise-peer-urls", p, "--initial-cluster", cluster,
                "--initial-cluster-state", "new", "--initial-cluster-token",
                fmt::format("purge-latency-{}", ::getpid()),
                // Loopback: elections in well under a second (as tests/integration's cluster).
                "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn"},
            dir / fmt::format("etcd-m{}.log", i)));
    }
    const std::string health = Conn::get_request("/health", "127.0.0.1");
    const auto deadline = Steady::now() + 20s;
    for (int i = 0; i < members; ++i) {
        Child& m = *procs[procs.size() - static_cast<std::size_t>(members - i)];
        Conn conn(client(i));
        for (bool healthy = false; !healthy;) {
            try {
                healthy = conn.exchange(health).body.find("true") != std::string::npos;
            } catch (const std::exception&) {
            }
            if (healthy) break;
            if (!m.running())
                throw std::runtime_error(fmt::format("etcd member m{} exited:\n{}", i, m.log()));
            if (Steady::now() >= deadline)
                throw std::runtime_error(
                    fmt::format("etcd member m{} not healthy in 20 s:\n{}", i, m.log()));
            std::this_thread::sleep_for(50ms);
        }
    }
    return endpoints;
}

struct Options {
    std::string bin_dir = PURGE_LATENCY_BIN_DIR;
    std::string dir = "/tmp";
    int edges = 10;
    int purges = 1000;
    std::string kind = "alternate";
    int size = 512;
    double time_limit = 120;
    double purge_timeout = 2;
    int poll_us = 200;
    std::string observe = "ack";
    int clients = 16;
    double tput_seconds = 3;
    bool keep = false;
    int instances = 1;
    int etcd_members = 0;  // 0: the file store
};

struct EdgeProc {
    std::unique_ptr<Child> proc;
    std::string id;
    std::uint16_t port = 0;
    std::uint16_t admin = 0;
};

std::string object_target(int i) {
    return "/o/" + std::to_string(i) + "?tags=k" + std::to_string(i);
}

int run(const Options& o) {
    const fs::path bin(o.bin_dir);
    const fs::path edge_bin = bin / "edge" / "edge";
    const fs::path origin_bin = bin / "origin_sim" / "origin_sim";
    const fs::path purge_bin = bin / "purge_api" / "purge_api";
    for (const auto& p : {edge_bin, origin_bin, purge_bin})
        if (!fs::exists(p))
            throw std::runtime_error(p.string() + " not found (build it, or pass --bin-dir)");
    if (o.instances > 1 && o.etcd_members < 1)
        throw std::runtime_error(fmt::format(
            "--instances {} needs --etcd-members 1 or more (instances share their log in etcd; "
            "the file store serves one instance)",
            o.instances));
    if (o.etcd_members > 0 && !fs::exists(kEtcdBin))
        throw std::runtime_error(
            fmt::format("--etcd-members {}: {} not found (apt-get install etcd-server)",
                        o.etcd_members, kEtcdBin));
    const bool etcd = o.etcd_members > 0;
    const auto instances = static_cast<std::size_t>(o.instances);
    TempDir tmp(o.dir, o.keep);
    const auto t_start = Steady::now();

    // --- start the processes
    const fs::path origin_toml = tmp.path() / "origin.toml";
    std::ofstream(origin_toml) << fmt::format(
        "[defaults]\ncache_control = \"public, max-age=3600\"\nsize = {}\n", o.size);
    Child origin({origin_bin.string(), "--listen", "127.0.0.1:0", "--threads", "2", "--config",
                  origin_toml.string()},
                 tmp.path() / "origin.log");
    const std::uint16_t origin_port = origin.wait_for_port("listening on");

    // The etcd members first, then the purge_api instances: destroyed in the reverse order, so
    // every instance stops (and removes its keys) while etcd still runs.
    std::vector<std::unique_ptr<Child>> etcd_members;
    std::vector<std::unique_ptr<Child>> apis;
    std::vector<std::uint16_t> api_ports;
    std::vector<std::string> api_urls;
    fs::path api_config;
    if (etcd) {
        const auto endpoints = start_etcd(o.etcd_members, tmp.path(), etcd_members);
        api_config = tmp.path() / "purge_api.toml";
        std::ofstream(api_config) << fmt::format(
            "[store]\nbackend = \"etcd\"\netcd_endpoints = [\"{}\"]\netcd_prefix = "
            "\"/purge_latency/{}-{}/\"\n",
            fmt::join(endpoints, "\", \""), ::getpid(),
            std::chrono::system_clock::now().time_since_epoch().count());
    }
    for (std::size_t k = 0; k < instances; ++k) {
        const std::string suffix = etcd ? fmt::format("-{}", k) : "";
        // Created here: with the etcd store purge_api does not create its data dir (the file
        // store does), and the fleet registry (registry.json) could not be saved in it.
        if (etcd) fs::create_directories(tmp.path() / ("purge-data" + suffix));
        std::vector<std::string> argv{purge_bin.string(),
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--data-dir",
                                      (tmp.path() / ("purge-data" + suffix)).string(),
                                      "--token",
                                      kAdminToken,
                                      "--edge-token",
                                      kEdgeToken};
        if (etcd) argv.insert(argv.begin() + 1, {"--config", api_config.string()});
        apis.push_back(std::make_unique<Child>(argv, tmp.path() / ("purge_api" + suffix + ".log")));
    }
    for (auto& api : apis) {
        api_ports.push_back(api->wait_for_port("purge_api: http on"));
        api_urls.push_back(fmt::format("http://127.0.0.1:{}", api_ports.back()));
    }
    const std::uint16_t api_port = api_ports[0];  // POSTs and GET /v1/edges

    std::vector<EdgeProc> edges(static_cast<std::size_t>(o.edges));
    for (int i = 0; i < o.edges; ++i) {
        EdgeProc& e = edges[static_cast<std::size_t>(i)];
        e.id = fmt::format("e{}", i);
        e.proc = std::make_unique<Child>(
            std::vector<std::string>{
                edge_bin.string(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--origin",
                fmt::format("http://127.0.0.1:{}", origin_port), "--name", e.id, "--threads", "1",
                "--memory", "64MiB", "--no-access-log", "--purge-api",
                api_urls[static_cast<std::size_t>(i) % instances], "--purge-token", kEdgeToken},
            tmp.path() / (e.id + ".log"));
    }
    for (auto& e : edges) {
        e.port = e.proc->wait_for_port("http on");
        e.admin = e.proc->wait_for_port("admin on");
    }
    Conn api_conn(api_port);
    const std::string edges_req = Conn::get_request("/v1/edges", "127.0.0.1", kAdminToken);
    {
        bool all = false;
        const auto deadline = Steady::now() + 15s;
        while (!all && Steady::now() < deadline) {
            std::size_t connected = 0;
            min_applied(api_conn.exchange(edges_req).body, edges.size(),
                        [&](const std::string&, std::uint64_t, bool c) { connected += c; });
            all = connected >= edges.size();
            if (!all) std::this_thread::sleep_for(20ms);
        }
        if (!all)
            throw std::runtime_error(etcd ? "instance 0's GET /v1/edges did not show every edge "
                                            "connected (to any instance) in 15 s"
                                          : "the edges did not all connect to purge_api in 15 s");
    }
    const double startup_s = ms_between(t_start, Steady::now()) / 1000;

    // --- fill every edge with every object (one thread per edge), then check they are HITs
    const auto t_fill = Steady::now();
    std::atomic<std::size_t> fill_errors{0}, not_hit{0};
    {
        std::vector<std::thread> threads;
        for (auto& e : edges)
            threads.emplace_back([&, port = e.port] {
                Conn c(port);
                try {
                    for (int pass = 0; pass < 2; ++pass)
                        for (int i = 0; i < o.purges; ++i) {
                            const Reply r = c.exchange(Conn::get_request(object_target(i), kHost));
                            if (r.status != 200) ++fill_errors;
                            if (pass == 1 && r.header("X-Cache") != "HIT") ++not_hit;
                        }
                } catch (const std::exception&) {
                    ++fill_errors;
                }
            });
        for (auto& t : threads)
            t.join();
    }
    const double fill_s = ms_between(t_fill, Steady::now()) / 1000;
    if (fill_errors || not_hit) {
        std::fprintf(stderr, "fill: %zu errors, %zu objects not cached\n", fill_errors.load(),
                     not_hit.load());
        return 1;
    }

    // --- purges, one at a time
    std::vector<std::unique_ptr<Conn>> edge_conns;
    for (auto& e : edges)
        edge_conns.push_back(std::make_unique<Conn>(e.port));
    Conn post_conn(api_port);
    std::vector<double> post_ms[2], ack_ms[2], miss_ms[2], edge_ack_ms, edge_miss_ms;
    std::size_t timeouts = 0, done = 0, hits_after_ack = 0;
    const auto purge_deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(
                                                    std::chrono::duration<double>(o.time_limit));
    const auto t_purges = Steady::now();
    for (int i = 0; i < o.purges && Steady::now() < purge_deadline; ++i) {
        const int k = o.kind == "files" ? 0 : o.kind == "tags" ? 1 : i % 2;
        const std::string body =
            k == 0 ? fmt::format(R"({{"files":["http://{}{}"]}})", kHost, object_target(i))
                   : fmt::format(R"({{"tags":["k{}"]}})", i);
        const std::string req = Conn::post_request("/v1/purge", "127.0.0.1", kAdminToken, body);
        const std::string get = Conn::get_request(object_target(i), kHost);

        const auto t0 = Steady::now();
        const std::uint64_t seq = seq_of(post_conn.exchange(req));
        const auto t_post = Steady::now();
        std::vector<std::optional<Steady::time_point>> acked(edges.size()), missed(edges.size());
        std::size_t n_acked = 0, n_missed = 0;
        const auto give_up = t_post + std::chrono::duration_cast<Steady::duration>(
                                          std::chrono::duration<double>(o.purge_timeout));
        while ((n_acked < edges.size() || n_missed < edges.size()) && Steady::now() < give_up) {
            // One round: every request written first, then every answer read. With --observe
            // ack the edges are asked only once all of them have acknowledged.
            const auto round_start = Steady::now();
            const bool poll_api = n_acked < edges.size();
            const bool poll_edges = o.observe == "both" || n_acked == edges.size();
            if (poll_api && !api_conn.send(edges_req)) api_conn.send(edges_req);
            for (std::size_t e = 0; poll_edges && e < edges.size(); ++e)
                if (!missed[e] && !edge_conns[e]->send(get)) edge_conns[e]->send(get);
            for (std::size_t e = 0; poll_edges && e < edges.size(); ++e) {
                if (missed[e]) continue;
                Reply r;
                if (!edge_conns[e]->recv(r)) r = edge_conns[e]->exchange(get);
                if (r.header("X-Cache") != "HIT") {
                    missed[e] = Steady::now();
                    ++n_missed;
                } else if (acked[e] && *acked[e] < round_start) {
                    ++hits_after_ack;  // acknowledged, yet still serving the purged object
                }
            }
            if (poll_api) {
                Reply r;
                if (!api_conn.recv(r)) r = api_conn.exchange(edges_req);
                const auto now = Steady::now();
                min_applied(r.body, 0, [&](const std::string& id, std::uint64_t s, bool) {
                    if (s < seq) return;
                    for (std::size_t e = 0; e < edges.size(); ++e)
                        if (edges[e].id == id && !acked[e]) {
                            acked[e] = now;
                            ++n_acked;
                        }
                });
                if (n_acked == edges.size() && !poll_edges) continue;  // ask the edges now
            }
            if (n_acked < edges.size() || n_missed < edges.size())
                std::this_thread::sleep_for(std::chrono::microseconds(o.poll_us));
        }
        if (n_acked < edges.size() || n_missed < edges.size()) {
            ++timeouts;
            std::fprintf(stderr,
                         "purge %d (seq %llu): %zu/%zu acked, %zu/%zu missed after %.1f s\n", i,
                         static_cast<unsigned long long>(seq), n_acked, edges.size(), n_missed,
                         edges.size(), o.purge_timeout);
            continue;
        }
        ++done;
        Steady::time_point last_ack = t0, last_miss = t0;
        for (std::size_t e = 0; e < edges.size(); ++e) {
            last_ack = std::max(last_ack, *acked[e]);
            last_miss = std::max(last_miss, *missed[e]);
            edge_ack_ms.push_back(ms_between(t0, *acked[e]));
            edge_miss_ms.push_back(ms_between(t0, *missed[e]));
        }
        post_ms[k].push_back(ms_between(t0, t_post));
        ack_ms[k].push_back(ms_between(t0, last_ack));
        miss_ms[k].push_back(ms_between(t0, last_miss));
    }
    const double purges_s = ms_between(t_purges, Steady::now()) / 1000;

    // --- throughput of the durable log: concurrent POSTs (client c to instance c % K)
    const std::string metrics_req = Conn::get_request("/metrics", "127.0.0.1");
    auto scrape = [&] {
        std::vector<std::string> m;
        for (const std::uint16_t port : api_ports)
            m.push_back(port == api_port ? api_conn.exchange(metrics_req).body
                                         : Conn(port).exchange(metrics_req).body);
        return m;
    };
    // The sum over the instances of a counter's growth between two scrapes.
    auto grown = [](const std::vector<std::string>& before, const std::vector<std::string>& after,
                    const std::string& sample) {
        double sum = 0;
        for (std::size_t k = 0; k < before.size(); ++k)
            sum +=
                std::max(0.0, metric(after[k], sample)) - std::max(0.0, metric(before[k], sample));
        return sum;
    };
    const std::vector<std::string> m0 = scrape();
    std::atomic<std::uint64_t> accepted{0}, refused{0};
    std::vector<std::vector<double>> tput_lat(static_cast<std::size_t>(o.clients));
    const auto t_tput = Steady::now();
    const auto tput_end = t_tput + std::chrono::duration_cast<Steady::duration>(
                                       std::chrono::duration<double>(o.tput_seconds));
    {
        std::vector<std::thread> threads;
        for (int c = 0; c < o.clients; ++c)
            threads.emplace_back([&, c] {
                Conn conn(api_ports[static_cast<std::size_t>(c) % instances]);
                auto& lat = tput_lat[static_cast<std::size_t>(c)];
                for (int n = 0; n < 1000000 && Steady::now() < tput_end; ++n) {
                    const std::string body =
                        fmt::format(R"({{"files":["http://{}/tput/{}/{}"]}})", kHost, c, n);
                    const auto t0 = Steady::now();
                    try {
                        const Reply r = conn.exchange(
                            Conn::post_request("/v1/purge", "127.0.0.1", kAdminToken, body));
                        (r.status == 200 ? accepted : refused)++;
                    } catch (const std::exception&) {
                        ++refused;
                        break;
                    }
                    lat.push_back(ms_between(t0, Steady::now()));
                }
            });
        for (auto& t : threads)
            t.join();
    }
    const double tput_s = ms_between(t_tput, Steady::now()) / 1000;
    const std::vector<std::string> m1 = scrape();
    // File store: fdatasyncs (group commits). The etcd store has no batch histogram; its
    // instances' lost txn races are counted instead.
    const double batches = grown(m0, m1, "cdn_purge_api_log_batch_purges_count");
    const double conflicts = grown(m0, m1, "cdn_purge_api_etcd_conflicts_total");
    // Every POST has been answered: the highest of the instances' last seqs is the log's.
    std::uint64_t last_seq = 0;
    for (const auto& m : m1)
        last_seq = std::max(last_seq, static_cast<std::uint64_t>(
                                          std::max(0.0, metric(m, "cdn_purge_api_last_seq"))));
    // How long the edges take to apply the whole burst once it has been accepted.
    double drain_ms = -1;
    for (const auto deadline = Steady::now() + 10s; Steady::now() < deadline;) {
        const auto low = min_applied(api_conn.exchange(edges_req).body, edges.size(),
                                     [](const std::string&, std::uint64_t, bool) {});
        if (low && *low >= last_seq) {
            drain_ms = ms_between(tput_end, Steady::now());
            break;
        }
        std::this_thread::sleep_for(1ms);
    }
    std::vector<double> all_tput_lat;
    for (auto& v : tput_lat)
        all_tput_lat.insert(all_tput_lat.end(), v.begin(), v.end());

    // --- report
    const std::string store =
        etcd ? fmt::format(
                   "store etcd ({} member{}, {} purge_api instance{}, edges round-robin, "
                   "POSTs and acks on instance 0), data in {}",
                   o.etcd_members, o.etcd_members == 1 ? "" : "s", o.instances,
                   o.instances == 1 ? "" : "s", tmp.path().string())
             : fmt::format("store file (1 purge_api instance), log in {}", tmp.path().string());
    std::printf(
        "# purge_latency: %d edges (1 thread, 64MiB, no disk), %s, %d objects of %d B, %s "
        "purges, observe %s, poll every %d us\n",
        o.edges, store.c_str(), o.purges, o.size, o.kind.c_str(), o.observe.c_str(), o.poll_us);
    std::printf(
        "# start-up %.2f s, fill %.2f s (%d x %d requests), purges %.2f s (%zu done, %zu "
        "timed out)\n",
        startup_s, fill_s, o.edges, 2 * o.purges, purges_s, done, timeouts);
    std::printf("%-28s %6s %9s %9s %9s %9s\n", "latency (ms, from POST)", "n", "p50", "p99", "max",
                "mean");
    const char* kinds[2] = {"files", "tags"};
    for (int k = 0; k < 2; ++k) {
        if (post_ms[k].empty()) continue;
        print_row(fmt::format("{} post (durable)", kinds[k]), summarize(post_ms[k]));
        print_row(fmt::format("{} ack, all edges", kinds[k]), summarize(ack_ms[k]));
        print_row(fmt::format("{} miss, all edges", kinds[k]), summarize(miss_ms[k]));
    }
    std::vector<double> all_post, all_ack, all_miss;
    for (int k = 0; k < 2; ++k) {
        all_post.insert(all_post.end(), post_ms[k].begin(), post_ms[k].end());
        all_ack.insert(all_ack.end(), ack_ms[k].begin(), ack_ms[k].end());
        all_miss.insert(all_miss.end(), miss_ms[k].begin(), miss_ms[k].end());
    }
    if (!post_ms[0].empty() && !post_ms[1].empty()) {
        print_row("all post (durable)", summarize(all_post));
        print_row("all ack, all edges", summarize(all_ack));
        print_row("all miss, all edges", summarize(all_miss));
    }
    print_row("ack, per edge", summarize(edge_ack_ms));
    print_row("miss, per edge", summarize(edge_miss_ms));
    print_row(fmt::format("post under load ({} clients)", o.clients), summarize(all_tput_lat));
    const std::string batching =
        etcd ? fmt::format("over {} instance{}, {:.0f} txn conflicts", o.instances,
                           o.instances == 1 ? "" : "s", conflicts)
             : fmt::format("{:.1f} purges per fdatasync",
                           batches > 0 ? static_cast<double>(accepted.load()) / batches : 0.0);
    std::printf(
        "throughput: %.0f purges/s durable (%llu accepted, %llu refused in %.2f s, %d clients, "
        "%s); edges applied the burst %.1f ms after it ended\n",
        static_cast<double>(accepted.load()) / tput_s,
        static_cast<unsigned long long>(accepted.load()),
        static_cast<unsigned long long>(refused.load()), tput_s, o.clients, batching.c_str(),
        drain_ms);
    std::printf("# total %.1f s\n", ms_between(t_start, Steady::now()) / 1000);
    std::fflush(stdout);
    if (hits_after_ack)
        std::printf("ERROR: %zu HITs of a purged object on an edge that had acknowledged it\n",
                    hits_after_ack);
    if (timeouts || hits_after_ack || done == 0 || accepted == 0 || refused || drain_ms < 0)
        return 1;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{
        "purge_latency: time from POST /v1/purge to every edge applying it (real processes)"};
    app.add_option("--bin-dir", o.bin_dir, "Build directory holding edge/, origin_sim/, purge_api/")
        ->capture_default_str();
    app.add_option("--dir", o.dir, "Parent of the temporary directory (purge_api's log)")
        ->capture_default_str();
    app.add_option("--edges", o.edges, "Edges")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--purges", o.purges, "Purges (and objects: one per purge)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--kind", o.kind, "files, tags or alternate")
        ->check(CLI::IsMember({"files", "tags", "alternate"}))
        ->capture_default_str();
    app.add_option("--size", o.size, "Object size in bytes")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    app.add_option("--time-limit", o.time_limit, "Seconds for the purge phase at most")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    app.add_option("--purge-timeout", o.purge_timeout, "Seconds one purge may take to apply")
        ->check(CLI::Range(0.01, 60.0))
        ->capture_default_str();
    app.add_option("--poll-us", o.poll_us, "Pause between polling rounds (microseconds)")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
    app.add_option("--observe", o.observe,
                   "ack: poll purge_api until every edge acknowledged, then ask each edge once; "
                   "both: poll the edges for the first miss at the same time (costs CPU)")
        ->check(CLI::IsMember({"ack", "both"}))
        ->capture_default_str();
    app.add_option("--clients", o.clients, "Concurrent POST clients for the throughput phase")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--tput-seconds", o.tput_seconds, "Duration of the throughput phase")
        ->check(CLI::Range(0.05, 600.0))
        ->capture_default_str();
    app.add_option("--etcd-members", o.etcd_members,
                   "0: purge_api's file store; M: start an etcd cluster of M members "
                   "(/usr/bin/etcd, data under --dir) and keep the log in it")
        ->check(CLI::Range(0, 5))
        ->capture_default_str();
    app.add_option("--instances", o.instances,
                   "purge_api instances (more than 1 needs --etcd-members); edge j streams from "
                   "instance j % K, POSTs and GET /v1/edges go to instance 0")
        ->check(CLI::Range(1, 5))
        ->capture_default_str();
    app.add_flag("--keep", o.keep, "Keep the temporary directory (logs)");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "purge_latency: %s\n", e.what());
        return 2;
    }
}
