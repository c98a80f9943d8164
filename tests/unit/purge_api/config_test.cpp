// purge_api's TOML configuration.
#include "purge_api/config.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace cdn;
using namespace cdn::purge_api;
using Catch::Matchers::Contains;

TEST_CASE("a full config parses", "[purge_api][config]") {
    const ApiConfig c = parse_config(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "/tmp/purge"
threads = 3

[[token]]
name = "ops"
value = "ops-secret"

[[token]]
value = "shop-secret"
hosts = ["Shop.com", "img.shop.com"]

[edges]
token = "edge-secret"
known = ["edge-1", "edge-2"]

[limits]
max_body = "2MiB"
max_items = 30
max_value_length = 1024

[log]
keep = 50

[stream]
heartbeat = "250ms"
write_timeout = "2s"
)",
                                     "purge.toml");
    CHECK(c.listen.port() == 0);
    CHECK(c.data_dir == "/tmp/purge");
    CHECK(c.threads == 3);
    REQUIRE(c.tokens.size() == 2);
    CHECK(c.tokens[0].name == "ops");
    CHECK(c.tokens[0].all_hosts());
    CHECK(c.tokens[1].name == "token-1");
    CHECK(c.tokens[1].hosts == std::vector<std::string>{"shop.com", "img.shop.com"});
    CHECK(c.edge_token == "edge-secret");
    CHECK(c.known_edges == std::vector<std::string>{"edge-1", "edge-2"});
    CHECK(c.max_body == 2 << 20);
    CHECK(c.limits.max_items == 30);
    CHECK(c.limits.max_value_length == 1024);
    CHECK(c.log_keep == 50);
    CHECK(c.heartbeat == std::chrono::milliseconds(250));
    CHECK(c.write_timeout == std::chrono::seconds(2));
    CHECK_NOTHROW(validate(c));
}

TEST_CASE("defaults", "[purge_api][config]") {
    const ApiConfig c = parse_config("", "empty.toml");
    CHECK(cdn::to_string(c.listen) == "127.0.0.1:8090");
    CHECK(c.max_body == 1 << 20);
    CHECK(c.limits.max_items == 1000);
    CHECK(c.limits.max_value_length == 4096);
    CHECK(c.log_keep == 100000);
    CHECK_THROWS_WITH(validate(c), Contains("--data-dir"));
}

TEST_CASE("config errors name the file, line and field", "[purge_api][config]") {
    struct Bad {
        const char* toml;
        const char* message;
    };
    const std::vector<Bad> cases = {
        {"[server]\nlisen = \"x\"\n", "p.toml:2: server.lisen: unknown key"},
        {"[nope]\n", "p.toml:1: nope: unknown key"},
        {"[server]\nlisten = \"localhost\"\n", "p.toml:2: server.listen: expected an address"},
        {"[[token]]\nname = \"x\"\n", "token[0].value: each [[token]] needs a value"},
        {"[[token]]\nvalue = \"a b\"\n", "token[0].value: must be non-empty"},
        {"[[token]]\nvalue = \"x\"\nhosts = []\n", "token[0].hosts: leave hosts out"},
        {"[[token]]\nvalue = \"x\"\nhosts = [\"a/b\"]\n", "is not a host name"},
        {"[edges]\nknown = [\"a b\"]\n", "edges.known: \"a b\" is not an edge id"},
        {"[edges]\nknown = [\"a\", \"a\"]\n", "listed twice"},
        {"[limits]\nmax_items = 0\n", "p.toml:2: limits.max_items: expected an integer from 1"},
        {"[limits]\nmax_value_length = 10000\n", "limits.max_value_length"},
        {"[limits]\nmax_body = \"1GiB\"\n", "limits.max_body: expected 1KiB to 64MiB"},
        {"[log]\nkeep = 0\n", "log.keep"},
        {"[stream]\nheartbeat = \"1ms\"\n", "stream.heartbeat"},
    };
    for (const Bad& b : cases) {
        INFO(b.toml);
        CHECK_THROWS_WITH(parse_config(b.toml, "p.toml"), Contains(b.message));
    }
}

TEST_CASE("tokens must be distinct, and distinct from the edge token", "[purge_api][config]") {
    // In the file: the error names the line of the second one and where the first one is.
    CHECK_THROWS_WITH(
        parse_config(
            "[server]\ndata_dir = \"/x\"\n[[token]]\nvalue = \"a\"\n[[token]]\nvalue = \"a\"\n",
            "p.toml"),
        Contains("p.toml:6: token[1].value: the same value as the token at p.toml:4: "
                 "token[0].value"));
    CHECK_THROWS_WITH(
        parse_config(
            "[server]\ndata_dir = \"/x\"\n[[token]]\nvalue = \"a\"\n[edges]\ntoken = \"a\"\n",
            "p.toml"),
        Contains("p.toml:6: edges.token: the same value as the admin token at p.toml:4"));
    // Built in code (or from flags): validate() still refuses.
    ApiConfig c = parse_config("[server]\ndata_dir = \"/x\"\n", "p.toml");
    c.tokens = {Token{"a", "v", {}}, Token{"b", "v", {}}};
    CHECK_THROWS_WITH(validate(c), Contains("configured twice"));
    c.tokens = {Token{"a", "v", {}}};
    c.edge_token = "v";
    CHECK_THROWS_WITH(validate(c), Contains("cannot also be the edge token"));
}

