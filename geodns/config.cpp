#include "geodns/config.hpp"

#include "geodns/geo/nets.hpp"
#include "geodns/health/quorum.hpp"

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

#include <unistd.h>

namespace cdn::geodns {
namespace {

constexpr std::int64_t kMaxTtl = std::numeric_limits<std::int32_t>::max();  // RFC 2181 §8

std::uint32_t seconds(const ConfigSection& s, std::string_view key, std::uint32_t fallback) {
    auto d = s.duration(key);
    if (!d) return fallback;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    if (secs < 0 || secs > kMaxTtl) s.fail(key, "expected 0s to 68 years (2^31-1 seconds)");
    return static_cast<std::uint32_t>(secs);
}

std::int64_t integer_in(const ConfigSection& s, std::string_view key, std::int64_t lo,
                        std::int64_t hi, std::int64_t fallback) {
    auto v = s.integer(key);
    if (!v) return fallback;
    if (*v < lo || *v > hi) s.fail(key, fmt::format("expected an integer from {} to {}", lo, hi));
    return *v;
}

double coordinate(const ConfigSection& s, std::string_view key, double limit) {
    auto v = s.number(key);
    if (!v) s.fail(key, "is required");
    if (!(*v >= -limit && *v <= limit))
        s.fail(key, fmt::format("expected a number from {} to {}", -limit, limit));
    return *v;
}

// A name as written in the zone: "@" is the origin, "x." is absolute, anything else is relative.
std::string zone_name(const ConfigSection& s, std::string_view key, const std::string& value,
                      const std::string& origin) {
    std::string text;
    if (value == "@")
        text = origin;
    else if (!value.empty() && value.back() == '.')
        text = value;
    else
        text = origin.empty() ? value : value + "." + origin;
    auto name = canonical_name(text);
    if (!name) s.fail(key, fmt::format("\"{}\" is not a valid domain name", value));
    return *name;
}

bool in_zone(const std::string& name, const std::string& origin) {
    if (origin.empty() || name == origin) return true;
    return name.size() > origin.size() && name.ends_with(origin) &&
           name[name.size() - origin.size() - 1] == '.';
}

std::vector<std::string> values(const ConfigSection& s) {
    auto v = s.strings("values");
    if (!v) v = s.strings("value");
    if (!v || v->empty()) s.fail("values", "needs at least one value");
    return *v;
}

void load_server(const ConfigSection& s, GeodnsConfig& c) {
    s.allow_only({"dns", "admin", "threads", "reuse_port", "udp_threads", "udp_coalesce_us",
                  "max_udp_payload", "tcp_idle_timeout", "tcp_busy_idle_timeout", "tcp_max_queries",
                  "tcp_max_connections", "tcp_max_connections_per_client"});
    if (auto v = s.strings("dns")) {
        for (const auto& l : *v) {
            auto ep = parse_endpoint(l);
            if (!ep) s.fail("dns", fmt::format("\"{}\" is not an address like 127.0.0.1:53", l));
            c.dns.push_back(*ep);
        }
    }
    if (auto v = s.string("admin")) {
        auto ep = parse_endpoint(*v);
        if (!ep) s.fail("admin", fmt::format("\"{}\" is not an address like 127.0.0.1:9153", *v));
        c.admin = *ep;
    }
    c.threads = static_cast<std::size_t>(integer_in(s, "threads", 0, 256, 2));
    if (auto v = s.boolean("reuse_port")) c.reuse_port = *v;
    if (auto v = s.boolean("udp_threads")) c.udp_blocking = *v;
    c.udp_coalesce = std::chrono::microseconds(integer_in(s, "udp_coalesce_us", 0, 5000, 0));
    c.max_udp_payload =
        static_cast<std::uint16_t>(integer_in(s, "max_udp_payload", 512, 65535, 1232));
    if (auto d = s.duration("tcp_idle_timeout")) {
        if (*d < std::chrono::milliseconds(100) || *d > std::chrono::minutes(10))
            s.fail("tcp_idle_timeout", "expected 100ms to 10m");
        c.tcp_idle_timeout = *d;
    }
    if (auto d = s.duration("tcp_busy_idle_timeout")) {
        if (*d < std::chrono::milliseconds(100) || *d > std::chrono::minutes(10))
            s.fail("tcp_busy_idle_timeout", "expected 100ms to 10m");
        c.tcp_busy_idle_timeout = *d;
    }
    c.tcp_max_queries = static_cast<unsigned>(integer_in(s, "tcp_max_queries", 1, 65535, 100));
    c.tcp_max_connections =
        static_cast<unsigned>(integer_in(s, "tcp_max_connections", 1, 1000000, 1024));
    c.tcp_max_connections_per_client =
        static_cast<unsigned>(integer_in(s, "tcp_max_connections_per_client", 1, 1000000, 16));
}

void load_rrl(const ConfigSection& s, GeodnsConfig& c) {
    s.allow_only({"enabled", "responses_per_second", "burst", "slip", "ipv4_prefix", "ipv6_prefix",
                  "exempt", "table_size"});
    RrlOptions& r = c.rrl;
    if (auto v = s.boolean("enabled")) r.enabled = *v;
    r.responses_per_second =
        static_cast<unsigned>(integer_in(s, "responses_per_second", 1, 100000, 200));
    // The burst defaults to one second's worth of responses (BIND's bucket holds as much).
    r.burst = static_cast<unsigned>(integer_in(s, "burst", 1, 1000000, r.responses_per_second));
    r.slip = static_cast<unsigned>(integer_in(s, "slip", 0, 10, 2));
    r.ipv4_prefix = static_cast<unsigned>(integer_in(s, "ipv4_prefix", 1, 32, 24));
    r.ipv6_prefix = static_cast<unsigned>(integer_in(s, "ipv6_prefix", 1, 128, 56));
    r.table_size = static_cast<std::size_t>(integer_in(s, "table_size", 64, 1 << 24, 65536));
    if (auto v = s.strings("exempt")) {
        Nets check;
        for (const auto& cidr : *v) {
            try {
                check.add(cidr, 0);
            } catch (const std::invalid_argument& e) {
                s.fail("exempt", e.what());
            }
        }
        r.exempt = *v;
    }
}

std::optional<std::size_t> region_index(const Fleet& fleet, std::string_view id) {
    for (std::size_t i = 0; i < fleet.regions.size(); ++i)
        if (fleet.regions[i].id == id) return i;
    return std::nullopt;
}

void load_fleet(const ConfigSection& root, GeodnsConfig& c, std::uint16_t default_health_port) {
    for (const ConfigSection& r : root.sections("regions")) {
        r.allow_only({"id", "latitude", "longitude"});
        auto id = r.string("id");
        if (!id || id->empty()) r.fail("id", "each [[regions]] needs an id");
        if (region_index(c.fleet, *id)) r.fail("id", fmt::format("\"{}\" is listed twice", *id));
        c.fleet.regions.push_back(
            Region{*id, coordinate(r, "latitude", 90), coordinate(r, "longitude", 180)});
    }
    std::set<std::string, std::less<>> ids;
    for (const ConfigSection& e : root.sections("edges")) {
        e.allow_only({"id", "region", "ipv4", "ipv6", "weight", "health", "latitude", "longitude"});
        EdgeInfo edge;
        auto id = e.string("id");
        if (!id || id->empty()) e.fail("id", "each [[edges]] needs an id");
        if (!ids.insert(*id).second) e.fail("id", fmt::format("\"{}\" is listed twice", *id));
        edge.id = *id;
        auto region = e.string("region");
        if (!region) e.fail("region", "is required");
        auto ri = region_index(c.fleet, *region);
        if (!ri) e.fail("region", fmt::format("\"{}\" is not one of the [[regions]] ids", *region));
        edge.region = *ri;
        edge.latitude = c.fleet.regions[*ri].latitude;
        edge.longitude = c.fleet.regions[*ri].longitude;
        if (e.number("latitude") || e.number("longitude")) {
            edge.latitude = coordinate(e, "latitude", 90);
            edge.longitude = coordinate(e, "longitude", 180);
        }
        for (const auto& a : e.strings("ipv4").value_or(std::vector<std::string>{})) {
            boost::system::error_code ec;
            auto addr = boost::asio::ip::make_address_v4(a, ec);
            if (ec) e.fail("ipv4", fmt::format("\"{}\" is not an IPv4 address", a));
            edge.v4.push_back(addr);
        }
        for (const auto& a : e.strings("ipv6").value_or(std::vector<std::string>{})) {
            boost::system::error_code ec;
            auto addr = boost::asio::ip::make_address_v6(a, ec);
            if (ec || addr.is_v4_mapped())
                e.fail("ipv6", fmt::format("\"{}\" is not an IPv6 address", a));
            edge.v6.push_back(addr);
        }
        if (edge.v4.empty() && edge.v6.empty())
            e.fail("ipv4", "an edge needs at least one address (ipv4 or ipv6)");
        edge.weight = static_cast<unsigned>(integer_in(e, "weight", 1, 1000, 1));
        if (auto h = e.string("health")) {
            auto u = parse_url(*h);
            if (!u || u->scheme != "http")
                e.fail("health",
                       fmt::format("\"{}\" is not a URL like http://127.0.0.1:8081/healthz", *h));
            boost::system::error_code ec;
            boost::asio::ip::make_address(u->host, ec);
            if (ec)
                e.fail("health", fmt::format("\"{}\": use a numeric address, not a host name", *h));
            edge.health_url = *h;
        } else {
            const std::string host = edge.v4.empty() ? "[" + edge.v6.front().to_string() + "]"
                                                     : edge.v4.front().to_string();
            edge.health_url =
                fmt::format("http://{}:{}{}", host, default_health_port, c.health.path);
        }
        c.fleet.edges.push_back(std::move(edge));
    }
}

void load_geo(const ConfigSection& g, GeodnsConfig& c) {
    g.allow_only(
        {"database", "latitude", "longitude", "country", "continent", "default_region", "nets"});
    if (auto v = g.file_path("database")) {
        c.geo.database = v->string();
        c.geo.where_database = g.locate("database");
    }
    if (auto v = g.string("latitude")) c.geo.latitude = *v;
    if (auto v = g.string("longitude")) c.geo.longitude = *v;
    if (auto v = g.string("country")) c.geo.country = *v;
    if (auto v = g.string("continent")) c.geo.continent = *v;
    if (auto v = g.string("default_region")) {
        auto ri = region_index(c.fleet, *v);
        if (!ri)
            g.fail("default_region", fmt::format("\"{}\" is not one of the [[regions]] ids", *v));
        c.geo.default_region = *ri;
    }
    for (const ConfigSection& n : g.sections("nets")) {
        n.allow_only({"cidr", "region"});
        auto cidr = n.string("cidr");
        if (!cidr) n.fail("cidr", "is required");
        auto region = n.string("region");
        if (!region) n.fail("region", "is required");
        auto ri = region_index(c.fleet, *region);
        if (!ri) n.fail("region", fmt::format("\"{}\" is not one of the [[regions]] ids", *region));
        c.geo.nets.push_back(NetRule{*cidr, *ri, n.locate("cidr")});
    }
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "geodns";
    return buf;
}

bool valid_observer(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (unsigned char ch : id)
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') return false;
    return true;
}

void load_observers(const ConfigSection& h, GeodnsConfig& c) {
    ObserverSettings& o = c.observers;
    o.observer = host_name();
    if (auto v = h.string("observer")) {
        if (!valid_observer(*v))
            h.fail("observer", "expected 1 to 64 printable characters without spaces or quotes");
        o.observer = *v;
    }
    if (auto v = h.strings("peers")) {
        for (const std::string& p : *v) {
            auto u = parse_url(p);
            if (!u || u->scheme != "http")
                h.fail("peers",
                       fmt::format("\"{}\" is not a URL like http://192.0.2.53:9153 (another "
                                   "geodns' admin address)",
                                   p));
            if (std::find(o.peers.begin(), o.peers.end(), p) != o.peers.end())
                h.fail("peers", fmt::format("\"{}\" is listed twice", p));
            o.peers.push_back(p);
            o.peer_urls.push_back(*u);
        }
    }
    o.quorum = majority(o.observers());
    if (auto q = h.integer("quorum")) {
        if (*q < 1 || static_cast<std::size_t>(*q) > o.observers())
            h.fail("quorum", fmt::format("expected 1 to {} (the observers: this one and its {} "
                                         "peers)",
                                         o.observers(), o.peers.size()));
        o.quorum = static_cast<std::size_t>(*q);
    }
    o.stale_after = 3 * c.health.interval;
    if (auto d = h.duration("stale_after")) {
        if (*d < c.health.interval || *d > std::chrono::hours(1))
            h.fail("stale_after", "expected [health] interval to 1h");
        o.stale_after = *d;
    }
    o.hold_down = 2 * c.health.interval;
    if (auto d = h.duration("hold_down")) {
        if (*d < std::chrono::milliseconds(0) || *d > std::chrono::hours(1))
            h.fail("hold_down", "expected 0s to 1h");
        o.hold_down = *d;
    }
}

void load_health(const ConfigSection& h, GeodnsConfig& c, std::uint16_t& default_port) {
    h.allow_only({"enabled", "path", "interval", "timeout", "rise", "fall", "port", "observer",
                  "peers", "quorum", "stale_after", "hold_down"});
    if (auto v = h.boolean("enabled")) c.health_checks = *v;
    if (auto v = h.string("path")) {
        if (v->empty() || v->front() != '/') h.fail("path", "expected a path like /healthz");
        c.health.path = *v;
    }
    if (auto d = h.duration("interval")) {
        if (*d < std::chrono::milliseconds(50) || *d > std::chrono::hours(1))
            h.fail("interval", "expected 50ms to 1h");
        c.health.interval = *d;
    }
    if (auto d = h.duration("timeout")) {
        if (*d < std::chrono::milliseconds(10) || *d > std::chrono::minutes(1))
            h.fail("timeout", "expected 10ms to 1m");
        c.health.timeout = *d;
    }
    c.health.thresholds.rise = static_cast<unsigned>(integer_in(h, "rise", 1, 100, 2));
    c.health.thresholds.fall = static_cast<unsigned>(integer_in(h, "fall", 1, 100, 2));
    default_port = static_cast<std::uint16_t>(integer_in(h, "port", 1, 65535, 80));
    load_observers(h, c);
}

void load_registry(const ConfigSection& r, GeodnsConfig& c) {
    r.allow_only({"url", "token", "token_file", "tls_ca", "tls_server_name", "tls_verify", "wait"});
    RegistrySettings s;
    // One purge_api, or a list of instances sharing the registry (tried in turn).
    auto urls = r.strings("url");
    if (!urls || urls->empty() || urls->size() > 16)
        r.fail("url",
               "expected purge_api's URL, like http://127.0.0.1:8090, or a list of 1 to "
               "16 of them");
    bool https = false;
    for (const std::string& url : *urls) {
        auto u = parse_url(url);
        if (!u || (u->scheme != "http" && u->scheme != "https"))
            r.fail("url", fmt::format("\"{}\" is not a URL like http://127.0.0.1:8090", url));
        if (std::find(s.urls.begin(), s.urls.end(), url) != s.urls.end())
            r.fail("url", fmt::format("\"{}\" is listed twice", url));
        https = https || u->scheme == "https";
        s.urls.push_back(url);
        s.apis.push_back(*u);
    }
    s.url = fmt::format("{}", fmt::join(s.urls, ", "));
    if (auto t = r.string("token")) s.token = *t;
    if (auto f = r.file_path("token_file")) {
        if (!s.token.empty()) r.fail("token_file", "set token or token_file, not both");
        std::ifstream in(*f);
        if (!in) r.fail("token_file", fmt::format("{}: cannot be read", f->string()));
        std::getline(in, s.token);
        while (!s.token.empty() && std::isspace(static_cast<unsigned char>(s.token.back())))
            s.token.pop_back();
        if (s.token.empty()) r.fail("token_file", fmt::format("{}: empty", f->string()));
    }
    if (s.token.empty())
        r.fail("token_file", "the registry needs purge_api's edge token (or an admin token)");
    for (unsigned char ch : s.token)
        if (ch <= 0x20 || ch >= 0x7f) r.fail("token", "must be printable ASCII without spaces");
    auto https_only = [&](std::string_view key) {
        if (!https) r.fail(key, "TLS settings need an https:// url (at least one)");
    };
    if (auto v = r.boolean("tls_verify")) {
        https_only("tls_verify");
        s.tls_verify = *v;
    }
    if (auto v = r.string("tls_server_name")) {
        https_only("tls_server_name");
        s.tls_server_name = *v;
    }
    if (auto p = r.file_path("tls_ca")) {
        https_only("tls_ca");
        s.tls_ca = *p;
    }
    if (auto w = r.duration("wait")) {
        if (*w < std::chrono::milliseconds(100) || *w > std::chrono::seconds(30))
            r.fail("wait", "expected 100ms to 30s");
        s.wait = *w;
    }
    std::shared_ptr<boost::asio::ssl::context> context;  // one for every https:// URL
    for (const Url& u : s.apis) {
        if (u.scheme != "https") {
            s.tls.push_back(nullptr);
            continue;
        }
        try {
            if (!context) context = make_tls_client_context({s.tls_verify, s.tls_ca});
            auto cfg = std::make_shared<TlsClientConfig>();
            cfg->context = context;
            cfg->server_name = s.tls_server_name.empty() ? u.host : s.tls_server_name;
            cfg->verify = s.tls_verify;
            s.tls.push_back(std::move(cfg));
        } catch (const std::exception& e) {
            r.fail(s.tls_ca.empty() ? "url" : "tls_ca", e.what());
        }
    }
    c.registry = std::move(s);
}

Node& node_at(Zone& z, const std::string& name) {
    return z.nodes[name];
}

void load_zone(const ConfigSection& zs, const Fleet& fleet, bool registry, ZoneSet& set,
               std::vector<Steered*>& steered_nodes) {
    zs.allow_only({"origin", "ns", "ns_ttl", "ttl", "soa", "records", "steered"});
    Zone z;
    auto origin = zs.string("origin");
    if (!origin) zs.fail("origin", "is required, e.g. \"cdn.example\"");
    auto canon = canonical_name(*origin);
    if (!canon) zs.fail("origin", fmt::format("\"{}\" is not a valid domain name", *origin));
    z.origin = *canon;
    for (const Zone& other : set.zones)
        if (other.origin == z.origin)
            zs.fail("origin", fmt::format("zone \"{}\" is listed twice", z.origin));
    const std::uint32_t default_ttl = seconds(zs, "ttl", 300);
    Node& apex = node_at(z, z.origin);
    auto ns = zs.strings("ns");
    if (!ns || ns->empty()) zs.fail("ns", "a zone needs at least one name server");
    for (const auto& n : *ns)
        apex.ns.push_back(zone_name(zs, "ns", n, z.origin));
    apex.ns_ttl = seconds(zs, "ns_ttl", 3600);

    auto soa = zs.section("soa");
    if (!soa) zs.fail("soa", "a zone needs a [zones.soa] table");
    soa->allow_only({"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"});
    z.soa.mname = soa->string("mname") ? zone_name(*soa, "mname", *soa->string("mname"), z.origin)
                                       : apex.ns.front();
    z.soa.rname = zone_name(*soa, "rname", soa->string("rname").value_or("hostmaster"), z.origin);
    z.soa.serial = static_cast<std::uint32_t>(
        integer_in(*soa, "serial", 0, std::numeric_limits<std::uint32_t>::max(), 1));
    z.soa.refresh = seconds(*soa, "refresh", 3600);
    z.soa.retry = seconds(*soa, "retry", 600);
    z.soa.expire = seconds(*soa, "expire", 604800);
    z.soa.minimum = seconds(*soa, "minimum", 30);
    z.soa.ttl = seconds(*soa, "ttl", 3600);

    for (const ConfigSection& r : zs.sections("records")) {
        r.allow_only({"name", "type", "values", "value", "ttl"});
        auto name_text = r.string("name");
        if (!name_text) r.fail("name", "is required (\"@\" for the zone origin)");
        const std::string name = zone_name(r, "name", *name_text, z.origin);
        if (!in_zone(name, z.origin))
            r.fail("name", fmt::format("\"{}\" is outside the zone {}", name, z.origin));
        auto type = r.string("type");
        if (!type) r.fail("type", "is required: A, AAAA, CNAME or TXT");
        std::string t = *type;
        std::transform(t.begin(), t.end(), t.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
        const std::uint32_t ttl = seconds(r, "ttl", default_ttl);
        Node& node = node_at(z, name);
        const auto vals = values(r);
        if (t == "A") {
            for (const auto& v : vals) {
                boost::system::error_code ec;
                auto a = boost::asio::ip::make_address_v4(v, ec);
                if (ec) r.fail("values", fmt::format("\"{}\" is not an IPv4 address", v));
                node.a.push_back(a);
            }
            node.a_ttl = ttl;
        } else if (t == "AAAA") {
            for (const auto& v : vals) {
                boost::system::error_code ec;
                auto a = boost::asio::ip::make_address_v6(v, ec);
                if (ec) r.fail("values", fmt::format("\"{}\" is not an IPv6 address", v));
                node.aaaa.push_back(a);
            }
            node.aaaa_ttl = ttl;
        } else if (t == "CNAME") {
            if (vals.size() != 1) r.fail("values", "a CNAME has exactly one target");
            if (name == z.origin) r.fail("name", "a CNAME cannot sit at the zone origin");
            if (node.cname) r.fail("name", fmt::format("\"{}\" has a CNAME already", name));
            node.cname = zone_name(r, "values", vals.front(), z.origin);
            node.cname_ttl = ttl;
        } else if (t == "TXT") {
            for (const auto& v : vals) {
                if (v.size() > 255) r.fail("values", "a TXT string is at most 255 bytes");
                node.txt.push_back(v);
            }
            node.txt_ttl = ttl;
        } else {
            r.fail("type",
                   fmt::format("\"{}\": supported types are A, AAAA, CNAME and TXT", *type));
        }
        if (node.cname && (!node.a.empty() || !node.aaaa.empty() || !node.txt.empty()))
            r.fail("name",
                   fmt::format("\"{}\" has a CNAME and other data (RFC 1034 §3.6.2)", name));
    }

    for (const ConfigSection& s : zs.sections("steered")) {
        s.allow_only({"name", "ttl", "count", "edges", "last_resort"});
        auto name_text = s.string("name");
        if (!name_text) s.fail("name", "is required");
        const std::string name = zone_name(s, "name", *name_text, z.origin);
        if (!in_zone(name, z.origin))
            s.fail("name", fmt::format("\"{}\" is outside the zone {}", name, z.origin));
        Node& node = node_at(z, name);
        if (node.cname) s.fail("name", fmt::format("\"{}\" has a CNAME", name));
        if (!node.a.empty() || !node.aaaa.empty())
            s.fail("name", fmt::format("\"{}\" has static A/AAAA records too", name));
        if (node.steered) s.fail("name", fmt::format("\"{}\" is steered twice", name));
        Steered st;
        st.name = name;
        st.ttl = seconds(s, "ttl", 20);
        st.count = static_cast<unsigned>(integer_in(s, "count", 1, 16, 2));
        st.last_resort = s.boolean("last_resort").value_or(false);
        if (auto e = s.strings("edges")) {
            for (const auto& id : *e) {
                bool known = std::any_of(fleet.edges.begin(), fleet.edges.end(),
                                         [&](const EdgeInfo& x) { return x.id == id; });
                if (!known) s.fail("edges", fmt::format("\"{}\" is not one of the [[edges]]", id));
                st.edges.push_back(id);
            }
        } else if (fleet.edges.empty() && !registry) {
            s.fail("name", "a steered name needs [[edges]] (or a [registry]) to answer with");
        }
        node.steered = std::move(st);
    }
    // Empty non-terminals are implied by the map (a name with nodes below it exists).
    set.zones.push_back(std::move(z));
    for (auto& [name, node] : set.zones.back().nodes)
        if (node.steered) steered_nodes.push_back(&*node.steered);
}

}  // namespace

std::optional<std::string> canonical_name(std::string_view text) {
    if (text == ".") return std::string();
    if (!text.empty() && text.back() == '.') text.remove_suffix(1);
    if (text.empty() || text.size() > 253) return std::nullopt;
    std::string out;
    out.reserve(text.size());
    std::size_t label = 0;
    for (char ch : text) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '.') {
            if (label == 0) return std::nullopt;
            label = 0;
            out.push_back('.');
            continue;
        }
        if (u <= 0x20 || u >= 0x7f) return std::nullopt;
        if (++label > 63) return std::nullopt;
        out.push_back(static_cast<char>(std::tolower(u)));
    }
    if (label == 0) return std::nullopt;
    return out;
}

