// geodns reloads under load and start-up safety: SIGHUP while a client keeps querying and the
// fleet changes (an edge added, one removed, a bad file), with no query lost; a second geodns on
// a port already served refuses to start; relative paths in the config are relative to its file.
#include "tests/integration/geodns_fixture.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/scripted_origin.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

using namespace cdn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

struct EdgeSpec {
    std::string id;
    std::string region;
    std::string ipv4;
    std::string health;  // URL
};

// Three regions, the given edges (checked every 100 ms, rise 2, fall 3, with a timeout generous
// enough for a loaded sanitizer build), and www steered over up to 4 of them. RRL exempts loopback:
// the load below is one client asking one name.
std::string fleet_config(const std::vector<EdgeSpec>& edges, const std::string& extra = "") {
    std::ostringstream c;
    c << "[server]\nthreads = 2\n\n[rrl]\nexempt = [\"127.0.0.0/8\"]\n\n";
    c << "[geo]\ndatabase = \"" << geodns_test_data("geodns-test.mmdb") << "\"\n"
      << "default_region = \"us-east\"\n\n";
    c << "[health]\ninterval = \"100ms\"\ntimeout = \"1s\"\nrise = 2\nfall = 3\n\n";
    c << kTestRegions;
    for (const EdgeSpec& e : edges)
        c << "\n[[edges]]\nid = \"" << e.id << "\"\nregion = \"" << e.region << "\"\nipv4 = [\""
          << e.ipv4 << "\"]\nhealth = \"" << e.health << "\"\n";
    c << R"(
[[zones]]
origin = "cdn.example"
ns = ["ns1"]

[zones.soa]
serial = 1

[[zones.records]]
name = "ns1"
type = "A"
values = ["127.0.0.53"]

[[zones.steered]]
name = "www"
ttl = "20s"
count = 4
)";
    c << extra;
    return c.str();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
        ++n;
    return n;
}

// The A records of a DNS response (empty when it is not a NOERROR answer).
std::vector<std::string> a_records(const unsigned char* p, std::size_t n) {
    std::vector<std::string> out;
    if (n < 12 || (p[3] & 0x0f) != 0) return out;
    const unsigned qd = (p[4] << 8) | p[5], an = (p[6] << 8) | p[7];
    std::size_t i = 12;
    auto skip_name = [&] {
        while (i < n) {
            const unsigned len = p[i];
            if (len == 0) {
                ++i;
                return;
            }
            if ((len & 0xc0) == 0xc0) {
                i += 2;
                return;
            }
            i += 1 + len;
        }
    };
    for (unsigned q = 0; q < qd; ++q) {
        skip_name();
        i += 4;
    }
    for (unsigned a = 0; a < an && i < n; ++a) {
        skip_name();
        if (i + 10 > n) break;
        const unsigned type = (p[i] << 8) | p[i + 1];
        const unsigned rdlen = (p[i + 8] << 8) | p[i + 9];
        i += 10;
        if (i + rdlen > n) break;
        if (type == 1 && rdlen == 4)
            out.push_back(std::to_string(p[i]) + "." + std::to_string(p[i + 1]) + "." +
                          std::to_string(p[i + 2]) + "." + std::to_string(p[i + 3]));
        i += rdlen;
    }
    return out;
}

// A UDP client bound to `source` (127/8 addresses are all local) asking geodns for www.
class Asker {
  public:
    Asker(const std::string& source, std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
            throw std::runtime_error("bind " + source);
        to_.sin_family = AF_INET;
        to_.sin_port = htons(port);
        to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~Asker() { ::close(fd_); }
    Asker(const Asker&) = delete;
    Asker& operator=(const Asker&) = delete;

    // The A records answered, or nullopt when no answer with this id came within 2 s.
    std::optional<std::vector<std::string>> ask(std::uint16_t id) {
        const std::string q = make_query(id, "www.cdn.example", 1);
        ::sendto(fd_, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_);
        const auto deadline = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) != 1) continue;
            unsigned char buf[4096];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 12 || ((buf[0] << 8) | buf[1]) != id) continue;  // a late answer to another
            return a_records(buf, static_cast<std::size_t>(n));
        }
        return std::nullopt;
    }

  private:
    int fd_ = -1;
    sockaddr_in to_{};
};

// Queries in a loop from two places (the default region, and Berlin) until told to stop or a
// bound (count, time) is reached; counts what went wrong.
struct Load {
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    std::atomic<int> unanswered{0};
    std::atomic<int> empty{0};        // NOERROR without an A record (or an error rcode)
    std::atomic<int> berlin_down{0};  // Berlin answered with the edge that is down
    std::thread thread;