TEST_CASE("[tls]: off by default, and beside it plain HTTP stays on loopback unless allowed",
          "[purge_api][config]") {
    const ApiConfig none = parse_config("[server]\ndata_dir = \"/x\"\n", "p.toml");
    CHECK_FALSE(none.tls);
    CHECK(none.http);
    CHECK_FALSE(cleartext_exposed(none));

    const ApiConfig c = parse_config(R"([server]
data_dir = "/x"
[tls]
listen = "0.0.0.0:8443"
cert = "purge.pem"
key = "/etc/cdn/purge.key"
)",
                                     "/etc/cdn/purge.toml");
    REQUIRE(c.tls);
    CHECK(cdn::to_string(c.tls->listen) == "0.0.0.0:8443");
    CHECK(c.tls->cert == "/etc/cdn/purge.pem");  // relative to the config file
    CHECK(c.tls->key == "/etc/cdn/purge.key");
    CHECK(c.http);  // plain HTTP on the default 127.0.0.1:8090 beside it
    CHECK_NOTHROW(validate(c));

    // HTTPS only.
    const ApiConfig tls_only = parse_config(
        "[server]\ndata_dir = \"/x\"\nlisten = \"\"\n[tls]\nlisten = \"127.0.0.1:0\"\ncert = "
        "\"a.pem\"\nkey = \"a.key\"\n",
        "p.toml");
    CHECK_FALSE(tls_only.http);
    CHECK_NOTHROW(validate(tls_only));
    // No listener at all.
    CHECK_THROWS_WITH(
        validate(parse_config("[server]\ndata_dir = \"/x\"\nlisten = \"\"\n", "p.toml")),
        Contains("no listener"));

    // Plain HTTP on a non-loopback address beside TLS: refused, naming the line...
    const std::string tls = "[tls]\nlisten = \"0.0.0.0:8443\"\ncert = \"a.pem\"\nkey = \"a.key\"\n";
    CHECK_THROWS_WITH(
        parse_config("[server]\ndata_dir = \"/x\"\nlisten = \"0.0.0.0:8090\"\n" + tls, "p.toml"),
        Contains("p.toml:3: server.listen: 0.0.0.0:8090 is not loopback"));
    // ... and from flags (validate), unless allowed.
    ApiConfig flags = parse_config("[server]\ndata_dir = \"/x\"\n" + tls, "p.toml");
    flags.listen = *cdn::parse_endpoint("192.0.2.1:8090");
    CHECK(cleartext_exposed(flags));
    CHECK_THROWS_WITH(validate(flags), Contains("not loopback") && Contains("allow_cleartext"));
    flags.allow_cleartext = true;
    CHECK_NOTHROW(validate(flags));
    const ApiConfig allowed = parse_config(
        "[server]\ndata_dir = \"/x\"\nlisten = \"0.0.0.0:8090\"\nallow_cleartext = true\n" + tls,
        "p.toml");
    CHECK(cleartext_exposed(allowed));
    CHECK_NOTHROW(validate(allowed));
    // Without TLS a non-loopback plain listener starts (with a warning: cleartext_exposed).
    const ApiConfig plain =
        parse_config("[server]\ndata_dir = \"/x\"\nlisten = \"0.0.0.0:8090\"\n", "p.toml");
    CHECK(cleartext_exposed(plain));
    CHECK_NOTHROW(validate(plain));

    const std::vector<std::pair<std::string, std::string>> bad = {
        {"[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\n", "tls.listen"},
        {"[tls]\nlisten = \"nowhere\"\ncert = \"a.pem\"\nkey = \"a.key\"\n",
         "p.toml:2: tls.listen"},
        {"[tls]\nlisten = \"127.0.0.1:0\"\nkey = \"a.key\"\n", "tls.cert"},
        {"[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"a.pem\"\nkey = \"\"\n", "p.toml:4: tls.key"},
        {"[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"a.pem\"\nkey = \"a.key\"\nca = \"x\"\n",
         "p.toml:5: tls.ca: unknown key"},
    };
    for (const auto& [toml, message] : bad) {
        INFO(toml);
        CHECK_THROWS_WITH(parse_config(toml, "p.toml"), Contains(message));
    }
}

