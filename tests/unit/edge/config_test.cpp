#include "edge/config.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace cdn;
using namespace cdn::edge;
using Catch::Matchers::Contains;

namespace {

// The error a config (parsed as t.toml) is refused with, or "no error".
std::string fails(const std::string& toml) {
    try {
        load_edge_config(ConfigSection::parse(toml, "t.toml"));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("a full config parses", "[edge_config]") {
    const auto c = load_edge_config(ConfigSection::parse(R"(
[server]
name = "edge-a"
listen = ["127.0.0.1:0", "[::1]:0"]
admin = "127.0.0.1:0"
threads = 2
access_log = false

[cache]
memory = "64MiB"
max_object_size = "8MiB"
sort_query = true
drop_query_params = ["utm_*"]
heuristic_max = "1h"

[limits]
max_header_size = "8KiB"
max_body_size = "1MiB"

[timeouts]
client_idle = "5s"
origin_connect = "500ms"
origin_response = "2s"

[[origin]]
hosts = ["www.example.com"]
url = "http://127.0.0.1:9000"

[[origin]]
hosts = ["*"]
urls = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
)",
                                                         "edge.toml"));
    CHECK(c.name == "edge-a");
    CHECK(c.listen.size() == 2);
    CHECK(c.admin);
    CHECK(c.threads == 2);
    CHECK(c.log.access == "off");
    CHECK(c.memory_bytes == 64u << 20);
    CHECK(c.origin_pool.max_body_bytes == 8u << 20);
    CHECK(c.key.sort_query);
    CHECK(c.freshness.heuristic_max == std::chrono::hours(1));
    CHECK(c.session.max_header_bytes == 8192);
    CHECK(c.session.idle_timeout == std::chrono::seconds(5));
    CHECK(c.origin_pool.connect_timeout == std::chrono::milliseconds(500));
    REQUIRE(c.origins.size() == 2);
    CHECK(c.origin_for("www.example.com") == &c.origins[0]);
    CHECK(c.origin_for("other.example") == &c.origins[1]);
    CHECK(c.origins[1].servers.size() == 2);
    validate(c);
}

TEST_CASE("config errors name file, line and field", "[edge_config]") {
    auto load = [](const char* text) {
        return load_edge_config(ConfigSection::parse(text, "e.toml"));
    };
    REQUIRE_THROWS_WITH(load("[server]\nlisten = \"nowhere\"\n"),
                        Contains("e.toml:2: server.listen") && Contains("nowhere"));
    REQUIRE_THROWS_WITH(load("[cache]\nmemroy = \"1GiB\"\n"),
                        Contains("e.toml:2: cache.memroy: unknown key"));
    REQUIRE_THROWS_WITH(load("\n\n[[origin]]\nurl = \"ftp://x\"\n"),
                        Contains("e.toml:4: origin[0].url"));
    REQUIRE_THROWS_WITH(load("[timeouts]\norigin_connect = \"0s\"\n"),
                        Contains("e.toml:2: timeouts.origin_connect: must be greater than zero"));
    REQUIRE_THROWS_WITH(validate(EdgeConfig{}), Contains("no listen address"));
}

TEST_CASE("the annotated example config parses and validates", "[edge_config]") {
    const auto c = load_edge_config(
        ConfigSection::load_file(CDN_SOURCE_DIR "/infra/configs/edge.example.toml"));
    validate(c);
    CHECK(c.name == "edge-1");
    CHECK(c.origins.size() == 2);
    CHECK(c.memory_bytes == 256u << 20);
    CHECK(c.log.access == "stdout");  // the defaults, spelled out
    CHECK(c.log.access_format == proxy::AccessLogFormat::logfmt);
    CHECK(c.log.level == LogLevel::info);
    CHECK(c.log.format == LogFormat::text);
    REQUIRE(c.disk);
    CHECK(c.disk->path == "/var/cache/cdn-edge");
    CHECK(c.disk->capacity_bytes == 10ull << 30);
    CHECK(c.disk->segment_bytes == 16u << 20);
    CHECK(c.tiers.admission == storage::DiskAdmission::reused);
    REQUIRE(c.purge);
    CHECK(c.purge->api == std::vector<std::string>{"http://127.0.0.1:8090"});
    CHECK(c.purge->edge_id == "edge-1");
}

TEST_CASE("the disk tier is off by default and its knobs are checked", "[edge_config]") {
    CHECK_FALSE(
        load_edge_config(ConfigSection::parse("[cache]\nmemory = \"1MiB\"\n", "t.toml")).disk);
    CHECK_THAT(fails("[cache.disk]\nsize = \"1GiB\"\n"),
               Catch::Contains("t.toml") && Catch::Contains("cache.disk.path"));
    CHECK_THAT(fails("[cache.disk]\npath = \"/x\"\nsegment_size = \"1MiB\"\nsize = \"1MiB\"\n"),
               Catch::Contains("t.toml:4") && Catch::Contains("cache.disk.size"));
    CHECK_THAT(fails("[cache.disk]\npath = \"/x\"\nadmission = \"sometimes\"\n"),
               Catch::Contains("t.toml:3") && Catch::Contains("reused"));
    CHECK_THAT(fails("[cache.disk]\npath = \"/x\"\nadmission_threshold = 0\n"),
               Catch::Contains("t.toml:3") && Catch::Contains("admission_threshold"));
    const auto freq = load_edge_config(ConfigSection::parse(
        "[cache.disk]\npath = \"/x\"\nadmission = \"frequency\"\nadmission_threshold = 3\n",
        "t.toml"));
    CHECK(freq.tiers.admission == storage::DiskAdmission::frequency);
    CHECK(freq.tiers.frequency_threshold == 3);
    CHECK_THAT(fails("[cache.disk]\npath = \"/x\"\nsegmentsize = \"1MiB\"\n"),
               Catch::Contains("segmentsize"));
}

TEST_CASE("TLS is off by default, and [tls] parses and is checked", "[edge_config]") {
    CHECK_FALSE(load_edge_config(ConfigSection::parse("", "t.toml")).tls);
    const auto c = load_edge_config(ConfigSection::parse(R"(
[tls]
listen = ["127.0.0.1:8443", "127.0.0.1:0"]
handshake_timeout = "2s"
[[tls.certificates]]
cert = "/etc/a.pem"
key = "/etc/a.key"
hosts = ["www.example.com", "*.example.com"]
[[tls.certificates]]
cert = "b.pem"
key = "b.key"
[[origin]]
url = "http://127.0.0.1:9000"
)",
                                                         "/etc/cdn/edge.toml"));
    REQUIRE(c.tls);
    CHECK(c.tls->listen.size() == 2);
    CHECK(c.tls->handshake_timeout == std::chrono::seconds(2));
    CHECK(c.tls->alpn == std::vector<std::string>{"http/1.1"});
    REQUIRE(c.tls->certificates.size() == 2);
    CHECK(c.tls->certificates[0].cert == "/etc/a.pem");
    CHECK(c.tls->certificates[0].hosts.size() == 2);
    CHECK(c.tls->certificates[1].cert == "/etc/cdn/b.pem");  // relative to the config file
    CHECK(c.tls->certificates[1].hosts.empty());             // from the SAN at load time
    validate(c);  // TLS listeners alone are enough to start
}

TEST_CASE("bad [tls] settings name the key", "[edge_config]") {
    const std::string cert = "[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\n";
    CHECK_THAT(fails("[tls]\n" + cert), Contains("tls.listen"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:8443\"]\n"), Contains("tls.certificates"));
    CHECK_THAT(fails("[tls]\nlisten = [\"nowhere\"]\n" + cert), Contains("tls.listen"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\nalpn = [\"spdy/3\"]\n" + cert),
               Contains("tls.alpn"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\nhandshake_timeout = \"0s\"\n" + cert),
               Contains("tls.handshake_timeout"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificates]]\ncert = \"a.pem\"\n"),
               Contains("key"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\n" + cert + "hosts = [\"a.*.com\"]\n"),
               Contains("hosts"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\ncolor = 1\n" + cert), Contains("color"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\nticket_key_rotation = \"0s\"\n" + cert),
               Contains("tls.ticket_key_rotation"));
    CHECK_THAT(fails("[tls]\nlisten = [\"127.0.0.1:0\"]\nticket_key_rotation = \"30d\"\n" + cert),
               Contains("tls.ticket_key_rotation"));
}

TEST_CASE("the commented [tls] block of the example config is valid", "[edge_config]") {
    std::ifstream in(CDN_SOURCE_DIR "/infra/configs/edge.example.toml");
    std::string line, block;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line == "# [tls]") inside = true;
        if (!inside) continue;
        if (!line.starts_with("# ")) break;
        block += line.substr(2) + "\n";
    }
    REQUIRE_THAT(block, Contains("[[tls.certificates]]"));
    const auto c = load_edge_config(ConfigSection::parse(block, "example-tls.toml"));
    REQUIRE(c.tls);
    CHECK(c.tls->listen.size() == 1);
    CHECK(c.tls->certificates.size() == 2);
    CHECK(c.tls->certificates[0].hosts.size() == 2);
}

