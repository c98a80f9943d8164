#include "common/http_io.hpp"

#include <catch2/catch.hpp>

namespace bhttp = boost::beast::http;
using cdn::http_io::transfer_encoding_acceptable;

namespace {

bhttp::request_header<> head(unsigned version, std::initializer_list<const char*> codings) {
    bhttp::request_header<> h;
    h.method(bhttp::verb::post);
    h.target("/");
    h.version(version);
    for (const char* c : codings)
        h.insert(bhttp::field::transfer_encoding, c);
    return h;
}

}  // namespace

TEST_CASE("a request without Transfer-Encoding is framed by its length", "[http_io]") {
    CHECK(transfer_encoding_acceptable(head(11, {})));
    CHECK(transfer_encoding_acceptable(head(10, {})));
}

TEST_CASE("exactly one final chunked is the only Transfer-Encoding taken", "[http_io]") {
    CHECK(transfer_encoding_acceptable(head(11, {"chunked"})));
    CHECK(transfer_encoding_acceptable(head(11, {"Chunked"})));
    CHECK(transfer_encoding_acceptable(head(11, {" chunked "})));
    CHECK(transfer_encoding_acceptable(head(11, {"chunked,"})));  // empty list elements
}

TEST_CASE("any other Transfer-Encoding makes the framing unreliable", "[http_io]") {
    for (auto codings :
         std::initializer_list<std::initializer_list<const char*>>{{"gzip"},
                                                                   {"chunked, identity"},
                                                                   {"xchunked"},
                                                                   {"\"chunked\""},
                                                                   {""},
                                                                   {"chunked, chunked"},
                                                                   {"gzip, chunked"},
                                                                   {"chunked;q=1"},
                                                                   {"identity"},
                                                                   {"gzip", "chunked"},
                                                                   {"", "chunked"},
                                                                   {"chunked", "chunked"}}) {
        std::string shown;
        for (const char* c : codings)
            shown += std::string("[") + c + "]";
        INFO("Transfer-Encoding fields: " << shown);
        CHECK_FALSE(transfer_encoding_acceptable(head(11, codings)));
    }
    // HTTP/1.0 has no transfer codings (RFC 9112 section 6.1).
    CHECK_FALSE(transfer_encoding_acceptable(head(10, {"chunked"})));
}
