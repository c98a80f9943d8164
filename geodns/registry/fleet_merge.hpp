#pragma once
// The fleet geodns serves = the static [[edges]] of its config + the edges registered in
// purge_api's registry (common/registration.hpp). Pure: no I/O, no clock.
//
// - A registered edge with the id of a static one replaces it (in place: same position).
// - Its region is the [[regions]] entry of that id; an unknown region with coordinates becomes
//   a new region at the edge's coordinates (id: the registered region, else the edge id); without
//   coordinates the edge is skipped.
// - Skipped too (each with a reason): role "parent" (the shield tier is not handed to clients),
//   no address, a health URL geodns cannot check (it needs a numeric http:// admin URL).
// - Its health URL is <admin>/healthz (the edge's /healthz is on its admin port); without an
//   admin URL, <http>/healthz.
#include "common/registration.hpp"
#include "geodns/policy/fleet.hpp"

#include <set>
#include <string>
#include <vector>

namespace cdn::geodns {

struct MergedFleet {
    Fleet fleet;
    std::set<std::string, std::less<>> registered;  // ids that came from the registry
    std::vector<std::string> skipped;               // "edge-9: no address", for the log
};

MergedFleet merge_fleet(const Fleet& base, const registration::RegistryListing& listing);

}  // namespace cdn::geodns