TEST_CASE("[http2] and the drain timeout parse and are checked", "[edge_config]") {
    const auto defaults = load_edge_config(ConfigSection::parse("", "e.toml"));
    CHECK(defaults.session.drain_timeout == std::chrono::seconds(10));
    CHECK(defaults.session.http2.max_concurrent_streams == 100);
    const auto c = load_edge_config(ConfigSection::parse(R"(
[timeouts]
drain = "2s"
[http2]
max_concurrent_streams = 50
initial_window_size = "1MiB"
header_table_size = "8KiB"
reset_burst = 10
reset_rate = 5
cheap_frame_burst = 50
cheap_frame_rate = 7
address_reset_burst = 0
address_reset_rate = 3
address_table_size = 128
)",
                                                         "e.toml"));
    CHECK(c.session.drain_timeout == std::chrono::seconds(2));
    CHECK(c.session.http2.max_concurrent_streams == 50);
    CHECK(c.session.http2.initial_window_size == 1u << 20);
    CHECK(c.session.http2.header_table_size == 8192);
    CHECK(c.session.http2.reset_burst == 10);
    CHECK(c.session.http2.reset_rate == 5);
    CHECK(c.session.http2.cheap_frame_burst == 50);
    CHECK(c.session.http2.cheap_frame_rate == 7);
    CHECK(c.address_resets.burst == 0);  // off
    CHECK(c.address_resets.rate == 3);
    CHECK(c.address_resets.slots == 128);
    CHECK(defaults.address_resets.burst == 1000);
    CHECK(defaults.session.http2.cheap_frame_burst == 1000);
    CHECK(defaults.session.http2.address_resets == nullptr);  // main sets it
    CHECK(load_edge_config(ConfigSection::parse("[timeouts]\ndrain = \"0s\"\n", "e.toml"))
              .session.drain_timeout == std::chrono::milliseconds(0));
    CHECK_THAT(fails("[http2]\nmax_concurrent_streams = 0\n"),
               Contains("t.toml:2") && Contains("http2.max_concurrent_streams"));
    CHECK_THAT(fails("[http2]\ninitial_window_size = \"1KiB\"\n"),
               Contains("http2.initial_window_size"));
    CHECK_THAT(fails("[http2]\ninitial_window_size = \"4GiB\"\n"),
               Contains("http2.initial_window_size"));
    CHECK_THAT(fails("[http2]\nheader_table_size = \"1MiB\"\n"),
               Contains("http2.header_table_size"));
    CHECK_THAT(fails("[http2]\nreset_rate = -1\n"), Contains("http2.reset_rate"));
    CHECK_THAT(fails("[http2]\npush = true\n"), Contains("push"));
    CHECK_THAT(fails("[http2]\ncheap_frame_burst = 5\n"),
               Contains("t.toml:2") && Contains("http2.cheap_frame_burst"));
    CHECK_THAT(fails("[http2]\ncheap_frame_rate = 0\n"), Contains("http2.cheap_frame_rate"));
    CHECK_THAT(fails("[http2]\naddress_reset_burst = -1\n"), Contains("http2.address_reset_burst"));
    CHECK_THAT(fails("[http2]\naddress_reset_rate = 0\n"), Contains("http2.address_reset_rate"));
    CHECK_THAT(fails("[http2]\n\naddress_table_size = 8\n"),
               Contains("t.toml:3") && Contains("http2.address_table_size"));
    CHECK_THAT(fails("[timeouts]\ndrain = \"2h\"\n"), Contains("timeouts.drain"));
}

