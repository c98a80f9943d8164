// purge_api as an operator runs it: --check before a deploy, relative paths in its config file,
// and SIGHUP reloads under load (tokens rotated with 0 failed requests, a bad file kept out, a
// change that needs a restart reported). Real processes, real HTTP.
#include "tests/integration/pki.hpp"
#include "tests/integration/purge_api_fixture.hpp"

#include <signal.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A config whose data_dir is relative (to the file) and whose admin tokens are `tokens`.
std::string config_toml(const std::vector<std::string>& tokens, const std::string& edge_token,
                        const std::string& extra = "", const std::string& listen = "127.0.0.1:0") {
    std::string t = "[server]\nlisten = \"" + listen + "\"\ndata_dir = \"state/purge\"\n\n";
    for (std::size_t i = 0; i < tokens.size(); ++i)
        t += "[[token]]\nname = \"ops-" + std::to_string(i) + "\"\nvalue = \"" + tokens[i] +
             "\"\n\n";
    t += "[edges]\ntoken = \"" + edge_token + "\"\nknown = [\"edge-a\"]\n\n" + extra;
    return t;
}

Response post(HttpClient& c, const std::string& token, const std::string& body) {
    return c.request("POST", "/v1/purge",
                     {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}},
                     body);
}

double metric(std::uint16_t port, const std::string& sample) {
    return scrape_metric(port, sample).value_or(-1);
}

// Sends SIGHUP and waits until purge_api counted the reload (ok or failed): from then on, new
// requests see its outcome.
void hup_and_wait(Process& p, std::uint16_t port, const std::string& result, double expected) {
    ::kill(p.pid(), SIGHUP);
    const std::string sample = "cdn_purge_api_reloads_total{result=\"" + result + "\"}";
    REQUIRE(eventually([&] { return metric(port, sample) == expected; }));
}

}  // namespace

TEST_CASE("purge_api --check validates config, certificate and data directory without starting",
          "[purge_api][config]") {
    TempDir dir;
    Pki pki(dir);
    pki.issue("purge", {"purge.test"}, 0x7001);
    // Relative paths: the certificate next to the config file, found from any working directory.
    const std::string tls =
        "[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"purge.pem\"\nkey = \"purge.key\"\n";
    const std::string good = dir.write("good.toml", config_toml({"a-token"}, "e-token", tls));
    const auto ok = sh(std::string(PURGE_API_BIN) + " --config " + good + " --check");
    INFO(ok.out);
    CHECK(ok.status == 0);
    CHECK_THAT(ok.out, Contains("purge_api: configuration is valid: http on 127.0.0.1:0, https on "
                                "127.0.0.1:0 (certificate " +
                                dir.path().string() + "/purge.pem)"));
    CHECK_THAT(ok.out, Contains("1 admin token (0 host-limited), edge token, 1 known edge, file "
                                "store " +
                                dir.path().string() + "/state/purge"));
    CHECK_THAT(ok.out, !Contains("purge_api: http on"));         // nothing was started
    CHECK_FALSE(std::filesystem::exists(dir.path() / "state"));  // nothing was created

    struct Bad {
        std::string name, toml, message;
    };
    dir.write("taken", "a file where the data directory should be");
    const std::vector<Bad> bad = {
        {"typo.toml", "[server]\ndata_dir = \"d\"\nlisen = \"x\"\n",
         "typo.toml:3: server.lisen: unknown key"},
        {"cert.toml",
         config_toml({"a"}, "e",
                     "[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"nope.pem\"\nkey = \"purge.key\"\n"),
         "cert.toml:13: tls.cert: " + dir.path().string() + "/nope.pem"},
        {"data.toml", "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"taken/purge\"\n",
         "data.toml:3: server.data_dir: data directory " + dir.path().string() +
             "/taken/purge: cannot be created"},
        {"dup.toml", config_toml({"same", "same"}, "e"),
         "dup.toml:11: token[1].value: the same value as the token at " + dir.path().string() +
             "/dup.toml:7: token[0].value"},
    };
    for (const Bad& b : bad) {
        INFO(b.name);
        const auto r =
            sh(std::string(PURGE_API_BIN) + " --config " + dir.write(b.name, b.toml) + " --check");
        INFO(r.out);
        CHECK(r.status == 2);
        CHECK_THAT(r.out, Contains(b.message));
    }
    // Flags are checked too, and name themselves.
    const auto flag =
        sh(std::string(PURGE_API_BIN) + " --config " + good + " --token e-token --check");
    CHECK(flag.status == 2);
    CHECK_THAT(flag.out, Contains("--token: the same value as the edge token"));
}

TEST_CASE("purge_api: a relative data_dir is relative to the config file", "[purge_api][config]") {
    TempDir dir;
    const std::string file = dir.write("p.toml", config_toml({"a-token"}, "e-token"));
    Process p({PURGE_API_BIN, "--config", file}, (dir.path() / "api.log").string());
    const std::uint16_t port = p.wait_for_port("purge_api: http on");
    HttpClient c(port);
    CHECK(post(c, "a-token", R"({"tags":["a"]})").result_int() == 200);
    CHECK(std::filesystem::exists(dir.path() / "state" / "purge" / "purge.log"));
    CHECK_THAT(p.log(), Contains(dir.path().string() + "/state/purge/purge.log"));
}

