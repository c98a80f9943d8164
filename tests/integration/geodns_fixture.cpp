#include "tests/integration/geodns_fixture.hpp"

#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

namespace cdn::test {

std::string geodns_test_data(const std::string& name) {
    return std::string(GEODNS_TEST_DATA) + "/" + name;
}

std::string geodns_config(const std::vector<std::string>& health_urls, const std::string& extra) {
    std::ostringstream c;
    c << "[server]\nthreads = 2\ntcp_idle_timeout = \"300ms\"\n\n";
    c << "[geo]\ndatabase = \"" << geodns_test_data("geodns-test.mmdb") << "\"\n"
      << "default_region = \"us-east\"\n\n";
    if (health_urls.empty())
        c << "[health]\nenabled = false\n\n";
    else
        c << "[health]\ninterval = \"200ms\"\ntimeout = \"300ms\"\nrise = 2\nfall = 2\n\n";
    c << kTestRegions;
    const char* ids[] = {"use1", "euc1", "apne1"};
    const char* regions[] = {"us-east", "eu-central", "ap-northeast"};
    for (int i = 0; i < 3; ++i) {
        c << "\n[[edges]]\nid = \"" << ids[i] << "\"\nregion = \"" << regions[i] << "\"\n"
          << "ipv4 = [\"127.10.0." << i + 1 << "\"]\nipv6 = [\"2001:db8:e::" << i + 1 << "\"]\n";
        if (!health_urls.empty()) c << "health = \"" << health_urls.at(std::size_t(i)) << "\"\n";
    }
    c << R"(
[[zones]]
origin = "cdn.example"
ns = ["ns1", "ns2"]

[zones.soa]
rname = "hostmaster"
serial = 2026112201
minimum = "30s"

[[zones.records]]
name = "ns1"
type = "A"
values = ["127.0.0.53"]

[[zones.records]]
name = "ns2"
type = "A"
values = ["127.0.0.54"]

[[zones.records]]
name = "assets"
type = "CNAME"
values = ["www"]

[[zones.records]]
name = "txt"
type = "TXT"
values = ["hello world"]

[[zones.steered]]
name = "www"
ttl = "20s"
count = 2
)";
    c << extra;
    return c.str();
}

GeoDns::GeoDns(const TempDir& dir, const std::string& config, const std::string& name) {
    config_path_ = dir.write(name + ".toml", config);
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{GEODNS_BIN, "--config", config_path_, "--dns", "127.0.0.1:0",
                                 "--admin", "127.0.0.1:0"},
        (dir.path() / (name + ".log")).string());
    port_ = proc_->wait_for_port("geodns: dns on");
    admin_port_ = proc_->wait_for_port("geodns: admin on");
}

double GeoDns::metric(const std::string& sample) {
    return scrape_metric(admin_port_, sample).value_or(-1);
}

std::string dig(std::uint16_t port, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"dig",     "@127.0.0.1", "-p", std::to_string(port),
                                     "+time=2", "+tries=1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv).out;
}

std::vector<std::string> dig_short(std::uint16_t port, const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    a.push_back("+short");
    std::istringstream in(dig(port, a));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != ';') lines.push_back(line);
    return lines;
}

std::string kdig(std::uint16_t port, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"kdig",    "@127.0.0.1", "-p", std::to_string(port),
                                     "+time=2", "+retry=0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv).out;
}

std::string udp_exchange(std::uint16_t port, const std::string& datagram,
                         std::chrono::milliseconds timeout) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    pollfd p{fd, POLLIN, 0};
    std::string reply;
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        char buf[65536];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) reply.assign(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply;
}

std::string make_query(std::uint16_t id, const std::string& name, std::uint16_t qtype, bool edns) {
    std::string q;
    auto u16 = [&q](unsigned v) {
        q.push_back(static_cast<char>((v >> 8) & 0xff));
        q.push_back(static_cast<char>(v & 0xff));
    };
    u16(id);
    u16(0x0100);  // RD
    u16(1);
    u16(0);
    u16(0);
    u16(edns ? 1 : 0);
    std::size_t start = 0;
    while (start < name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q.push_back(static_cast<char>(dot - start));
        q.append(name, start, dot - start);
        start = dot + 1;
    }
    q.push_back('\0');
    u16(qtype);
    u16(1);
    if (edns) {
        q.push_back('\0');  // root
        u16(41);
        u16(1232);
        u16(0);
        u16(0);
        u16(0);  // rdlen
    }
    return q;
}

}  // namespace cdn::test