TEST_CASE("https origins get a TLS context per group, and a server name", "[edge_config]") {
    const auto c = load_edge_config(ConfigSection::parse(R"(
[[origin]]
hosts = ["a.example"]
urls = ["https://127.0.0.1:8443", "https://127.0.0.2"]
[[origin]]
hosts = ["b.example"]
url = "https://127.0.0.1:9443"
host_header = "origin.example:9443"
[[origin]]
hosts = ["c.example"]
url = "https://127.0.0.1:9443"
host_header = "origin.example"
tls_server_name = "tls.example"
tls_verify = false
[[origin]]
url = "http://127.0.0.1:9000"
)",
                                                         "o.toml"));
    REQUIRE(c.origins.size() == 4);
    const auto& a = c.origins[0];
    REQUIRE(a.servers.size() == 2);
    REQUIRE(a.tls_context);
    REQUIRE(a.servers[0].tls);
    CHECK(a.servers[0].url.port == 8443);
    CHECK(a.servers[1].url.port == 443);                // the https default
    CHECK(a.servers[0].tls->context == a.tls_context);  // one context per group
    CHECK(a.servers[1].tls->context == a.tls_context);
    CHECK(a.servers[0].tls->server_name == "127.0.0.1");  // the URL host by default
    CHECK(a.servers[1].tls->server_name == "127.0.0.2");
    CHECK(a.servers[0].tls->verify);
    CHECK(c.origins[1].servers[0].tls->server_name == "origin.example");  // host_header's host
    CHECK(c.origins[1].tls_context != a.tls_context);
    CHECK(c.origins[2].servers[0].tls->server_name == "tls.example");
    CHECK_FALSE(c.origins[2].servers[0].tls->verify);
    CHECK_FALSE(c.origins[2].tls_verify);
    CHECK_FALSE(c.origins[3].servers[0].tls);  // plain http
    CHECK_FALSE(c.origins[3].tls_context);
    // --origin https://... (no group settings): verification on, the URL's host.
    const auto flag = make_origin_server("https://127.0.0.1:8443", "--origin");
    REQUIRE(flag.tls);
    CHECK(flag.tls->verify);
    CHECK(flag.tls->server_name == "127.0.0.1");
    CHECK(flag.tls->context);
}