GeodnsConfig load_config(const ConfigSection& root) {
    GeodnsConfig c;
    root.allow_only(
        {"server", "log", "rrl", "geo", "health", "regions", "edges", "zones", "registry"});
    if (auto s = root.section("server")) load_server(*s, c);
    // [log] level, as the edge and purge_api spell it.
    if (auto l = root.section("log")) {
        l->allow_only({"level"});
        if (auto v = l->string("level")) {
            if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
                l->fail("level", fmt::format("\"{}\": expected debug, info, warn or error", *v));
            c.log_level = parse_log_level(*v);
        }
    }
    if (auto r = root.section("rrl")) load_rrl(*r, c);
    std::uint16_t health_port = 80;
    if (auto h = root.section("health"))
        load_health(*h, c, health_port);
    else
        c.observers.observer = host_name();
    c.health.user_agent = "cdn-geodns-health";
    c.health.subject = "geodns: edge";
    load_fleet(root, c, health_port);
    if (auto g = root.section("geo")) load_geo(*g, c);
    if (auto r = root.section("registry")) load_registry(*r, c);

    auto zones = std::make_shared<ZoneSet>();
    std::vector<Steered*> steered;
    for (const ConfigSection& z : root.sections("zones"))
        load_zone(z, c.fleet, c.registry.has_value(), *zones, steered);
    if (zones->zones.empty()) root.fail("zones", "at least one [[zones]] table is required");
    for (std::size_t i = 0; i < steered.size(); ++i)
        steered[i]->index = i;
    c.zones = std::move(zones);
    if (c.dns.empty()) {
        auto ep = parse_endpoint("127.0.0.1:53");
        c.dns.push_back(*ep);
    }
    return c;
}

