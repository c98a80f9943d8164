// purge_api's etcd store backend against a real etcd (/usr/bin/etcd, Debian's etcd-server) on
// loopback ports: two purge_api processes share one log. Skipped (with a warning) without etcd.
#include "tests/integration/purge_api_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kEtcdBin = "/usr/bin/etcd";

std::uint16_t free_port() {
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

// One etcd member on two free loopback ports; stop() and start() keep its data and ports.
class Etcd {
  public:
    explicit Etcd(const TempDir& dir) : dir_(dir), client_(free_port()), peer_(free_port()) {
        start();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(client_); }
    void start() {
        const std::string c = url(), p = "http://127.0.0.1:" + std::to_string(peer_);
        proc_ = std::make_unique<Process>(
            std::vector<std::string>{
                kEtcdBin, "--name", "default", "--data-dir", (dir_.path() / "etcd").string(),
                "--listen-client-urls", c, "--advertise-client-urls", c, "--listen-peer-urls", p,
                "--initial-advertise-peer-urls", p, "--initial-cluster", "default=" + p},
            (dir_.path() / ("etcd-" + std::to_string(starts_++) + ".log")).string());
        const bool up = eventually(
            [&] {
                try {
                    return http_get(client_, "/health").body().find("true") != std::string::npos;
                } catch (const std::exception&) {
                    return false;
                }
            },
            10s);
        if (!up) FAIL("etcd did not become healthy:\n" << proc_->log());
    }
    void stop() { proc_.reset(); }

  private:
    const TempDir& dir_;
    std::uint16_t client_, peer_;
    int starts_ = 0;
    std::unique_ptr<Process> proc_;
};

std::string etcd_toml(const Etcd& etcd) {
    return "[stream]\nheartbeat = \"200ms\"\nwrite_timeout = \"1s\"\n\n[store]\nbackend = "
           "\"etcd\"\netcd_endpoints = [\"" +
           etcd.url() + "\"]\netcd_prefix = \"/test/purge/\"\n";
}

std::uint64_t seq_of(const Response& r) {
    INFO(r.body());
    REQUIRE(r.result_int() == 200);
    return json::parse(r.body()).at("result").at("seq").to_number<std::uint64_t>();
}

std::string id_of(const Response& r) {
    return std::string(json::parse(r.body()).at("result").at("id").as_string());
}

}  // namespace

TEST_CASE("etcd store: two instances share one log, survive restarts and etcd outages",
          "[purge_api][etcd]") {
    if (!std::filesystem::exists(kEtcdBin)) {
        WARN("no " << kEtcdBin << " (apt-get install etcd-server); skipping");
        return;
    }
    TempDir dir;
    Etcd etcd(dir);
    const std::string toml = etcd_toml(etcd);
    auto a = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "a").string());
    PurgeApi b(dir, toml, (dir.path() / "b").string());

    StreamClient stream(b.port(), "edge-a", 0);
    REQUIRE(stream.wait_synced());

    const Response ra = a->purge(R"({"tags":["from-a"]})");
    CHECK(seq_of(ra) == 1);
    const Response rb = b.purge(R"({"tags":["from-b"]})");
    CHECK(seq_of(rb) == 2);

    auto e1 = stream.next();
    REQUIRE(e1);
    CHECK(e1->event == "purge");
    CHECK(e1->id == "1");
    CHECK(e1->data.find("from-a") != std::string::npos);
    auto e2 = stream.next();
    REQUIRE(e2);
    CHECK(e2->id == "2");
    CHECK(e2->data.find("from-b") != std::string::npos);

    // B knows A's purge by id (it polled it in).
    CHECK(b.get("/v1/purges/" + id_of(ra)).result_int() == 200);

    SECTION("concurrent appends on both instances get distinct, contiguous seqs") {
        std::vector<std::uint64_t> seqs_a, seqs_b;
        auto post_n = [](PurgeApi& api, std::vector<std::uint64_t>& out) {
            for (int i = 0; i < 8; ++i) {
                const Response r = api.purge(R"({"tags":["c"]})");
                if (r.result_int() == 200)
                    out.push_back(
                        json::parse(r.body()).at("result").at("seq").to_number<std::uint64_t>());
            }
        };
        std::thread ta([&] { post_n(*a, seqs_a); });
        std::thread tb([&] { post_n(b, seqs_b); });
        ta.join();
        tb.join();
        REQUIRE(seqs_a.size() == 8);
        REQUIRE(seqs_b.size() == 8);
        std::set<std::uint64_t> all(seqs_a.begin(), seqs_a.end());
        all.insert(seqs_b.begin(), seqs_b.end());
        CHECK(all.size() == 16);
        CHECK(*all.begin() == 3);
        CHECK(*all.rbegin() == 18);
        // The stream on B delivers all of them, in order.
        for (std::uint64_t s = 3; s <= 18; ++s) {
            auto e = stream.next();
            REQUIRE(e);
            CHECK(e->id == std::to_string(s));
        }
    }

    SECTION("a restarted instance continues the log") {
        a.reset();
        a = std::make_unique<PurgeApi>(dir, toml, (dir.path() / "a").string());
        CHECK(a->get("/v1/purges/" + id_of(rb)).result_int() == 200);
        CHECK(seq_of(a->purge(R"({"tags":["after-restart"]})")) == 3);
        auto e = stream.next();
        REQUIRE(e);
        CHECK(e->id == "3");
    }

    SECTION("etcd down: 503 and unhealthy; back: purges work again") {
        etcd.stop();
        CHECK(a->purge(R"({"tags":["lost"]})").result_int() == 503);
        CHECK(eventually([&] { return b.get("/healthz").result_int() == 503; }));
        CHECK(b.purge(R"({"tags":["lost"]})").result_int() == 503);
        etcd.start();
        CHECK(eventually([&] { return a->get("/healthz").result_int() == 200; }));
        CHECK(seq_of(a->purge(R"({"tags":["back"]})")) == 3);
        auto e = stream.next();
        REQUIRE(e);
        CHECK(e->id == "3");
        CHECK(e->data.find("back") != std::string::npos);
    }
}

TEST_CASE("etcd store: an unreachable etcd at start-up is an error", "[purge_api][etcd]") {
    TempDir dir;
    const std::string toml = "[store]\nbackend = \"etcd\"\netcd_endpoints = [\"http://127.0.0.1:" +
                             std::to_string(free_port()) + "\"]\n";
    CHECK_THROWS(PurgeApi(dir, toml));
}