TEST_CASE("bad origin TLS settings name file, line and key", "[edge_config]") {
    const std::string https = "[[origin]]\nurl = \"https://127.0.0.1:8443\"\n";
    CHECK_THAT(fails(https + "tls_ca = \"/nonexistent/ca.pem\"\n"),
               Contains("t.toml:3: origin[0].tls_ca: cannot read CA bundle /nonexistent/ca.pem"));
    CHECK_THAT(fails(https + "tls_ca = \"" CDN_SOURCE_DIR "/README.md\"\n"),
               Contains("t.toml:3: origin[0].tls_ca") && Contains("README.md is not a PEM"));
    CHECK_THAT(fails(https + "tls_ca = \"\"\n"), Contains("origin[0].tls_ca"));
    CHECK_THAT(fails(https + "tls_server_name = \"a b\"\n"), Contains("origin[0].tls_server_name"));
    CHECK_THAT(fails(https + "tls_verify = \"yes\"\n"), Contains("origin[0].tls_verify"));
    CHECK_THAT(fails("[[origin]]\nurl = \"http://127.0.0.1:9000\"\ntls_verify = false\n"),
               Contains("t.toml:3: origin[0].tls_verify: TLS settings need an https:// origin"));
    CHECK_THAT(fails("[[origin]]\nurl = \"http://127.0.0.1:9000\"\ntls_ca = \"ca.pem\"\n"),
               Contains("origin[0].tls_ca"));
}

