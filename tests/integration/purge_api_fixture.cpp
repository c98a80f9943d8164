#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <sstream>
#include <stdexcept>

namespace cdn::test {
namespace {
std::atomic<int> g_seq{0};
}

PurgeApi::PurgeApi(const TempDir& dir, const std::string& extra_toml, const std::string& data_dir,
                   const std::string& listen)
    : data_dir_(data_dir.empty() ? (dir.path() / "data").string() : data_dir) {
    const int n = g_seq++;
    std::ostringstream toml;
    toml << "[server]\nlisten = \"" << listen << "\"\ndata_dir = \"" << data_dir_ << "\"\n\n"
         << "[[token]]\nname = \"admin\"\nvalue = \"" << kAdminToken << "\"\n\n"
         << "[[token]]\nname = \"shop\"\nvalue = \"" << kShopToken
         << "\"\nhosts = [\"shop.com\"]\n\n"
         << "[edges]\ntoken = \"" << kEdgeToken << "\"\nknown = [\"edge-a\", \"edge-b\"]\n\n"
         << extra_toml << "\n";
    const std::string config = dir.write("purge-" + std::to_string(n) + ".toml", toml.str());
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{PURGE_API_BIN, "--config", config},
        (dir.path() / ("purge_api-" + std::to_string(n) + ".log")).string());
    port_ = proc_->wait_for_port("purge_api: http on");
}

Response PurgeApi::purge(const std::string& body, const std::string& token) {
    HttpClient c(port_);
    return c.request("POST", "/v1/purge",
                     {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}},
                     body);
}

Response PurgeApi::get(const std::string& target, const std::string& token) {
    return http_get(port_, target, {{"Authorization", "Bearer " + token}});
}

Response PurgeApi::ack(const std::string& edge, std::uint64_t seq) {
    HttpClient c(port_);
    return c.request("POST", "/v1/edges/" + edge + "/ack",
                     {{"Authorization", std::string("Bearer ") + kEdgeToken}},
                     "{\"seq\":" + std::to_string(seq) + "}");
}

double PurgeApi::metric(const std::string& sample) {
    return scrape_metric(port_, sample).value_or(-1);
}

StreamClient::StreamClient(std::uint16_t port, const std::string& edge, std::uint64_t after,
                           const std::string& token, int rcvbuf) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        throw std::runtime_error("connect failed");
    const std::string req = "GET /v1/stream?edge=" + edge + "&after=" + std::to_string(after) +
                            " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token +
                            "\r\nAccept: text/event-stream\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
        throw std::runtime_error("send failed");
}

StreamClient::~StreamClient() {
    if (fd_ >= 0) ::close(fd_);
}

bool StreamClient::fill(std::chrono::steady_clock::time_point deadline) {
    if (ended_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
        ended_ = true;
        return false;
    }
    raw_.append(buf, static_cast<std::size_t>(n));
    decode();
    return true;
}

void StreamClient::decode() {
    if (head_.empty()) {
        const auto end = raw_.find("\r\n\r\n");
        if (end == std::string::npos) return;
        head_ = raw_.substr(0, end + 4);
        raw_.erase(0, end + 4);
        std::string lower = head_;
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        chunked_ = lower.find("transfer-encoding: chunked") != std::string::npos;
    }
    if (!chunked_) {
        body_ += raw_;
        raw_.clear();
        return;
    }
    for (;;) {
        const auto eol = raw_.find("\r\n");
        if (eol == std::string::npos) return;
        const std::size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
        if (size == 0) {
            ended_ = true;
            raw_.clear();
            return;
        }
        if (raw_.size() < eol + 2 + size + 2) return;
        body_ += raw_.substr(eol + 2, size);
        raw_.erase(0, eol + 2 + size + 2);
    }
}

const std::string& StreamClient::head() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (head_.empty() && fill(deadline)) {
    }
    return head_;
}

void StreamClient::parse_events() {
    for (auto end = body_.find("\n\n"); end != std::string::npos; end = body_.find("\n\n")) {
        const std::string block = body_.substr(0, end);
        body_.erase(0, end + 2);
        SseEvent e;
        std::istringstream in(block);
        std::string line;
        bool comment_only = true;
        while (std::getline(in, line)) {
            if (line.starts_with(":")) continue;
            comment_only = false;
            const auto colon = line.find(": ");
            const std::string field = line.substr(0, colon);
            const std::string value = colon == std::string::npos ? "" : line.substr(colon + 2);
            if (field == "id") e.id = value;
            if (field == "event") e.event = value;
            if (field == "data") e.data = value;
        }
        if (comment_only)
            ++pings_;
        else if (e.event == "synced")
            synced_ = e.data;
        else
            events_.push_back(std::move(e));
    }
}

std::optional<SseEvent> StreamClient::next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        parse_events();
        if (!events_.empty()) {
            SseEvent e = std::move(events_.front());
            events_.pop_front();
            return e;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<std::string> StreamClient::wait_synced(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        parse_events();
        if (synced_ || !fill(deadline)) return synced_;
    }
}

bool StreamClient::wait_end(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ended_)
        if (!fill(deadline) && !ended_) return false;
    return true;
}

namespace {
const boost::json::object& purge_result(const Response& r, boost::json::value& holder) {
    if (r.result_int() != 200)
        throw std::runtime_error("the purge was answered " + std::to_string(r.result_int()) + ": " +
                                 r.body());
    holder = boost::json::parse(r.body());
    return holder.at("result").as_object();
}
}  // namespace

std::uint64_t seq_of(const Response& r) {
    boost::json::value v;
    return purge_result(r, v).at("seq").to_number<std::uint64_t>();
}

std::string id_of(const Response& r) {
    boost::json::value v;
    return std::string(purge_result(r, v).at("id").as_string());
}

boost::json::object edge_entry(PurgeApi& api, const std::string& edge) {
    const Response r = api.get("/v1/edges");
    if (r.result_int() != 200)
        throw std::runtime_error("GET /v1/edges: " + std::to_string(r.result_int()) + " " +
                                 r.body());
    const boost::json::value all = boost::json::parse(r.body());
    for (const auto& e : all.as_array())
        if (e.at("edge").as_string() == edge) return e.as_object();
    return {};
}

std::uint64_t api_applied(PurgeApi& api, const std::string& edge) {
    const boost::json::object e = edge_entry(api, edge);
    return e.contains("last_applied_seq") ? e.at("last_applied_seq").to_number<std::uint64_t>() : 0;
}

}  // namespace cdn::test