std::vector<std::string> restart_needed(const GeodnsConfig& running, const GeodnsConfig& next) {
    std::vector<std::string> out;
    auto list = [](const std::vector<tcp::endpoint>& eps) {
        std::string s;
        for (const auto& ep : eps)
            s += (s.empty() ? "" : ", ") + to_string(ep);
        return s;
    };
    if (running.dns != next.dns)
        out.push_back(fmt::format("[server] dns: {} -> {}", list(running.dns), list(next.dns)));
    if (running.admin != next.admin)
        out.push_back(fmt::format("[server] admin: {} -> {}",
                                  running.admin ? to_string(*running.admin) : "none",
                                  next.admin ? to_string(*next.admin) : "none"));
    if (running.threads != next.threads)
        out.push_back(fmt::format("[server] threads: {} -> {}", running.threads, next.threads));
    if (running.registry.has_value() != next.registry.has_value() ||
        (running.registry && !running.registry->same_as(*next.registry)))
        out.push_back("[registry]: changed");
    if (running.reuse_port != next.reuse_port)
        out.push_back(
            fmt::format("[server] reuse_port: {} -> {}", running.reuse_port, next.reuse_port));
    if (running.udp_blocking != next.udp_blocking)
        out.push_back(
            fmt::format("[server] udp_threads: {} -> {}", running.udp_blocking, next.udp_blocking));
    return out;
}

GeodnsConfig load_config(const std::string& file) {
    return load_config(ConfigSection::load_file(file));
}

}  // namespace cdn::geodns
