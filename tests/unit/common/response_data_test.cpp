#include "common/response_data.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>

TEST_CASE("a generated response is one block: status, head in its tail, shared body",
          "[response_data]") {
    const std::string head = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n";
    auto body = cdn::new_body("busy");
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
    CHECK(body->use_count() == 1);
}

TEST_CASE("a response without head or body", "[response_data]") {
    const cdn::ResponsePtr r = cdn::make_response(204, "");
    CHECK(r->status == 204);
    CHECK(r->head().empty());
    CHECK(r->body == nullptr);
    CHECK(r->body_size() == 0);
}

TEST_CASE("a body is one block: its count and size, then its bytes", "[response_data]") {
    const cdn::BodyPtr b = cdn::new_body("hello");
    CHECK(*b == "hello");
    CHECK(b->size() == 5);
    CHECK(b->data() == reinterpret_cast<const char*>(b.get()) + sizeof(cdn::Body));
    CHECK(sizeof(cdn::Body) == 16);
    CHECK(b->use_count() == 1);

    const cdn::BodyPtr empty = cdn::new_body();
    CHECK(empty);  // an empty body, not a null one
    CHECK(empty->empty());
    CHECK(empty->view().empty());

    CHECK(*cdn::new_body(3, 'x') == "xxx");

    // Filled in place by its maker (a fill, a disk read), then shared.
    cdn::MutableBodyPtr filling = cdn::Body::make_for_overwrite(4);
    std::memcpy(filling->data(), "abcd", 4);
    const cdn::BodyPtr shared = std::move(filling);
    CHECK(std::string_view(*shared) == "abcd");
}