TEST_CASE("the annotated example config and its commented [tls] block are valid",
          "[purge_api][config]") {
    const std::string file = CDN_SOURCE_DIR "/infra/configs/purge_api.example.toml";
    const ApiConfig c = load_config(file);
    CHECK_NOTHROW(validate(c));
    CHECK(cdn::to_string(c.listen) == "127.0.0.1:8090");
    CHECK(c.tokens.size() == 2);
    CHECK(c.edge_token == "change-me-edges");
    CHECK_FALSE(c.tls);

    std::ifstream in(file);
    std::string line, text;
    while (std::getline(in, line)) {
        // Uncomment the [tls] block in place, so its lines keep their numbers.
        if (line == "# [tls]" || line.starts_with("# listen") || line.starts_with("# cert") ||
            line.starts_with("# key"))
            line = line.substr(2);
        text += line + "\n";
    }
    const ApiConfig t = parse_config(text, "purge_api.example.toml");
    REQUIRE(t.tls);
    CHECK(cdn::to_string(t.tls->listen) == "0.0.0.0:8443");
    CHECK(t.tls->cert == "/etc/cdn/purge.pem");
    CHECK_NOTHROW(validate(t));  // plain HTTP on loopback beside it
}

TEST_CASE("relative paths in the file are relative to the file's directory",
          "[purge_api][config]") {
    const ApiConfig c = parse_config(R"([server]
data_dir = "state/purge"
[tls]
listen = "127.0.0.1:0"
cert = "tls/purge.pem"
key = "../keys/purge.key"
)",
                                     "/etc/cdn/purge.toml");
    CHECK(c.data_dir == "/etc/cdn/state/purge");
    CHECK(c.tls->cert == "/etc/cdn/tls/purge.pem");
    CHECK(c.tls->key == "/etc/cdn/../keys/purge.key");
    CHECK(c.data_dir_source == "/etc/cdn/purge.toml:2: server.data_dir");
    CHECK(c.tls_source == "/etc/cdn/purge.toml:3: tls");
    CHECK(parse_config("[server]\ndata_dir = \"/abs\"\n", "/etc/p.toml").data_dir == "/abs");
    CHECK_THROWS_WITH(parse_config("[server]\ndata_dir = \"\"\n", "p.toml"),
                      Contains("p.toml:2: server.data_dir: expected a path"));
}

TEST_CASE("[log] level, and --log-level over it", "[purge_api][config]") {
    CHECK(parse_config("", "p.toml").log_level == LogLevel::info);
    CHECK(parse_config("[log]\nlevel = \"warn\"\n", "p.toml").log_level == LogLevel::warn);
    CHECK_THROWS_WITH(parse_config("[log]\nlevel = \"loud\"\n", "p.toml"),
                      Contains("p.toml:2: log.level: expected"));
}

