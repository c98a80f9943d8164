#include "geodns/registry/fleet_merge.hpp"

#include "common/net.hpp"

#include <boost/asio/ip/address.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace cdn::geodns {

namespace {

std::optional<std::size_t> region_of(const Fleet& f, std::string_view id) {
    for (std::size_t i = 0; i < f.regions.size(); ++i)
        if (f.regions[i].id == id) return i;
    return std::nullopt;
}

// "<base>/healthz" for a numeric http:// base URL; "" when geodns cannot check it.
std::string health_url_of(const std::string& base) {
    const auto u = parse_url(base);
    if (!u || u->scheme != "http") return "";
    boost::system::error_code ec;
    boost::asio::ip::make_address(u->host, ec);
    if (ec) return "";
    const std::string host = u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host;
    std::string path = u->path.empty() ? "/" : u->path;
    if (!path.ends_with('/')) path += '/';
    return fmt::format("http://{}:{}{}healthz", host, u->port, path);
}

}  // namespace

MergedFleet merge_fleet(const Fleet& base, const registration::RegistryListing& listing) {
    MergedFleet out;
    out.fleet = base;
    Fleet& f = out.fleet;
    for (const registration::RegisteredEdge& re : listing.edges) {
        const registration::Registration& r = re.reg;
        auto skip = [&](std::string why) { out.skipped.push_back(r.id + ": " + std::move(why)); };
        if (r.role == "parent") {
            skip("a parent (shield tier), not handed to clients");
            continue;
        }
        if (r.ipv4.empty() && r.ipv6.empty()) {
            skip("no ipv4 or ipv6 address to hand out");
            continue;
        }
        const std::string health = health_url_of(r.admin.empty() ? r.http : r.admin);
        if (health.empty()) {
            skip(fmt::format("cannot check {} (a numeric http:// admin URL is needed)",
                             r.admin.empty() ? "http " + r.http : "admin " + r.admin));
            continue;
        }
        std::optional<std::size_t> ri;
        if (!r.region.empty()) ri = region_of(f, r.region);
        if (!ri) {
            if (!r.latitude || !r.longitude) {
                skip(r.region.empty()
                         ? std::string("no region and no coordinates")
                         : fmt::format("region \"{}\" is not one of the [[regions]] and the edge "
                                       "gives no coordinates",
                                       r.region));
                continue;
            }
            const std::string id = r.region.empty() ? r.id : r.region;
            ri = region_of(f, id);
            if (!ri) {
                f.regions.push_back(Region{id, *r.latitude, *r.longitude});
                ri = f.regions.size() - 1;
            }
        }
        EdgeInfo e;
        e.id = r.id;
        e.region = *ri;
        e.latitude = r.latitude.value_or(f.regions[*ri].latitude);
        e.longitude = r.longitude.value_or(f.regions[*ri].longitude);
        for (const auto& a : r.ipv4) {
            boost::system::error_code ec;
            const auto addr = boost::asio::ip::make_address_v4(a, ec);
            if (!ec) e.v4.push_back(addr);
        }
        for (const auto& a : r.ipv6) {
            boost::system::error_code ec;
            const auto addr = boost::asio::ip::make_address_v6(a, ec);
            if (!ec) e.v6.push_back(addr);
        }
        e.weight = std::clamp(r.weight, 1u, 1000u);
        e.health_url = health;
        const auto same = std::find_if(f.edges.begin(), f.edges.end(),
                                       [&](const EdgeInfo& x) { return x.id == e.id; });
        if (same != f.edges.end())
            *same = std::move(e);
        else
            f.edges.push_back(std::move(e));
        out.registered.insert(r.id);
    }
    return out;
}

}  // namespace cdn::geodns
