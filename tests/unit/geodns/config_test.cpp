// geodns' TOML config: the example file loads, and every mistake names the file, line and field.
#include "geodns/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

using namespace cdn;
using namespace cdn::geodns;
using Catch::Matchers::Contains;

namespace {

const char* kBase = R"(
[[regions]]
id = "us-east"
latitude = 39.0
longitude = -77.5

[[edges]]
id = "a"
region = "us-east"
ipv4 = ["127.10.0.1"]
health = "http://127.10.0.1:8081/healthz"

[[zones]]
origin = "CDN.Example."
ns = ["ns1"]
[zones.soa]
serial = 7
)";

GeodnsConfig parse(const std::string& text) {
    return load_config(ConfigSection::parse(text, "geodns.toml"));
}

std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("the example config loads", "[geodns][config]") {
    const GeodnsConfig c = load_config(std::string(GEODNS_EXAMPLE_CONFIG));
    REQUIRE(c.fleet.regions.size() == 3);
    REQUIRE(c.fleet.edges.size() == 3);
    CHECK(c.fleet.edges[0].health_url == "http://127.10.0.1:8080/healthz");
    CHECK(c.health.thresholds.fall == 2);
    CHECK(c.observers.observer == "geodns-1");
    CHECK(c.observers.peers.empty());
    CHECK(c.observers.quorum == 1);
    REQUIRE(c.zones->zones.size() == 1);
    const Zone& z = c.zones->zones[0];
    CHECK(z.origin == "cdn.example");
    CHECK(z.soa.mname == "ns1.cdn.example");
    CHECK(z.soa.rname == "hostmaster.cdn.example");
    CHECK(z.soa.expire == 7 * 86400);
    CHECK(z.nodes.at("cdn.example").ns.size() == 2);
    CHECK(z.nodes.at("assets.cdn.example").cname == "www.cdn.example");
    REQUIRE(z.nodes.at("www.cdn.example").steered);
    CHECK(z.nodes.at("www.cdn.example").steered->ttl == 20);
    CHECK_FALSE(z.nodes.at("www.cdn.example").steered->last_resort);
    CHECK(c.geo.default_region == 0u);
    REQUIRE(c.geo.nets.size() == 1);
    CHECK(c.geo.nets[0].region == 0u);
    CHECK(c.tcp_busy_idle_timeout == std::chrono::seconds(1));
    CHECK(c.tcp_max_connections_per_client == 16);
    CHECK(c.rrl.enabled);
    CHECK(c.rrl.responses_per_second == 200);
    CHECK(c.rrl.slip == 2);
    CHECK(c.rrl.ipv6_prefix == 56);
    CHECK(c.rrl.exempt.empty());
    // Its database path is relative to the file, so it loads from any working directory.
    CHECK(std::filesystem::exists(c.geo.database));
    CHECK(!c.reuse_port);
}

