#pragma once
// The fleet registry's wire format, shared by the three parties (DESIGN.md: a wire format two
// components speak is defined once, here): the edge PUTs a Registration to purge_api
// (PUT /v1/registry/ID), purge_api keeps it under a lease, and geodns reads the live ones
// (GET /v1/registry) as a RegistryListing. Pure: parsing, validation and JSON, no I/O.
//
//   {"region":"eu-central","latitude":50.1,"longitude":8.7,
//    "ipv4":["192.0.2.10"],"ipv6":["2001:db8::10"],
//    "http":"http://192.0.2.10:8080","admin":"http://192.0.2.10:8081",
//    "role":"edge","weight":1,"version":"0.15.0","instance":"9f2c41d07ab3e655"}
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cdn::registration {

struct Registration {
    std::string id;                   // purge_api's edge id: 1-64 of A-Z a-z 0-9 . _ -
    std::string region;               // a region id (same characters); "" when the edge names none
    std::optional<double> latitude;   // -90..90; both or neither
    std::optional<double> longitude;  // -180..180
    std::vector<std::string> ipv4;    // what DNS hands out (numeric, validated)
    std::vector<std::string> ipv6;
    std::string http;           // client-facing base URL, "http://192.0.2.10:8080"
    std::string admin;          // admin base URL (/healthz, /metrics); "" when not given
    std::string role = "edge";  // "edge" or "parent"
    unsigned weight = 1;        // 1..1000
    std::string version;        // the edge's version string (informational)
    std::string instance;       // random per edge process: who holds the id

    bool operator==(const Registration&) const = default;
    // The same edge as far as addresses go (what lets a restarted edge take its id over).
    bool same_addresses(const Registration& o) const {
        return http == o.http && ipv4 == o.ipv4 && ipv6 == o.ipv6;
    }
};

// "edge-1": 1 to 64 of [A-Za-z0-9._-] (purge_api's valid_edge_id; regions follow the same rule).
bool valid_id(std::string_view id) noexcept;
// An instance nonce: 1 to 64 of [A-Za-z0-9._-].
bool valid_instance(std::string_view instance) noexcept;

// Parses a PUT body for `id` (taken from the path). The error names the field, e.g.
// "ipv4[1]: \"10.0.0\" is not an IPv4 address" or "weight: expected an integer from 1 to 1000".
std::variant<Registration, std::string> parse_registration(std::string_view body,
                                                           std::string_view id);
// The same from a parsed object (a listing entry); the id is the object's "id".
std::variant<Registration, std::string> registration_from_json(const boost::json::object& o);

// The record as JSON (with "id"), the shape parse_registration() reads.
boost::json::object to_json(const Registration& r);

// One live registration as GET /v1/registry lists it.
struct RegisteredEdge {
    Registration reg;
    std::int64_t registered_ms = 0;  // when this instance first registered (unix ms)
    std::int64_t renewed_ms = 0;     // the last registration or heartbeat
    std::int64_t expires_ms = 0;     // the lease ends then unless renewed
};

// GET /v1/registry:
//   {"version":7,"lease_ttl_ms":10000,"now_ms":...,
//    "edges":[{...registration...,"registered_ms":..,"renewed_ms":..,"expires_ms":..,
//              "lease_age_ms":..,"expires_in_ms":..}]}
struct RegistryListing {
    std::uint64_t version = 0;
    std::int64_t lease_ttl_ms = 0;
    std::vector<RegisteredEdge> edges;
};
boost::json::object to_json(const RegistryListing& l, std::int64_t now_ms);
// Parses a listing; the error names what is wrong. Entries that do not parse are an error too
// (purge_api only lists what it validated).
std::variant<RegistryListing, std::string> parse_listing(std::string_view body);

// The answer to a registration or a heartbeat: {"lease_ttl_ms":..,"renew_every_ms":..,"version":..}
struct LeaseGrant {
    std::int64_t lease_ttl_ms = 0;
    std::int64_t renew_every_ms = 0;
    std::uint64_t version = 0;
};
std::optional<LeaseGrant> parse_lease_grant(std::string_view body);

// The message of a purge_api error answer ({"errors":[{"message":...}]}), else the body itself
// (cut to 300 bytes): what the edge logs for a 409 or a 400.
std::string error_message(std::string_view body);

// A random 64-bit nonce as 16 hex digits (each edge process draws one).
std::string random_instance();

}  // namespace cdn::registration
