// The failover rule the purge stream and the registrar share (edge/proxy/purge_api_rotation.hpp):
// the next instance at once during a pass through the list, the backoff only once every one has
// failed in a row.
#include "edge/proxy/purge_api_rotation.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge::proxy;

namespace {

PurgeApiTarget target(const std::string& url) {
    return PurgeApiTarget{*parse_url(url), nullptr};
}

}  // namespace

TEST_CASE("purge api rotation: round robin with backoff only after a full pass",
          "[purge_failover]") {
    PurgeApiRotation r({target("http://a:1"), target("http://b:2"), target("https://c:3/api/")});
    CHECK(r.size() == 3);
    CHECK(r.current().name() == "http://a:1");
    CHECK(r.following().name() == "http://b:2");
    CHECK(r.all()[2].name() == "https://c:3/api/");

    CHECK_FALSE(r.failed());  // a -> b at once
    CHECK(r.current().name() == "http://b:2");
    CHECK_FALSE(r.exhausted());
    CHECK_FALSE(r.failed());  // b -> c at once
    CHECK(r.index() == 2);
    CHECK(r.failed());  // c failed too: every one in a row, back off
    CHECK(r.exhausted());
    CHECK(r.index() == 0);  // round robin
    CHECK(r.failed());      // and every further failure backs off
    CHECK(r.index() == 1);

    // A success starts a new pass.
    r.succeeded();
    CHECK_FALSE(r.exhausted());
    CHECK_FALSE(r.failed());
    CHECK(r.current().name() == "https://c:3/api/");
    CHECK_FALSE(r.failed());
    CHECK(r.failed());
}

TEST_CASE("purge api rotation: one instance backs off at every failure", "[purge_failover]") {
    PurgeApiRotation r({target("https://purge.example.com")});
    CHECK(r.current().name() == "https://purge.example.com");  // the default port left out
    CHECK(r.failed());
    CHECK(r.index() == 0);
    r.succeeded();
    CHECK(r.failed());
}