    void start(std::uint16_t port) {
        thread = std::thread([this, port] {
            Asker home("127.0.0.1", port);
            Asker berlin("127.2.0.1", port);
            const auto deadline = std::chrono::steady_clock::now() + 60s;
            for (int i = 0; i < 200000 && !stop && std::chrono::steady_clock::now() < deadline;
                 ++i) {
                const bool from_berlin = i % 2 == 1;
                const auto answer =
                    (from_berlin ? berlin : home).ask(static_cast<std::uint16_t>(i));
                ++sent;
                if (!answer) {
                    ++unanswered;
                    continue;
                }
                if (answer->empty()) ++empty;
                if (from_berlin &&
                    std::find(answer->begin(), answer->end(), "127.10.0.2") != answer->end())
                    ++berlin_down;
            }
        });
    }
    void finish() {
        stop = true;
        if (thread.joinable()) thread.join();
    }
    ~Load() { finish(); }
};

}  // namespace

TEST_CASE("geodns: SIGHUP under query load follows the fleet and loses no query",
          "[geodns][reload]") {
    TempDir dir;
    ScriptedOrigin healthy([](const RecordedRequest&) { return http_response(200, "ok\n", ""); });
    ScriptedOrigin broken([](const RecordedRequest&) { return std::string(); });
    const std::string ok = healthy.url() + "/healthz";
    const EdgeSpec use1{"use1", "us-east", "127.10.0.1", ok};
    const EdgeSpec use1b{"use1-b", "us-east", "127.10.0.11", ok};
    // Frankfurt's only edge fails its checks: Berlin is answered from us-east.
    const EdgeSpec euc1{"euc1", "eu-central", "127.10.0.2", broken.url() + "/healthz"};

    GeoDns dns(dir, fleet_config({use1, euc1}));
    REQUIRE(eventually(
        [&] { return dns.metric(R"(cdn_geodns_edge_up{edge="euc1",region="eu-central"})") == 0; },
        10s));
    auto home = [&] { return dig_short(dns.port(), {"www.cdn.example", "A"}); };
    auto has = [](const std::vector<std::string>& v, const std::string& a) {
        return std::find(v.begin(), v.end(), a) != v.end();
    };
    auto reload = [&](const std::string& config, const std::string& done, std::size_t nth) {
        { std::ofstream(dns.config_path()) << config; }
        ::kill(dns.process().pid(), SIGHUP);
        REQUIRE(eventually([&] { return count_of(dns.process().log(), done) == nth; }, 10s));
    };

    Load load;
    load.start(dns.port());
    REQUIRE(eventually([&] { return load.sent > 50; }, 10s));

    // 1. An edge joins us-east: checked at once, answered once its checks pass (it starts down:
    //    its one transition is to up). euc1 stays down through the reload, no flap.
    reload(fleet_config({use1, use1b, euc1}), "geodns: reloaded", 1);
    CHECK(dns.metric(R"(cdn_geodns_edge_up{edge="euc1",region="eu-central"})") == 0);
    CHECK(eventually([&] { return has(home(), "127.10.0.11"); }, 10s));
    CHECK(dns.metric(
              R"(cdn_geodns_health_transitions_total{edge="use1-b",region="us-east",to="up"})") >=
          1);
    CHECK_THAT(http_get(dns.admin_port(), "/v1/edges").body(), Contains(R"("id":"use1-b")"));

    // 2. use1 leaves: never answered again from the moment the reload is done, no longer
    //    checked, its metrics gone.
    reload(fleet_config({use1b, euc1}), "geodns: reloaded", 2);
    for (int i = 0; i < 20; ++i) {
        const auto a = home();
        CHECK(!has(a, "127.10.0.1"));
        CHECK(has(a, "127.10.0.11"));
    }
    CHECK(dns.metric(R"(cdn_geodns_edge_up{edge="use1",region="us-east"})") == -1);  // absent
    CHECK_THAT(http_get(dns.admin_port(), "/v1/edges").body(), !Contains(R"("id":"use1")"));

    // 3. A file that does not load: the error names file:line:field, the old fleet stays.
    reload(fleet_config({use1b, euc1, {"x", "mars", "127.10.0.9", ok}}), "geodns: reload failed",
           1);
    const std::string log = dns.process().log();
    const std::regex where(R"(reload failed, keeping the running config: \S*geodns\.toml:\d+: )"
                           R"(edges\[\d\]\.region: "mars")");
    CHECK(std::regex_search(log, where));
    CHECK(home() == std::vector<std::string>{"127.10.0.11"});

    // 4. Several reloads in a row, use1 back: it is answered again once checked.
    reload(fleet_config({use1b, euc1}), "geodns: reloaded", 3);
    reload(fleet_config({use1b, euc1, use1}), "geodns: reloaded", 4);
    CHECK(eventually([&] { return has(home(), "127.10.0.1"); }, 10s));

    load.finish();
    INFO("sent " << load.sent << " queries");
    CHECK(load.sent > 100);
    CHECK(load.unanswered == 0);
    CHECK(load.empty == 0);
    CHECK(load.berlin_down == 0);  // the down edge was never answered, not even during a reload
    CHECK(dns.metric(
              R"(cdn_geodns_health_transitions_total{edge="euc1",region="eu-central",to="up"})") ==
          0);
    CHECK(dns.metric("cdn_geodns_reloads_total") == 4);
    CHECK(dns.metric("cdn_geodns_reload_failures_total") == 1);
}