TEST_CASE("flags over the file: build_config(flags), the same on every reload",
          "[purge_api][config]") {
    test::TempDir dir;
    const std::string file = dir.write("p.toml", R"([server]
listen = ""
data_dir = "data"
[tls]
listen = "127.0.0.1:0"
cert = "a.pem"
key = "a.key"
[[token]]
name = "ops"
value = "ops-1"
[edges]
token = "edge-1"
[log]
level = "debug"
)");
    ApiFlags f;
    f.config_file = file;
    ApiConfig c = build_config(f);
    CHECK(c.data_dir == dir.path() / "data");  // relative to the file, not to the cwd
    CHECK_FALSE(c.http);
    CHECK(c.log_level == LogLevel::debug);
    CHECK(c.tokens.size() == 1);

    f.listen = "127.0.0.1:0";  // turns plain HTTP back on
    f.tokens = {"flag-secret"};
    f.edge_token = "edge-2";
    f.log_level = "error";
    f.data_dir = "/var/x";
    c = build_config(f);
    CHECK(c.http);
    CHECK(c.listen_source == "--listen");
    CHECK(c.data_dir == "/var/x");
    CHECK(c.data_dir_source == "--data-dir");
    REQUIRE(c.tokens.size() == 2);
    CHECK(c.tokens[1].name == "flag-1");
    CHECK(c.edge_token == "edge-2");
    CHECK(c.log_level == LogLevel::error);

    ApiFlags bad = f;
    bad.tokens = {"ops-1"};
    CHECK_THROWS_WITH(build_config(bad), Contains("--token: the same value as the token \"ops\""));
    bad = f;
    bad.edge_token = "ops-1";
    CHECK_THROWS_WITH(build_config(bad), Contains("--edge-token: the same value as the admin"));
    bad = f;
    bad.tokens = {"edge-2"};
    CHECK_THROWS_WITH(build_config(bad), Contains("--token: the same value as the edge token"));
    bad = f;
    bad.tokens = {"a b"};
    CHECK_THROWS_WITH(build_config(bad), Contains("--token: must be"));

    // Without a data_dir anywhere, the error names the file.
    const std::string nodata = dir.write("n.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    ApiFlags n;
    n.config_file = nodata;
    CHECK_THROWS_WITH(build_config(n),
                      Contains(nodata + ": server.data_dir: not set") && Contains("--data-dir"));
    // "" turns plain HTTP off: without [tls] that is no listener, named by its line.
    const std::string none =
        dir.write("none.toml", "[server]\ndata_dir = \"d\"\n\nlisten = \"\"\n");
    n.config_file = none;
    CHECK_THROWS_WITH(build_config(n),
                      Contains(none + ":4: server.listen") && Contains("no listener"));
}

TEST_CASE("a reload keeps what needs a restart and says what it was", "[purge_api][config]") {
    const std::string base = R"([server]
listen = "127.0.0.1:8090"
data_dir = "/var/a"
threads = 2
[[token]]
value = "one"
[limits]
max_items = 10
)";
    const ApiConfig running = parse_config(base, "p.toml");
    ApiConfig same = parse_config(base, "p.toml");
    CHECK(keep_restart_only(running, same).empty());

    ApiConfig next = parse_config(R"([server]
listen = "127.0.0.1:9999"
data_dir = "/var/b"
threads = 4
[[token]]
value = "two"
[limits]
max_items = 20
[log]
keep = 7
[store]
etcd_prefix = "/other/"
[tls]
listen = "127.0.0.1:0"
cert = "a.pem"
key = "a.key"
)",
                                  "p.toml");
    const auto changed = keep_restart_only(running, next);
    CHECK(changed == std::vector<std::string>{"server.listen", "tls", "server.data_dir",
                                              "server.threads", "log.keep", "store.etcd_prefix"});
    // Kept...
    CHECK(cdn::to_string(next.listen) == "127.0.0.1:8090");
    CHECK(next.data_dir == "/var/a");
    CHECK(next.threads == 2);
    CHECK(next.log_keep == running.log_keep);
    CHECK_FALSE(next.tls);
    CHECK(next.etcd_prefix == "/cdn/purge/");
    // ... and live.
    CHECK(next.tokens.at(0).value == "two");
    CHECK(next.limits.max_items == 20);

    // With [tls] on both sides, the certificate paths are live, the address is not.
    const std::string tls = "[server]\ndata_dir = \"/x\"\n[tls]\nlisten = \"127.0.0.1:1\"\n";
    const ApiConfig t1 = parse_config(tls + "cert = \"a.pem\"\nkey = \"a.key\"\n", "/e/p.toml");
    ApiConfig t2 = parse_config(
        "[server]\ndata_dir = \"/x\"\n[tls]\nlisten = \"127.0.0.1:2\"\ncert = \"b.pem\"\nkey = "
        "\"b.key\"\n",
        "/e/p.toml");
    CHECK(keep_restart_only(t1, t2) == std::vector<std::string>{"tls.listen"});
    CHECK(cdn::to_string(t2.tls->listen) == "127.0.0.1:1");
    CHECK(t2.tls->cert == "/e/b.pem");
}

TEST_CASE("the data directory as --check sees it", "[purge_api][config]") {
    test::TempDir dir;
    CHECK_FALSE(check_data_dir(dir.path()));
    CHECK_FALSE(check_data_dir(dir.path() / "new" / "deeper"));  // created at start-up
    const std::string file = dir.write("file", "x");
    CHECK_THAT(check_data_dir(file).value_or(""), Contains("not a directory"));
    CHECK_THAT(check_data_dir(std::filesystem::path(file) / "sub").value_or(""),
               Contains("is not a directory"));
    if (::geteuid() != 0) {  // root may write anywhere
        std::filesystem::create_directory(dir.path() / "ro");
        std::filesystem::permissions(dir.path() / "ro", std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_exec);
        CHECK_THAT(check_data_dir(dir.path() / "ro").value_or(""), Contains("not writable"));
        CHECK_THAT(check_data_dir(dir.path() / "ro" / "x").value_or(""),
                   Contains("cannot be created"));
        std::filesystem::permissions(dir.path() / "ro", std::filesystem::perms::owner_all);
    }
}

TEST_CASE("the one-line summary", "[purge_api][config]") {
    const ApiConfig c = parse_config(R"([server]
data_dir = "/var/purge"
[[token]]
value = "a"
[[token]]
value = "b"
hosts = ["shop.com"]
[edges]
token = "e"
known = ["edge-1"]
)",
                                     "p.toml");
    CHECK(summary(c) ==
          "http on 127.0.0.1:8090, 2 admin tokens (1 host-limited), edge token, 1 known edge, "
          "file store /var/purge, 2 threads");
}