TEST_CASE("purge_api: SIGHUP never kills it, even without a config file or TLS",
          "[purge_api][reload]") {
    TempDir dir;
    Process p({PURGE_API_BIN, "--listen", "127.0.0.1:0", "--data-dir", (dir.path() / "d").string(),
               "--token", "a-token"},
              (dir.path() / "api.log").string());
    const std::uint16_t port = p.wait_for_port("purge_api: http on");
    hup_and_wait(p, port, "ok", 1);
    hup_and_wait(p, port, "ok", 2);
    CHECK(p.running());
    HttpClient c(port);
    CHECK(post(c, "a-token", R"({"tags":["a"]})").result_int() == 200);
    CHECK_THAT(p.log(), Contains("purge_api: reloaded the flags"));
    CHECK(p.terminate() == 0);
}

TEST_CASE(
    "purge_api: SIGHUP under load rotates tokens with no failed request, keeps a bad file "
    "out and reports what needs a restart",
    "[purge_api][reload]") {
    TempDir dir;
    const std::string file = dir.write("p.toml", config_toml({"old-token"}, "edge-old"));
    Process p({PURGE_API_BIN, "--config", file}, (dir.path() / "api.log").string());
    const std::uint16_t port = p.wait_for_port("purge_api: http on");

    // A client posting purges and reading their status in a loop on one keep-alive connection,
    // bounded in count and time, with whatever token the operator handed it last.
    std::mutex mu;
    std::string token = "old-token";
    std::atomic<bool> stop{false};
    std::atomic<int> done{0}, failed{0};
    std::atomic<bool> finished{false};
    std::string first_failure;
    std::thread client([&] {
        HttpClient c(port);
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        for (int i = 0; i < 5000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
            std::string t;
            {
                std::lock_guard lk(mu);
                t = token;
            }
            try {
                const Response r =
                    post(c, t, R"({"files":["https://a.com/)" + std::to_string(i) + R"("]})");
                bool ok = r.result_int() == 200;
                if (ok) {
                    const std::string id(json::parse(r.body()).at("result").at("id").as_string());
                    ok = c.get("/v1/purges/" + id, {{"Authorization", "Bearer " + t}})
                             .result_int() == 200;
                }
                if (!ok && failed++ == 0) first_failure = std::to_string(r.result_int()) + r.body();
            } catch (const std::exception& e) {
                if (failed++ == 0) first_failure = e.what();
            }
            ++done;
        }
        finished = true;
    });
    auto use = [&](const std::string& t) {
        std::lock_guard lk(mu);
        token = t;
    };
    auto progress = [&](int more) {
        const int target = done + more;
        REQUIRE(eventually([&] { return done >= target || finished; }, 30s));
    };

    progress(20);
    REQUIRE_FALSE(finished);
    // 1. The new token beside the old one, a new edge token, a lower item limit, debug logging.
    dir.write("p.toml", config_toml({"old-token", "new-token"}, "edge-new",
                                    "[limits]\nmax_items = 2\n[log]\nlevel = \"debug\"\n"));
    hup_and_wait(p, port, "ok", 1);
    p.wait_for_log("POST /v1/purge -> 200");  // debug: one line per request
    HttpClient probe(port);
    CHECK(post(probe, "new-token", R"({"tags":["a","b","c"]})").result_int() == 400);
    StreamClient old_edge(port, "edge-a", 0, "edge-old");
    CHECK_THAT(old_edge.head(), Contains("401"));
    StreamClient new_edge(port, "edge-a", 0, "edge-new");
    CHECK_THAT(new_edge.head(), Contains("200 OK"));
    use("new-token");
    progress(20);

    // 2. The old token goes.
    dir.write("p.toml", config_toml({"new-token"}, "edge-new"));
    hup_and_wait(p, port, "ok", 2);
    CHECK(post(probe, "old-token", R"({"tags":["a"]})").result_int() == 401);
    CHECK(post(probe, "new-token", R"({"tags":["a","b","c"]})").result_int() == 200);
    progress(20);

    // 3. A file that does not load: the running configuration stays, the error names the line.
    dir.write("p.toml",
              config_toml({"newer-token"}, "edge-new", "[limits]\nmax_items = \"many\"\n"));
    hup_and_wait(p, port, "failed", 1);
    const std::string err = p.wait_for_log("reload failed, keeping the running configuration: ");
    CHECK_THAT(err, Contains(file + ":14: limits.max_items: expected an integer"));
    CHECK(post(probe, "newer-token", R"({"tags":["a"]})").result_int() == 401);
    CHECK(post(probe, "new-token", R"({"tags":["a"]})").result_int() == 200);
    progress(20);

    // 4. A new listen address needs a restart: reported, the old one kept; the rest applies.
    dir.write("p.toml",
              config_toml({"new-token"}, "edge-new", "[limits]\nmax_items = 1\n", "127.0.0.1:1"));
    hup_and_wait(p, port, "ok", 3);
    CHECK_THAT(p.wait_for_log("purge_api: reload: "),
               Contains("server.listen changed, which needs a restart"));
    CHECK(post(probe, "new-token", R"({"tags":["a","b"]})").result_int() == 400);
    progress(20);

    stop = true;
    client.join();
    INFO(first_failure);
    CHECK(failed == 0);
    CHECK(done >= 100);
    CHECK(p.running());
    CHECK(metric(port, "cdn_purge_api_reloads_total{result=\"ok\"}") == 3);
    CHECK(p.terminate() == 0);
}