TEST_CASE("geodns: SIGHUP applies limits and reports what needs a restart", "[geodns][reload]") {
    TempDir dir;
    GeoDns dns(dir, geodns_config());
    CHECK(dig_short(dns.port(), {"ns1.cdn.example", "A"}) ==
          std::vector<std::string>{"127.0.0.53"});
    // threads and the addresses are kept (and said so); the record and log level apply.
    {
        std::string c = geodns_config({},
                                      "\n[[zones.records]]\nname = \"n\"\ntype = \"A\"\n"
                                      "values = [\"127.0.0.77\"]\n");
        c.replace(c.find("threads = 2"), 11, "threads = 3");
        c += "\n[log]\nlevel = \"warn\"\n";
        std::ofstream(dns.config_path()) << c;
    }
    ::kill(dns.process().pid(), SIGHUP);
    dns.process().wait_for_log("[server] threads: 2 -> 3 needs a restart");
    CHECK(eventually(
        [&] {
            return dig_short(dns.port(), {"n.cdn.example", "A"}) ==
                   std::vector<std::string>{"127.0.0.77"};
        },
        10s));
    CHECK(dns.metric("cdn_geodns_reloads_total") == 1);
}

TEST_CASE("geodns: a second geodns on a port already served exits naming the port",
          "[geodns][ports]") {
    TempDir dir;
    GeoDns first(dir, geodns_config());
    const std::string address = "127.0.0.1:" + std::to_string(first.port());
    const std::string second = dir.write("second.toml", geodns_config());
    const auto r = run_command(
        {"sh", "-c",
         std::string(GEODNS_BIN) + " --config " + second + " --dns " + address + " 2>&1"},
        20s);
    INFO(r.out);
    CHECK(r.status != 0);
    CHECK(r.status != -1);  // exited by itself, at once
    CHECK_THAT(r.out, Contains(address));
    CHECK_THAT(r.out, Contains("reuse_port"));
    // The first one still answers every query.
    CHECK(dig_short(first.port(), {"ns1.cdn.example", "A"}) ==
          std::vector<std::string>{"127.0.0.53"});
}

TEST_CASE("geodns: relative paths in the config are relative to the config file",
          "[geodns][config]") {
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "geo");
    std::filesystem::copy_file(geodns_test_data("geodns-test.mmdb"),
                               dir.path() / "geo" / "city.mmdb");
    std::string config = geodns_config();
    const std::string absolute = geodns_test_data("geodns-test.mmdb");
    config.replace(config.find(absolute), absolute.size(), "geo/city.mmdb");
    // geodns runs in the test's working directory, not next to its config.
    REQUIRE(std::filesystem::current_path() != dir.path());
    GeoDns dns(dir, config);
    CHECK(dig_short(dns.port(), {"-b", "127.2.0.1", "www.cdn.example", "A"}) ==
          std::vector<std::string>{"127.10.0.2"});

    // A database that does not open: file:line:field and the resolved path.
    std::string missing = config;
    missing.replace(missing.find("geo/city.mmdb"), 13, "geo/none.mmdb");
    const std::string path = dir.write("missing.toml", missing);
    const auto r = run_command(
        {"sh", "-c", std::string(GEODNS_BIN) + " --config " + path + " --dns 127.0.0.1:0 2>&1"});
    CHECK(r.status == 2);
    CHECK(std::regex_search(r.out, std::regex(R"(missing\.toml:\d+: geo\.database: )")));
    CHECK_THAT(r.out, Contains((dir.path() / "geo" / "none.mmdb").string()));
}