TEST_CASE("[rrl] and the TCP limits: defaults, values and errors", "[geodns][config]") {
    // Without the sections: rate limiting on, 200/s, burst of one second, slip 2, /24 and /56.
    const GeodnsConfig d = parse(kBase);
    CHECK(d.rrl.enabled);
    CHECK(d.rrl.responses_per_second == 200);
    CHECK(d.rrl.burst == 200);
    CHECK(d.rrl.slip == 2);
    CHECK(d.rrl.ipv4_prefix == 24);
    CHECK(d.rrl.ipv6_prefix == 56);
    CHECK(d.rrl.table_size == 65536);
    CHECK(d.tcp_max_connections_per_client == 16);
    CHECK(d.tcp_busy_idle_timeout == std::chrono::seconds(1));
    CHECK(d.udp_coalesce == std::chrono::microseconds(0));

    const GeodnsConfig c = parse(std::string(kBase) + R"(
[server]
udp_coalesce_us = 200
tcp_max_connections_per_client = 4
tcp_busy_idle_timeout = "250ms"
[rrl]
responses_per_second = 50
slip = 0
ipv4_prefix = 32
ipv6_prefix = 64
exempt = ["192.0.2.0/24", "2001:db8::/32"]
table_size = 1024
)");
    CHECK(c.tcp_max_connections_per_client == 4);
    CHECK(c.tcp_busy_idle_timeout == std::chrono::milliseconds(250));
    CHECK(c.udp_coalesce == std::chrono::microseconds(200));
    CHECK_THAT(error_of(std::string(kBase) + "[server]\nudp_coalesce_us = 6000\n"),
               Contains("server.udp_coalesce_us: expected an integer from 0 to 5000"));
    CHECK(c.rrl.responses_per_second == 50);
    CHECK(c.rrl.burst == 50);  // follows the rate unless given
    CHECK(c.rrl.slip == 0);
    CHECK(c.rrl.ipv4_prefix == 32);
    CHECK(c.rrl.ipv6_prefix == 64);
    CHECK(c.rrl.exempt.size() == 2);
    CHECK(c.rrl.table_size == 1024);
    CHECK_FALSE(parse(std::string(kBase) + "\n[rrl]\nenabled = false\n").rrl.enabled);

    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nexempt = [\"10.1.2.3/8\"]\n"),
               Contains("geodns.toml:") && Contains("rrl.exempt") && Contains("host bits"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nexempt = [\"nope\"]\n"),
               Contains("rrl.exempt") && Contains("not an IP address"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nslip = 11\n"),
               Contains("rrl.slip") && Contains("0 to 10"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nresponses_per_second = 0\n"),
               Contains("rrl.responses_per_second"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nipv6_prefix = 129\n"),
               Contains("rrl.ipv6_prefix"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[rrl]\nwindow = 15\n"), Contains("window"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[server]\ntcp_max_connections_per_client = 0\n"),
               Contains("server.tcp_max_connections_per_client"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[server]\ntcp_busy_idle_timeout = \"10ms\"\n"),
               Contains("server.tcp_busy_idle_timeout") && Contains("100ms to 10m"));
}

TEST_CASE("names are canonical and relative names join the origin", "[geodns][config]") {
    CHECK(canonical_name("WWW.Example.COM.") == "www.example.com");
    CHECK(canonical_name(".") == "");
    CHECK(!canonical_name("a..b"));
    CHECK(!canonical_name(std::string(64, 'a') + ".com"));
    CHECK(canonical_name(std::string(63, 'a') + ".com"));
    CHECK(!canonical_name("has space.com"));
    const GeodnsConfig c = parse(std::string(kBase) + R"(
[[zones.records]]
name = "@"
type = "TXT"
values = ["v=1"]
[[zones.records]]
name = "Deep.Sub"
type = "A"
values = ["127.0.0.1"]
[[zones.records]]
name = "abs.cdn.example."
type = "A"
values = ["127.0.0.2"]
)");
    const Zone& z = c.zones->zones.at(0);
    CHECK(z.nodes.at("cdn.example").txt == std::vector<std::string>{"v=1"});
    CHECK(z.nodes.count("deep.sub.cdn.example") == 1);
    CHECK(z.nodes.count("abs.cdn.example") == 1);
    CHECK_THAT(error_of(std::string(kBase) +
                        "\n[[zones.records]]\nname = \"x.example.org.\"\ntype = \"A\"\n"
                        "values = [\"127.0.0.1\"]\n"),
               Contains("outside the zone"));
}

TEST_CASE("a steered name's last_resort: off by default, on when set", "[geodns][config]") {
    auto steered = [](const std::string& extra) {
        const GeodnsConfig c =
            parse(std::string(kBase) + "\n[[zones.steered]]\nname = \"www\"\n" + extra);
        return *c.zones->zones.at(0).nodes.at("www.cdn.example").steered;
    };
    CHECK_FALSE(steered("").last_resort);
    CHECK(steered("last_resort = true\n").last_resort);
    CHECK_FALSE(steered("last_resort = false\n").last_resort);
}

TEST_CASE("config errors name the file, line and field", "[geodns][config]") {
    CHECK_THAT(error_of(std::string(kBase) +
                        "\n[[zones.records]]\nname = \"x\"\ntype = \"MX\"\nvalues = [\"a\"]\n"),
               Contains("geodns.toml:") && Contains("type") && Contains("MX"));
    CHECK_THAT(error_of(std::string(kBase) +
                        "\n[[zones.records]]\nname = \"x\"\ntype = \"A\"\nvalues = [\"1.2.3\"]\n"),
               Contains("1.2.3"));
    CHECK_THAT(
        error_of(std::string(kBase) +
                 "\n[[zones.records]]\nname = \"x\"\ntype = \"CNAME\"\nvalues = [\"y\"]\n"
                 "[[zones.records]]\nname = \"x\"\ntype = \"A\"\nvalues = [\"127.0.0.1\"]\n"),
        Contains("CNAME and other data"));
    CHECK_THAT(
        error_of(std::string(kBase) + "\n[[zones.steered]]\nname = \"www\"\nedges = [\"zz\"]\n"),
        Contains("\"zz\" is not one of the [[edges]]"));
    CHECK_THAT(
        error_of(std::string(kBase) + "\n[[zones.steered]]\nname = \"www\"\nlast_resort = 1\n"),
        Contains("geodns.toml:") && Contains("last_resort") && Contains("true or false"));
    CHECK_THAT(error_of(R"(
[[regions]]
id = "r"
latitude = 95
longitude = 0
)"),
               Contains("latitude") && Contains("-90 to 90"));
    CHECK_THAT(error_of(R"(
[[regions]]
id = "r"
latitude = 1
longitude = 1
[[edges]]
id = "e"
region = "nowhere"
ipv4 = ["127.0.0.1"]
)"),
               Contains("\"nowhere\" is not one of the [[regions]] ids"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[geo]\ndefault_region = \"mars\"\n"),
               Contains("default_region"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[server]\nbogus = 1\n"), Contains("bogus"));
    CHECK_THAT(error_of("[[regions]]\nid = \"r\"\nlatitude = 1\nlongitude = 1\n"),
               Contains("[[zones]]"));
    CHECK_THAT(error_of(std::string(kBase) +
                        "\n[[zones]]\norigin = \"cdn.example\"\nns = [\"a\"]\n[zones.soa]\n"),
               Contains("listed twice"));
    CHECK_THAT(error_of(std::string(kBase) +
                        "\n[[zones.records]]\nname = \"@\"\ntype = \"CNAME\"\nvalues = [\"x\"]\n"),
               Contains("zone origin"));
}

TEST_CASE("relative paths are relative to the config file, and errors about them name file:line",
          "[geodns][config]") {
    const auto doc = [](const std::string& db) {
        return std::string(kBase) + "\n[geo]\ndatabase = \"" + db + "\"\n";
    };
    const auto rel =
        load_config(ConfigSection::parse(doc("geo/city.mmdb"), "/etc/cdn/geodns.toml"));
    CHECK(rel.geo.database == "/etc/cdn/geo/city.mmdb");
    CHECK(load_config(ConfigSection::parse(doc("../maxmind/city.mmdb"), "/etc/cdn/geodns.toml"))
              .geo.database == "/etc/cdn/../maxmind/city.mmdb");
    CHECK(load_config(ConfigSection::parse(doc("/var/lib/geo.mmdb"), "/etc/cdn/geodns.toml"))
              .geo.database == "/var/lib/geo.mmdb");
    // Where the database is named, for the error when it does not open.
    CHECK(std::regex_match(rel.geo.where_database,
                           std::regex(R"(/etc/cdn/geodns\.toml:\d+: geo\.database)")));
    const auto nets = parse(std::string(kBase) +
                            "\n[geo]\n[[geo.nets]]\ncidr = \"10.0.0.0/8\"\nregion = \"us-east\"\n");
    REQUIRE(nets.geo.nets.size() == 1);
    CHECK(std::regex_match(nets.geo.nets[0].where,
                           std::regex(R"(geodns\.toml:\d+: geo\.nets\[0\]\.cidr)")));
}

TEST_CASE("[server] reuse_port and [log] level, and what a reload cannot apply",
          "[geodns][config]") {
    const GeodnsConfig base = parse(kBase);
    CHECK(!base.reuse_port);
    CHECK(base.log_level == LogLevel::info);
    const GeodnsConfig set =
        parse(std::string(kBase) + "\n[server]\nreuse_port = true\n[log]\nlevel = \"warn\"\n");
    CHECK(set.reuse_port);
    CHECK(set.log_level == LogLevel::warn);
    CHECK_THAT(error_of(std::string(kBase) + "\n[log]\nlevel = \"loud\"\n"),
               Contains("geodns.toml:") && Contains("log.level") && Contains("loud"));
    CHECK_THAT(error_of(std::string(kBase) + "\n[server]\nlog_level = \"warn\"\n"),
               Contains("unknown key"));

    CHECK(restart_needed(base, base).empty());
    // Zones, fleet, limits and log level reload; addresses, threads and reuse_port do not.
    const GeodnsConfig live = parse(std::string(kBase) +
                                    "\n[server]\ntcp_max_connections = 9\n[log]\nlevel = \"warn\"\n"
                                    "[rrl]\nenabled = false\n");
    CHECK(restart_needed(base, live).empty());
    const GeodnsConfig moved =
        parse(std::string(kBase) +
              "\n[server]\ndns = [\"127.0.0.1:5353\"]\nadmin = \"127.0.0.1:9\"\nthreads = 4\n"
              "reuse_port = true\n");
    const auto why = restart_needed(base, moved);
    REQUIRE(why.size() == 4);
    CHECK(why[0] == "[server] dns: 127.0.0.1:53 -> 127.0.0.1:5353");
    CHECK(why[1] == "[server] admin: none -> 127.0.0.1:9");
    CHECK(why[2] == "[server] threads: 2 -> 4");
    CHECK(why[3] == "[server] reuse_port: false -> true");
    // udp_threads (on by default since issue 19's second pass) also needs a restart.
    CHECK(base.udp_blocking);
    const GeodnsConfig reactor = parse(std::string(kBase) + "\n[server]\nudp_threads = false\n");
    CHECK(!reactor.udp_blocking);
    const auto why_threads = restart_needed(base, reactor);
    REQUIRE(why_threads.size() == 1);
    CHECK(why_threads[0] == "[server] udp_threads: true -> false");
}

TEST_CASE("[registry]: the fleet from purge_api, with or without static edges",
          "[geodns][config]") {
    const char* zone_only = R"(
[[regions]]
id = "us-east"
latitude = 39.0
longitude = -77.5

[[zones]]
origin = "cdn.example"
ns = ["ns1"]
[zones.soa]
serial = 1
[[zones.steered]]
name = "www"
)";
    CHECK_THAT(error_of(zone_only), Contains("needs [[edges]] (or a [registry])"));
    const GeodnsConfig c = parse(std::string(zone_only) +
                                 "[registry]\nurl = \"http://127.0.0.1:8090\"\ntoken = \"t0k\"\n"
                                 "wait = \"5s\"\n");
    REQUIRE(c.registry);
    REQUIRE(c.registry->apis.size() == 1);
    CHECK(c.registry->apis[0].port == 8090);
    CHECK(c.registry->wait == std::chrono::seconds(5));
    REQUIRE(c.registry->tls.size() == 1);
    CHECK_FALSE(c.registry->tls[0]);
    // Several purge_api instances (they share the registry with the etcd store).
    const GeodnsConfig two =
        parse(std::string(zone_only) +
              "[registry]\nurl = [\"http://127.0.0.1:8090\", \"http://127.0.0.1:8092\"]\n"
              "token = \"t0k\"\n");
    REQUIRE(two.registry);
    CHECK(two.registry->apis.size() == 2);
    CHECK(two.registry->apis[1].port == 8092);
    CHECK(two.registry->url == "http://127.0.0.1:8090, http://127.0.0.1:8092");
    CHECK_THAT(error_of(std::string(kBase) +
                        "[registry]\nurl = [\"http://a:1\", \"http://a:1\"]\ntoken = \"t\"\n"),
               Contains("listed twice"));
    CHECK_THAT(error_of(std::string(kBase) + "[registry]\nurl = []\ntoken = \"t\"\n"),
               Contains("registry.url"));
    CHECK(c.fleet.edges.empty());
    CHECK_THAT(error_of(std::string(kBase) + "[registry]\nurl = \"ftp://x\"\ntoken = \"t\"\n"),
               Contains("registry.url"));
    CHECK_THAT(error_of(std::string(kBase) + "[registry]\nurl = \"http://127.0.0.1:8090\"\n"),
               Contains("registry.token_file"));
    CHECK_THAT(
        error_of(std::string(kBase) +
                 "[registry]\nurl = \"http://127.0.0.1:1\"\ntoken = \"t\"\nwait = \"31s\"\n"),
        Contains("registry.wait"));
    CHECK_THAT(error_of(std::string(kBase) + "[registry]\nurl = \"http://127.0.0.1:1\"\ntoken = "
                                             "\"t\"\ntls_ca = \"ca.pem\"\n"),
               Contains("TLS settings need an https:// url"));
    // A change needs a restart (the watcher is started once).
    const GeodnsConfig other = parse(
        std::string(zone_only) + "[registry]\nurl = \"http://127.0.0.1:8091\"\ntoken = \"t0k\"\n");
    CHECK(restart_needed(c, other) == std::vector<std::string>{"[registry]: changed"});
}

TEST_CASE("the commented [registry] block of the example config is valid", "[geodns][config]") {
    std::ifstream in(GEODNS_EXAMPLE_CONFIG);
    std::string line, text;
    while (std::getline(in, line)) {
        // Uncommented in place (the token inline: the example's token file does not exist here).
        if (line == "# [registry]" || line.starts_with("# url") || line.starts_with("# wait"))
            line = line.substr(2);
        if (line.starts_with("# token_file")) line = "token = \"change-me-edges\"";
        text += line + "\n";
    }
    const GeodnsConfig c = parse(text);
    REQUIRE(c.registry);
    CHECK(c.registry->url == "http://127.0.0.1:8090");
    CHECK(c.registry->wait == std::chrono::seconds(25));
}

TEST_CASE("[health] observers: defaults, peers, quorum and errors", "[geodns][config]") {
    // Alone: a quorum of one, timings from the interval, the host name as the id.
    const GeodnsConfig alone = parse(std::string(kBase) + "[health]\ninterval = \"500ms\"\n");
    CHECK(alone.observers.peers.empty());
    CHECK(alone.observers.observers() == 1);
    CHECK(alone.observers.quorum == 1);
    CHECK(alone.observers.stale_after == std::chrono::milliseconds(1500));
    CHECK(alone.observers.hold_down == std::chrono::milliseconds(1000));
    CHECK(!alone.observers.observer.empty());
    CHECK(!parse(kBase).observers.observer.empty());  // no [health] at all

    // Two peers: a majority of three is two.
    const GeodnsConfig three = parse(std::string(kBase) + R"([health]
observer = "geodns-1"
peers = ["http://127.0.0.1:9154", "http://192.0.2.53:9153"]
stale_after = "10s"
hold_down = "0s"
)");
    CHECK(three.observers.observer == "geodns-1");
    CHECK(three.observers.observers() == 3);
    CHECK(three.observers.quorum == 2);
    REQUIRE(three.observers.peer_urls.size() == 2);
    CHECK(three.observers.peer_urls[1].port == 9153);
    CHECK(three.observers.stale_after == std::chrono::seconds(10));
    CHECK(three.observers.hold_down == std::chrono::milliseconds(0));
    // One peer: both must agree.
    CHECK(parse(std::string(kBase) + "[health]\npeers = [\"http://127.0.0.1:9154\"]\n")
              .observers.quorum == 2);
    CHECK(parse(std::string(kBase) + "[health]\npeers = [\"http://127.0.0.1:9154\"]\nquorum = 1\n")
              .observers.quorum == 1);

    CHECK_THAT(error_of(std::string(kBase) + "[health]\npeers = [\"http://127.0.0.1:9154\"]\n"
                                             "quorum = 3\n"),
               Contains("geodns.toml:") && Contains("health.quorum: expected 1 to 2"));
    CHECK_THAT(error_of(std::string(kBase) + "[health]\npeers = [\"ftp://127.0.0.1:9154\"]\n"),
               Contains("health.peers") && Contains("is not a URL"));
    CHECK_THAT(error_of(std::string(kBase) + "[health]\npeers = [\"http://127.0.0.1:9154\", "
                                             "\"http://127.0.0.1:9154\"]\n"),
               Contains("listed twice"));
    CHECK_THAT(
        error_of(std::string(kBase) + "[health]\ninterval = \"1s\"\nstale_after = \"500ms\"\n"),
        Contains("health.stale_after"));
    CHECK_THAT(error_of(std::string(kBase) + "[health]\nobserver = \"two words\"\n"),
               Contains("health.observer"));
}
