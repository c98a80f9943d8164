#include "common/response_data.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>

TEST_CASE("a generated response is one block: status, head in its tail, shared body",
          "[response_data]") {
    const std::string head = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n";
    auto body = std::make_shared<const std::string>("busy");
    cdn::ResponsePtr r = cdn::make_response(503, head, body);
    CHECK(r->status == 503);
    CHECK(r->head() == head);
    // The head lies right after the response in its own block (no second allocation).
    CHECK(r->head().data() == reinterpret_cast<const char*>(r.get()) + sizeof(cdn::OwnedResponse));
    CHECK(r->body == body);
    CHECK(r->body_size() == 4);
    CHECK(r->use_count() == 1);
    cdn::ResponsePtr again = r;
    CHECK(r->use_count() == 2);
    again.reset();
    CHECK(r->use_count() == 1);
    // The last reference frees the block through its kind's deleter (the sanitizer build
    // checks that it is freed once, whole, as it was allocated) and lets go of the body.
    r.reset();
    CHECK(body.use_count() == 1);
}

TEST_CASE("a response without head or body", "[response_data]") {
    const cdn::ResponsePtr r = cdn::make_response(204, "");
    CHECK(r->status == 204);
    CHECK(r->head().empty());
    CHECK(r->body == nullptr);
    CHECK(r->body_size() == 0);
}