TEST_CASE("[admin] purge_token: off by default, from the file or a file of its own",
          "[edge_config]") {
    CHECK(load_edge_config(ConfigSection::parse("", "t.toml")).admin_purge_token.empty());
    const auto c = load_edge_config(
        ConfigSection::parse("[admin]\npurge_token = \"0123456789abcdef\"\n", "t.toml"));
    CHECK(c.admin_purge_token == "0123456789abcdef");

    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("edge-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "fedcba9876543210-from-file\n\n";
    std::ofstream(dir / "empty") << "\n";
    std::ofstream(dir / "short") << "short\n";
    // Relative to the config file's directory.
    const auto f = load_edge_config(ConfigSection::parse("[admin]\npurge_token_file = \"token\"\n",
                                                         (dir / "edge.toml").string()));
    CHECK(f.admin_purge_token == "fedcba9876543210-from-file");
    CHECK(read_token_file(dir / "token") == "fedcba9876543210-from-file");
    CHECK_THAT(fails("[admin]\npurge_token_file = \"" + (dir / "empty").string() + "\"\n"),
               Contains("t.toml:2: admin.purge_token_file") && Contains("holds no token"));
    CHECK_THAT(fails("[admin]\npurge_token_file = \"" + (dir / "short").string() + "\"\n"),
               Contains("t.toml:2: admin.purge_token_file") && Contains("at least 16"));
    CHECK_THAT(fails("[admin]\npurge_token_file = \"/nonexistent/token\"\n"),
               Contains("t.toml:2: admin.purge_token_file: /nonexistent/token: cannot read"));
    std::filesystem::remove_all(dir);

    CHECK_THAT(fails("[admin]\npurge_token = \"short\"\n"),
               Contains("t.toml:2: admin.purge_token") && Contains("at least 16"));
    CHECK_THAT(fails("[admin]\npurge_token = \"with a space in it, long\"\n"),
               Contains("admin.purge_token") && Contains("printable ASCII"));
    CHECK_THAT(fails("[admin]\npurge_token = \"0123456789abcdef\"\npurge_token_file = \"x\"\n"),
               Contains("t.toml:3: admin.purge_token_file") && Contains("not both"));
    CHECK_THAT(fails("[admin]\ntoken = \"0123456789abcdef\"\n"),
               Contains("t.toml:2: admin.token: unknown key"));
}

TEST_CASE("[purge] over https: verified by default, tls_ca and tls_server_name", "[edge_config]") {
    const auto plain = load_edge_config(
        ConfigSection::parse("[purge]\napi = \"http://127.0.0.1:8090\"\n", "t.toml"));
    REQUIRE(plain.purge);
    REQUIRE(plain.purge->tls.size() == 1);
    CHECK_FALSE(plain.purge->tls[0]);
    CHECK_FALSE(purge_api_in_cleartext(plain.purge->api[0]));  // loopback
    CHECK_FALSE(purge_api_in_cleartext("http://localhost:8090"));
    CHECK_FALSE(purge_api_in_cleartext("http://[::1]:8090"));
    CHECK(purge_api_in_cleartext("http://purge.example.com:8090"));
    CHECK(purge_api_in_cleartext("http://10.0.0.5:8090"));
    CHECK_FALSE(purge_api_in_cleartext("https://purge.example.com:8443"));

    const auto https = load_edge_config(
        ConfigSection::parse("[purge]\napi = \"https://127.0.0.1:8443\"\n", "t.toml"));
    REQUIRE(https.purge->tls.size() == 1);
    REQUIRE(https.purge->tls[0]);
    CHECK(https.purge->tls[0]->verify);
    CHECK(https.purge->tls[0]->server_name == "127.0.0.1");  // the URL's host
    CHECK(https.purge->tls[0]->context);
    const auto named = load_edge_config(ConfigSection::parse(
        "[purge]\napi = \"https://127.0.0.1:8443\"\ntls_server_name = \"purge.example.com\"\n",
        "t.toml"));
    CHECK(named.purge->tls[0]->server_name == "purge.example.com");
}

TEST_CASE("[purge] api: one URL or a list of instances sharing a purge log", "[edge_config]") {
    const auto one = load_edge_config(
        ConfigSection::parse("[purge]\napi = \"http://127.0.0.1:8090\"\n", "t.toml"));
    CHECK(one.purge->api == std::vector<std::string>{"http://127.0.0.1:8090"});

    // http and https mixed: TLS settings (and a context) for the https ones only; each is
    // checked against its own host unless tls_server_name says otherwise.
    const auto several = load_edge_config(ConfigSection::parse(R"([purge]
api = ["https://purge-1.example.com:8443", "http://127.0.0.1:8090",
       "https://purge-2.example.com:8443"]
token = "edge-secret"
)",
                                                               "t.toml"));
    REQUIRE(several.purge);
    CHECK(several.purge->api == std::vector<std::string>{"https://purge-1.example.com:8443",
                                                         "http://127.0.0.1:8090",
                                                         "https://purge-2.example.com:8443"});
    CHECK(several.purge->any_https());
    REQUIRE(several.purge->tls.size() == 3);
    REQUIRE(several.purge->tls[0]);
    CHECK_FALSE(several.purge->tls[1]);
    REQUIRE(several.purge->tls[2]);
    CHECK(several.purge->tls[0]->server_name == "purge-1.example.com");
    CHECK(several.purge->tls[2]->server_name == "purge-2.example.com");
    CHECK(several.purge->tls[0]->context == several.purge->tls[2]->context);  // one CA store
    CHECK(several.purge->tls[0]->verify);

    const auto named = load_edge_config(ConfigSection::parse(R"([purge]
api = ["https://10.0.0.1:8443", "https://10.0.0.2:8443"]
tls_server_name = "purge.example.com"
tls_verify = false
)",
                                                             "t.toml"));
    REQUIRE(named.purge->tls.size() == 2);
    for (const auto& t : named.purge->tls) {
        REQUIRE(t);
        CHECK(t->server_name == "purge.example.com");
        CHECK_FALSE(t->verify);
    }

    // Sixteen at most, all distinct.
    std::string sixteen = "[purge]\napi = [";
    for (int i = 0; i < 16; ++i)
        sixteen +=
            (i ? ", " : "") + std::string("\"http://127.0.0.1:") + std::to_string(9000 + i) + "\"";
    CHECK(load_edge_config(ConfigSection::parse(sixteen + "]\n", "t.toml")).purge->api.size() ==
          16);
    CHECK_THAT(fails(sixteen + ", \"http://127.0.0.1:9100\"]\n"),
               Contains("t.toml:2: purge.api: expected 1 to 16 purge_api URLs (got 17)"));
    CHECK_THAT(fails("[purge]\napi = []\n"),
               Contains("t.toml:2: purge.api: expected 1 to 16 purge_api URLs (got 0)"));
}

