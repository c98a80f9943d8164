#include "tests/integration/cluster.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include <atomic>
#include <stdexcept>

namespace cdn::test {
namespace {
std::atomic<int> g_seq{0};

std::uint64_t stat(std::uint16_t port, const std::string& target, const char* field) {
    const auto res = http_get(port, "/_stats?target=" + url_encode(target));
    if (res.result_int() != 200) throw std::runtime_error("origin_sim /_stats failed");
    return boost::json::value_to<std::uint64_t>(boost::json::parse(res.body()).at(field));
}
}  // namespace

std::string url_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

OriginSim::OriginSim(const TempDir& dir, std::vector<std::string> extra_args) {
    std::vector<std::string> argv = {ORIGIN_SIM_BIN, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    const std::string log = (dir.path() / ("origin-" + std::to_string(g_seq++) + ".log")).string();
    proc_ = std::make_unique<Process>(argv, log);
    port_ = proc_->wait_for_port("listening on");
}

std::uint64_t OriginSim::count(const std::string& target) {
    return stat(port_, target, "requests");
}
std::uint64_t OriginSim::not_modified(const std::string& target) {
    return stat(port_, target, "not_modified");
}
std::uint64_t OriginSim::total() {
    const auto res = http_get(port_, "/_stats");
    return boost::json::value_to<std::uint64_t>(boost::json::parse(res.body()).at("total"));
}

std::uint64_t OriginSim::method_count(const std::string& method) {
    const auto res = http_get(port_, "/_stats");
    const boost::json::value stats = boost::json::parse(res.body());
    const auto& methods = stats.at("methods").as_object();
    const auto it = methods.find(method);
    return it == methods.end() ? 0 : boost::json::value_to<std::uint64_t>(it->value());
}

Edge::Edge(const TempDir& dir, const std::string& origin_url, const std::string& config_toml,
           std::vector<std::string> extra_args) {
    const int seq = g_seq++;
    std::vector<std::string> argv = {EDGE_BIN};
    if (!config_toml.empty()) {
        argv.push_back("--config");
        argv.push_back(dir.write("edge-" + std::to_string(seq) + ".toml", config_toml));
    }
    for (const char* a : {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--threads", "2"})
        argv.emplace_back(a);
    // "test-edge" unless the test names it (tiers need distinct names: CDN-Loop).
    if (std::find(extra_args.begin(), extra_args.end(), "--name") == extra_args.end())
        for (const char* a : {"--name", "test-edge"})
            argv.emplace_back(a);
    if (!origin_url.empty()) {
        argv.emplace_back("--origin");
        argv.push_back(origin_url);
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    const std::string log = (dir.path() / ("edge-" + std::to_string(seq) + ".log")).string();
    proc_ = std::make_unique<Process>(argv, log);
    port_ = proc_->wait_for_port("http on");
    admin_port_ = proc_->wait_for_port("admin on");
}

double Edge::metric(const std::string& sample) {
    const auto v = scrape_metric(admin_port_, sample);
    if (!v) throw std::runtime_error("no sample " + sample + " in /metrics");
    return *v;
}

}  // namespace cdn::test
