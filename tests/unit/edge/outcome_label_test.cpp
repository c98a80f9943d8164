// The reply's opaque outcome label (edge/http) and the cache outcome the proxy stores in it.
#include "edge/proxy/outcome_label.hpp"
#include "edge/storage/cached_object.hpp"

#include <catch2/catch.hpp>

#include <memory>

using namespace cdn::edge;

TEST_CASE("every cache outcome survives the reply's label", "[outcome]") {
    for (cache::Outcome o : cache::kAllOutcomes) {
        INFO(cache::label(o));
        CHECK(proxy::outcome_of(proxy::to_label(o)) == o);
        CHECK(proxy::to_label(o) != http::OutcomeLabel::none);
        CHECK(proxy::to_label(o) != http::OutcomeLabel::session_error);
    }
    // The sessions' own answers and unlabelled replies, as they were logged before labels.
    CHECK(proxy::outcome_of(http::OutcomeLabel::session_error) == cache::Outcome::error);
    CHECK(proxy::outcome_of(http::OutcomeLabel::none) == cache::Outcome::synthetic);
    CHECK(proxy::outcome_of(http::Reply{}.outcome) == cache::Outcome::synthetic);
    CHECK(proxy::make_reply(404, "x", cache::Outcome::error).outcome ==
          proxy::to_label(cache::Outcome::error));
}

TEST_CASE("a hit hands the cached object itself to the session", "[outcome]") {
    auto obj = storage::CachedObject::make("k", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
    obj->status = 200;
    obj->body = cdn::new_body("ok");
    const storage::ObjectPtr stored = obj;
    http::Reply r;
    r.object = stored;  // no copy: the same object, one more reference
    CHECK(r.object == stored);
    CHECK(r.object.get() == static_cast<const cdn::ResponseData*>(stored.get()));
    CHECK(r.object->body == stored->body);
    CHECK(r.status() == 200);
    CHECK(stored->use_count() == 3);  // obj, stored, r.object
}