TEST_CASE("[purge] api: a bad or repeated entry is named by its index", "[edge_config]") {
    // The element's own line, and its index.
    CHECK_THAT(
        fails("[purge]\napi = [\n  \"http://127.0.0.1:8090\",\n  \"ftp://127.0.0.1:8091\",\n]\n"),
        Contains("t.toml:4: purge.api[1]: \"ftp://127.0.0.1:8091\" is not purge_api's URL"));
    CHECK_THAT(fails("[purge]\napi = [\"http://127.0.0.1:8090\", \"http://\"]\n"),
               Contains("t.toml:2: purge.api[1]") && Contains("is not purge_api's URL"));
    CHECK_THAT(fails("[purge]\napi = [\"http://127.0.0.1:8090\", 8091]\n"),
               Contains("t.toml:2: purge.api: expected an array of strings"));
    // One string: no index.
    CHECK_THAT(fails("[purge]\napi = \"127.0.0.1:8090\"\n"),
               Contains("t.toml:2: purge.api: \"127.0.0.1:8090\" is not purge_api's URL"));
    // The same instance twice, however it is spelled (the default port, the host's case).
    CHECK_THAT(
        fails("[purge]\napi = [\"http://a.example:8090\", \"http://b.example:8090\",\n"
              "\"http://A.Example:8090/\"]\n"),
        Contains("t.toml:3: purge.api[2]: \"http://A.Example:8090/\" is listed twice (as api[0] "
                 "too)"));
    CHECK_THAT(fails("[purge]\napi = [\"https://p.example\", \"https://p.example:443\"]\n"),
               Contains("purge.api[1]") && Contains("listed twice"));
    // Another scheme, port or path is another instance.
    CHECK(fails("[purge]\napi = [\"http://p.example:8090\", \"https://p.example:8090\", "
                "\"http://p.example:8091\", \"http://p.example:8090/b\"]\n") == "no error");
    // TLS settings need at least one https:// URL.
    CHECK_THAT(fails("[purge]\napi = [\"http://127.0.0.1:8090\", \"http://127.0.0.1:8091\"]\n"
                     "tls_verify = false\n"),
               Contains("t.toml:3: purge.tls_verify: TLS settings need an https:// api"));
    CHECK(check_purge_apis({"http://127.0.0.1:1", "http://127.0.0.1:2"}) == std::nullopt);
    const auto problem = check_purge_apis({"http://127.0.0.1:1", "x"});
    REQUIRE(problem);
    CHECK(problem->index == 1u);
}

TEST_CASE("bad [purge] TLS settings name file, line and key", "[edge_config]") {
    const std::string https = "[purge]\napi = \"https://127.0.0.1:8443\"\n";
    CHECK_THAT(fails(https + "tls_ca = \"/nonexistent/ca.pem\"\n"),
               Contains("t.toml:3: purge.tls_ca: cannot read CA bundle /nonexistent/ca.pem"));
    CHECK_THAT(fails(https + "tls_ca = \"" CDN_SOURCE_DIR "/README.md\"\n"),
               Contains("t.toml:3: purge.tls_ca") && Contains("README.md is not a PEM"));
    CHECK_THAT(fails(https + "tls_ca = \"\"\n"), Contains("purge.tls_ca"));
    CHECK_THAT(fails(https + "tls_server_name = \"a/b\"\n"), Contains("purge.tls_server_name"));
    CHECK_THAT(fails("[purge]\napi = \"http://127.0.0.1:8090\"\ntls_ca = \"ca.pem\"\n"),
               Contains("t.toml:3: purge.tls_ca: TLS settings need an https:// api"));
    CHECK_THAT(fails("[purge]\napi = \"ftp://127.0.0.1:8090\"\n"), Contains("t.toml:2: purge.api"));
}

TEST_CASE("the commented [admin] block of the example config is valid", "[edge_config]") {
    std::ifstream in(CDN_SOURCE_DIR "/infra/configs/edge.example.toml");
    std::string line, block;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line == "# [admin]") inside = true;
        if (!inside) continue;
        if (!line.starts_with("# ")) break;
        // The inline token, not the file (which does not exist here).
        if (line.find("purge_token_file") != std::string::npos || line.starts_with("#   "))
            continue;
        block += line.substr(2) + "\n";
    }
    REQUIRE_THAT(block, Contains("purge_token"));
    const auto c = load_edge_config(ConfigSection::parse(block, "example-admin.toml"));
    CHECK(c.admin_purge_token.size() >= kMinAdminTokenLength);
}

