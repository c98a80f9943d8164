#include "edge/cache/vary.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace cdn::edge::cache;

TEST_CASE("Vary names are lower-cased and deduplicated, * is recognised", "[vary]") {
    const auto v = parse_vary("Accept-Encoding, accept-language,ACCEPT-ENCODING");
    CHECK_FALSE(v.star);
    CHECK(v.names == std::vector<std::string>{"accept-encoding", "accept-language"});
    CHECK(parse_vary("Accept, *").star);
    CHECK(parse_vary("").names.empty());
}

TEST_CASE("Accept-Encoding is normalised to the codings that matter", "[vary]") {
    CHECK(normalize_accept_encoding("gzip, deflate, br") == "br,deflate,gzip");
    CHECK(normalize_accept_encoding("br;q=1.0, gzip;q=0.8") == "br,gzip");
    CHECK(normalize_accept_encoding("gzip;q=0, br") == "br");
    CHECK(normalize_accept_encoding("identity") == "");
    CHECK(normalize_accept_encoding("") == "");
    CHECK(normalize_accept_encoding("*") == "gzip");
    CHECK(normalize_accept_encoding("GZIP") == "gzip");
}

TEST_CASE("the variant id is built from the named request fields", "[vary]") {
    std::map<std::string, std::string> req = {{"accept-encoding", "gzip, br"},
                                              {"accept-language", " en "}};
    auto get = [&](const std::string& n) -> std::string_view {
        auto it = req.find(n);
        return it == req.end() ? std::string_view() : std::string_view(it->second);
    };
    const std::vector<std::string> names = {"accept-encoding", "accept-language", "x-absent"};
    const std::string a = variant_id(names, get);
    req["accept-encoding"] = "br;q=1, gzip";
    CHECK(variant_id(names, get) == a);  // same normalised coding set
    req["accept-language"] = "fr";
    CHECK(variant_id(names, get) != a);
}

TEST_CASE("Vary with empty members, and * among other names", "[vary]") {
    const auto v = parse_vary(" , Accept-Language,, ,Origin ,");
    CHECK_FALSE(v.star);
    CHECK(v.names == std::vector<std::string>{"accept-language", "origin"});
    CHECK(parse_vary("Origin, *, Accept").star);
    CHECK(parse_vary(" , , ").names.empty());
    CHECK_FALSE(parse_vary(" , , ").star);
}
