#pragma once
// A real etcd cluster (Debian's etcd-server, /usr/bin/etcd) of N members on free loopback
// ports, for tests of purge_api's etcd store. Members can be stopped (SIGKILL), started again
// on their data and ports, paused (SIGSTOP: a stall, not an outage) and resumed. Its key-value
// API is reached through the JSON gateway with the helpers below.
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

#include <boost/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cdn::test {

inline constexpr const char* kEtcdBin = "/usr/bin/etcd";

inline bool have_etcd() {
    return std::filesystem::exists(kEtcdBin);
}

// In a Catch test case: without etcd installed, the case passes with a warning and ends here.
#define SKIP_WITHOUT_ETCD()                                                        \
    do {                                                                           \
        if (!have_etcd()) {                                                        \
            WARN("no " << kEtcdBin << " (apt-get install etcd-server); skipping"); \
            return;                                                                \
        }                                                                          \
    } while (false)

inline std::uint16_t free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
}

class EtcdCluster {
  public:
    EtcdCluster(const TempDir& dir, std::size_t members) : dir_(dir) {
        for (std::size_t i = 0; i < members; ++i)
            members_.push_back(Member{"m" + std::to_string(i), free_loopback_port(),
                                      free_loopback_port(), 0, nullptr});
        for (std::size_t i = 0; i < members; ++i)
            launch(i, "new");
        for (std::size_t i = 0; i < members; ++i)
            if (!wait_healthy(i)) throw std::runtime_error("etcd member did not become healthy");
    }
    std::size_t size() const { return members_.size(); }
    std::string url(std::size_t i) const {
        return "http://127.0.0.1:" + std::to_string(members_[i].client);
    }
    std::uint16_t port(std::size_t i) const { return members_[i].client; }
    // ["http://127.0.0.1:A", "http://127.0.0.1:B", ...] as a TOML array.
    std::string toml_endpoints() const {
        std::string out = "[";
        for (std::size_t i = 0; i < members_.size(); ++i)
            out += (i ? ", \"" : "\"") + url(i) + "\"";
        return out + "]";
    }
    bool running(std::size_t i) const { return members_[i].proc != nullptr; }

    void kill(std::size_t i) {
        if (members_[i].proc) members_[i].proc->kill_hard();
        members_[i].proc.reset();
    }
    void start(std::size_t i) {
        launch(i, "existing");
        if (!wait_healthy(i)) throw std::runtime_error("etcd member did not come back");
    }
    void pause(std::size_t i) { ::kill(members_[i].proc->pid(), SIGSTOP); }
    void resume(std::size_t i) { ::kill(members_[i].proc->pid(), SIGCONT); }

    // The index of the current leader among the running members, if one answers.
    std::optional<std::size_t> leader() {
        for (std::size_t i = 0; i < members_.size(); ++i) {
            if (!members_[i].proc) continue;
            try {
                const auto v = call(i, "/v3/maintenance/status", "{}");
                const auto& o = v.as_object();
                if (o.at("leader") == o.at("header").at("member_id")) return i;
            } catch (const std::exception&) {
            }
        }
        return std::nullopt;
    }

    // A JSON gateway call on member i (throws on a failure).
    boost::json::value call(std::size_t i, const std::string& path, const std::string& body) {
        HttpClient c(members_[i].client);
        const Response r = c.request("POST", path, {{"Content-Type", "application/json"}}, body);
        if (r.result_int() != 200)
            throw std::runtime_error(path + ": " + std::to_string(r.result_int()) + " " + r.body());
        return boost::json::parse(r.body());
    }
    // On the first running member.
    boost::json::value call(const std::string& path, const std::string& body) {
        for (std::size_t i = 0; i < members_.size(); ++i)
            if (members_[i].proc) return call(i, path, body);
        throw std::runtime_error("no etcd member running");
    }

    static std::string b64(std::string_view in) {
        static constexpr char k[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string out;
        std::size_t i = 0;
        for (; i + 3 <= in.size(); i += 3) {
            const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                               (static_cast<unsigned char>(in[i + 1]) << 8) |
                               static_cast<unsigned char>(in[i + 2]);
            out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
        }
        if (in.size() - i == 1) {
            const unsigned n = static_cast<unsigned char>(in[i]) << 16;
            out += {k[(n >> 18) & 63], k[(n >> 12) & 63], '=', '='};
        } else if (in.size() - i == 2) {
            const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                               (static_cast<unsigned char>(in[i + 1]) << 8);
            out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
        }
        return out;
    }
    // Keys from `from` up to (not including) `to`.
    std::size_t count(const std::string& from, const std::string& to) {
        const auto v = call("/v3/kv/range", R"({"key":")" + b64(from) + R"(","range_end":")" +
                                                b64(to) + R"(","count_only":true})");
        const auto* c = v.as_object().if_contains("count");
        return c ? std::stoul(std::string(c->as_string())) : 0;
    }
    void del(const std::string& from, const std::string& to) {
        call("/v3/kv/deleterange",
             R"({"key":")" + b64(from) + R"(","range_end":")" + b64(to) + R"("})");
    }

  private:
    struct Member {
        std::string name;
        std::uint16_t client, peer;
        int starts;
        std::unique_ptr<Process> proc;
    };

    void launch(std::size_t i, const std::string& state) {
        Member& m = members_[i];
        std::string cluster;
        for (std::size_t j = 0; j < members_.size(); ++j)
            cluster += (j ? "," : "") + members_[j].name +
                       "=http://127.0.0.1:" + std::to_string(members_[j].peer);
        const std::string c = url(i), p = "http://127.0.0.1:" + std::to_string(m.peer);
        m.proc = std::make_unique<Process>(
            std::vector<std::string>{
                kEtcdBin, "--name", m.name, "--data-dir",
                (dir_.path() / ("etcd-" + m.name)).string(), "--listen-client-urls", c,
                "--advertise-client-urls", c, "--listen-peer-urls", p,
                "--initial-advertise-peer-urls", p, "--initial-cluster", cluster,
                "--initial-cluster-state", state, "--initial-cluster-token", "cdn-test",
                // Loopback: elections in well under a second.
                "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn"},
            (dir_.path() / ("etcd-" + m.name + "-" + std::to_string(m.starts++) + ".log"))
                .string());
    }

    bool wait_healthy(std::size_t i) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < deadline) {
            try {
                if (http_get(members_[i].client, "/health").body().find("true") !=
                    std::string::npos)
                    return true;
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    const TempDir& dir_;
    std::vector<Member> members_;
};

}  // namespace cdn::test
