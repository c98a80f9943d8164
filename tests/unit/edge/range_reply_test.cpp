#include "edge/proxy/range_reply.hpp"

#include "edge/proxy/response_fields.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge;
using namespace cdn::edge::proxy;
using Catch::Matchers::Contains;

namespace {

storage::ObjectPtr stored(std::string body) {
    Fields f;
    f.insert("Content-Type", "text/plain");
    f.insert("ETag", "\"strong\"");
    f.insert("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
    storage::ObjectMeta m;
    return build_object("k", 200, "OK", f, cdn::new_body(std::move(body)), m, TimePoint{},
                        {.accept_ranges = true});
}

}  // namespace

TEST_CASE("If-Range: strong ETag or the exact Last-Modified", "[range_reply]") {
    const std::string_view etag = "\"v1\"", lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    CHECK(if_range_matches("", etag, lm));
    CHECK(if_range_matches("\"v1\"", etag, lm));
    CHECK_FALSE(if_range_matches("\"v2\"", etag, lm));
    CHECK_FALSE(if_range_matches("W/\"v1\"", etag, lm));
    CHECK(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", etag, lm));
    CHECK_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:38 GMT", etag, lm));
    CHECK_FALSE(if_range_matches("W/\"v1\"", "W/\"v1\"", lm));
}

TEST_CASE("one range shares the stored body", "[range_reply]") {
    const auto full = stored("0123456789");
    CHECK_THAT(std::string(full->head()), Contains("Accept-Ranges: bytes\r\n"));
    const auto part = partial_object(*full, {2, 5});
    CHECK(part->status == 206);
    CHECK_THAT(std::string(part->head()), Contains("Content-Range: bytes 2-5/10\r\n"));
    CHECK_THAT(std::string(part->head()), Contains("Content-Length: 4\r\n"));
    CHECK_THAT(std::string(part->head()), Contains("Content-Type: text/plain\r\n"));
    CHECK(part->body == full->body);  // the same bytes, not a copy
}

TEST_CASE("several ranges make a multipart/byteranges body", "[range_reply]") {
    const auto full = stored("0123456789");
    const auto mp = multipart_object(*full, {{0, 1}, {8, 9}});
    CHECK(mp->status == 206);
    CHECK_THAT(std::string(mp->head()), Contains("Content-Type: multipart/byteranges; boundary="));
    CHECK_THAT(std::string(mp->body->view()),
               Contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"));
    CHECK_THAT(std::string(mp->body->view()),
               Contains("Content-Range: bytes 8-9/10\r\n\r\n89\r\n"));
    CHECK_THAT(std::string(mp->body->view()), Contains("Content-Type: text/plain\r\n"));
    CHECK_THAT(std::string(mp->head()),
               Contains("Content-Length: " + std::to_string(mp->body->size())));
}

TEST_CASE("no satisfiable range: 416 with the size", "[range_reply]") {
    const auto full = stored("0123456789");
    const auto bad = unsatisfiable_object(*full);
    CHECK(bad->status == 416);
    CHECK_THAT(std::string(bad->head()), Contains("Content-Range: bytes */10\r\n"));
    CHECK_THAT(std::string(bad->head()), Contains("Content-Length: 0\r\n"));
}
