// purge_api's TOML configuration.
#include "purge_api/config.hpp"

#include <catch2/catch.hpp>

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
    ApiConfig c = parse_config(
        "[server]\ndata_dir = \"/x\"\n[[token]]\nvalue = \"a\"\n[[token]]\nvalue = \"a\"\n",
        "p.toml");
    CHECK_THROWS_WITH(validate(c), Contains("configured twice"));
    c = parse_config(
        "[server]\ndata_dir = \"/x\"\n[[token]]\nvalue = \"a\"\n[edges]\ntoken = \"a\"\n",
        "p.toml");
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