TEST_CASE("[log]: access log destination and format, error log level and format", "[edge_config]") {
    const auto d = load_edge_config(ConfigSection::parse("", "edge.toml"));
    CHECK(d.log.access == "stdout");
    CHECK(d.log.access_format == proxy::AccessLogFormat::logfmt);
    CHECK_FALSE(d.log.level);
    CHECK(d.log.format == LogFormat::text);

    const auto c = load_edge_config(ConfigSection::parse(R"(
[log]
access = "logs/access.log"
access_format = "combined"
level = "warn"
format = "json"
)",
                                                         "/etc/cdn/edge.toml"));
    // Relative to the config file's directory.
    CHECK(c.log.access == "/etc/cdn/logs/access.log");
    CHECK(c.log.access_format == proxy::AccessLogFormat::combined);
    CHECK(c.log.level == LogLevel::warn);
    CHECK(c.log.format == LogFormat::json);

    CHECK(
        load_edge_config(ConfigSection::parse("[log]\naccess = \"off\"\n", "e.toml")).log.access ==
        "off");
    CHECK(load_edge_config(ConfigSection::parse("[log]\naccess = \"stdout\"\n", "e.toml"))
              .log.access == "stdout");
    CHECK(load_edge_config(ConfigSection::parse("[log]\naccess_format = \"json\"\n", "e.toml"))
              .log.access_format == proxy::AccessLogFormat::json);
    // The older switch still works, but not together with the new key.
    CHECK(load_edge_config(ConfigSection::parse("[server]\naccess_log = true\n", "e.toml"))
              .log.access == "stdout");
    CHECK_THAT(fails("[server]\naccess_log = false\n[log]\naccess = \"a.log\"\n"),
               Contains("t.toml:2: server.access_log: set log.access or server.access_log"));
    CHECK_THAT(fails("[log]\naccess = \"\"\n"), Contains("t.toml:2: log.access"));
    CHECK_THAT(fails("[log]\naccess_format = \"clf\"\n"), Contains("t.toml:2: log.access_format"));
    CHECK_THAT(fails("[log]\nlevel = \"verbose\"\n"), Contains("t.toml:2: log.level"));
    CHECK_THAT(fails("[log]\nformat = \"xml\"\n"), Contains("t.toml:2: log.format"));
    CHECK_THAT(fails("[log]\nacess = \"off\"\n"), Contains("log.acess"));

    // The file's directory must exist (validate, so --check says it too).
    EdgeConfig v;
    v.listen.push_back(*parse_endpoint("127.0.0.1:0"));
    v.origins.push_back(OriginGroup{});
    v.log.access = "/nonexistent-cdn-dir/access.log";
    try {
        validate(v);
        FAIL("validate accepted a log file in a missing directory");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Contains("log.access: /nonexistent-cdn-dir/access.log: the directory "
                                      "/nonexistent-cdn-dir does not exist"));
    }
    v.log.access = (std::filesystem::temp_directory_path() / "access.log").string();
    CHECK_NOTHROW(validate(v));
}

TEST_CASE("[[parents]]: parsed, checked, and this edge left out of its own parents",
          "[edge_config]") {
    auto c = load_edge_config(ConfigSection::parse(R"(
[server]
listen = ["127.0.0.1:8080"]
max_hops = 4
[[origin]]
url = "http://127.0.0.1:9000"
[[parents]]
name = "shield"
hosts = ["Static.Example.com", "*"]
urls = ["http://127.0.0.1:8081", "http://127.0.0.1:8082", "http://127.0.0.1:8080"]
weights = [2, 1, 1]
tries = 3
on_failure = "error"
ramp_up = "1m"
[parents.circuit_breaker]
failures = 4
reset_timeout = "2s"
)",
                                                   "t.toml"));
    REQUIRE(c.parents.size() == 1);
    const ParentGroup& p = c.parents[0];
    CHECK(p.name == "shield");
    CHECK(p.hosts == std::vector<std::string>{"static.example.com", "*"});
    CHECK(p.servers.size() == 3);
    CHECK(p.weights == std::vector<double>{2, 1, 1});
    CHECK(p.tries == 3);
    CHECK_FALSE(p.origin_on_failure);
    CHECK(p.ramp_up == std::chrono::minutes(1));
    CHECK(p.breaker.failure_threshold == 4);
    CHECK(c.max_hops == 4);
    CHECK(c.parents_for("static.example.com") == &p);
    CHECK(c.parents_for("other.example") == &p);

    // The edge listens on 8080: that member is itself, and goes.
    drop_self_from_parents(c);
    REQUIRE(c.parents.size() == 1);
    CHECK(c.parents[0].servers.size() == 2);
    CHECK(c.parents[0].weights == std::vector<double>{2, 1});
    // A group of nothing but itself goes altogether: misses go to the origin.
    c.parents[0].servers.resize(1);
    c.listen = {c.parents[0].servers[0].endpoint};
    drop_self_from_parents(c);
    CHECK(c.parents.empty());

    CHECK_THAT(fails("[[parents]]\nname = \"p\"\n"), Contains("t.toml:1") && Contains("urls"));
    CHECK_THAT(fails("[[parents]]\nurls = [\"ftp://x\"]\n"), Contains("not a parent URL"));
    CHECK_THAT(fails("[[parents]]\nurls = [\"http://127.0.0.1:1\", \"http://127.0.0.1:1\"]\n"),
               Contains("listed twice"));
    CHECK_THAT(fails("[[parents]]\nurls = [\"http://127.0.0.1:1\"]\nweights = [1, 2]\n"),
               Contains("one weight per url"));
    CHECK_THAT(fails("[[parents]]\nurls = [\"http://127.0.0.1:1\"]\non_failure = \"retry\"\n"),
               Contains("origin or error"));
    CHECK_THAT(fails("[server]\nname = \"a b\"\n"), Contains("server.name"));
    CHECK_THAT(fails("[server]\nmax_hops = 0\n"), Contains("1 to 64"));
}

TEST_CASE("[peering]: the PoP's peers, this edge found among them", "[edge_config]") {
    auto c = load_edge_config(ConfigSection::parse(R"(
[server]
listen = ["127.0.0.1:8081"]
[[origin]]
url = "http://127.0.0.1:9000"
[peering]
peers = ["http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://127.0.0.1:8082"]
load_cap = 1.5
)",
                                                   "t.toml"));
    REQUIRE(c.peering);
    CHECK(c.peering->peers.size() == 3);
    CHECK(c.peering->load_cap == 1.5);
    find_self_peer(c);
    CHECK(c.peering->self == 1u);
    c.listen = {tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 9999)};
    CHECK_THROWS_WITH(find_self_peer(c), Contains("none of them is this edge"));
    c.peering->self_url = "http://127.0.0.1:8082";
    find_self_peer(c);
    CHECK(c.peering->self == 2u);

    CHECK_THAT(fails("[peering]\npeers = [\"http://127.0.0.1:1\"]\n"), Contains("at least two"));
    CHECK_THAT(fails("[peering]\npeers = [\"http://127.0.0.1:1\", \"http://127.0.0.1:1\"]\n"),
               Contains("listed twice"));
    CHECK_THAT(fails("[peering]\npeers = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2\"]\n"
                     "load_cap = 0.5\n"),
               Contains("1 to 10"));
}

TEST_CASE("[fleet]: what the edge registers, checked", "[edge_config]") {
    const auto defaults = load_edge_config(ConfigSection::parse("", "e.toml"));
    CHECK_FALSE(defaults.registers());  // no [purge]
    const std::string purge = "[purge]\napi = \"http://127.0.0.1:8090\"\n";
    const auto on = load_edge_config(ConfigSection::parse(purge, "e.toml"));
    CHECK(on.registers());  // on by default with [purge]
    const auto c = load_edge_config(ConfigSection::parse(purge + R"([fleet]
region = "eu-central"
latitude = 50.1
longitude = 8.7
advertise_ipv4 = ["192.0.2.10"]
advertise_ipv6 = ["2001:db8::10"]
http_url = "http://192.0.2.10:8080"
role = "parent"
weight = 7
)",
                                                         "e.toml"));
    CHECK(c.registers());
    CHECK(c.fleet.region == "eu-central");
    CHECK(c.fleet.advertise_ipv6 == std::vector<std::string>{"2001:db8::10"});
    CHECK(c.fleet.role == "parent");
    CHECK(c.fleet.weight == 7);
    CHECK_FALSE(load_edge_config(ConfigSection::parse(purge + "[fleet]\nregister = false\n", "e"))
                    .registers());
    CHECK_THAT(fails("[fleet]\nadvertise_ipv4 = [\"::1\"]\n"), Contains("fleet.advertise_ipv4"));
    CHECK_THAT(fails("[fleet]\nlatitude = 1\n"), Contains("fleet.longitude"));
    CHECK_THAT(fails("[fleet]\nweight = 0\n"), Contains("fleet.weight"));
    CHECK_THAT(fails("[fleet]\nrole = \"king\"\n"), Contains("fleet.role"));
    CHECK_THAT(fails("[fleet]\nregion = \"a b\"\n"), Contains("fleet.region"));
    CHECK_THAT(fails("[fleet]\nhttp_url = \"8080\"\n"), Contains("fleet.http_url"));
    CHECK_THAT(fails("[fleet]\ncolour = 1\n"), Contains("fleet.colour"));
}
