#include "edge/cache/content_coding.hpp"
#include "edge/cache/vary.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace cdn::edge::cache;

namespace {
const std::vector<Coding> kBoth = {Coding::br, Coding::gzip};
Coding pick(std::string_view ae) {
    return select_coding(ae, kBoth);
}
}  // namespace

TEST_CASE("Accept-Encoding: the coding with the highest q wins, br on a tie", "[content_coding]") {
    CHECK(pick("br") == Coding::br);
    CHECK(pick("gzip") == Coding::gzip);
    CHECK(pick("gzip, deflate, br") == Coding::br);  // equal q: br
    CHECK(pick("br, gzip") == Coding::br);
    CHECK(pick("gzip;q=0.5, br;q=1") == Coding::br);
    CHECK(pick("gzip;q=1, br;q=0.5") == Coding::gzip);
    CHECK(pick("gzip;q=0.8, br;q=0.799") == Coding::gzip);
    CHECK(pick("x-gzip") == Coding::gzip);
    CHECK(pick("deflate, zstd") == Coding::identity);  // none the edge makes
}

TEST_CASE("Accept-Encoding: q=0, the wildcard and identity", "[content_coding]") {
    CHECK(pick("br;q=0, *") == Coding::gzip);  // * covers gzip, br is refused
    CHECK(pick("*") == Coding::br);
    CHECK(pick("*;q=0") == Coding::identity);
    CHECK(pick("*;q=0, gzip") == Coding::gzip);
    CHECK(pick("br;q=0, gzip;q=0") == Coding::identity);
    CHECK(pick("identity") == Coding::identity);
    CHECK(pick("identity;q=0") == Coding::identity);  // nothing else to give: identity anyway
    CHECK(pick("identity;q=0, gzip") == Coding::gzip);
    CHECK(pick("gzip;q=0.5, identity") == Coding::identity);  // identity weighs more
    CHECK(pick("gzip;q=0.5, identity;q=0.5") == Coding::gzip);
    CHECK(pick("gzip;q=0.1") == Coding::gzip);  // unnamed, identity does not compete
    CHECK(pick("") == Coding::identity);
    CHECK(pick("   ") == Coding::identity);
}

TEST_CASE("Accept-Encoding: case, spaces and malformed weights", "[content_coding]") {
    CHECK(pick("BR") == Coding::br);
    CHECK(pick("GZip ; Q=0.9 , Br ; q=0.1") == Coding::gzip);
    CHECK(pick("br;q=2, gzip") == Coding::gzip);       // bad q: the element is ignored
    CHECK(pick("br;q=0.0001, gzip") == Coding::gzip);  // more than 3 decimals: ignored
    CHECK(pick("br;q=, gzip;q=0.1") == Coding::gzip);
    CHECK(pick("br;q=1.000") == Coding::br);
    CHECK(pick("br;q=0.000") == Coding::identity);
    CHECK(pick("br;foo=bar") == Coding::br);  // unknown parameter
    CHECK(pick(",,gzip,,") == Coding::gzip);
    CHECK(pick("br;q=0, br") == Coding::identity);  // the first mention counts
}

TEST_CASE("Accept-Encoding: only the host's codings are chosen", "[content_coding]") {
    CHECK(select_coding("br, gzip", {Coding::gzip}) == Coding::gzip);
    CHECK(select_coding("br", {Coding::gzip}) == Coding::identity);
    CHECK(select_coding("br, gzip", {Coding::gzip, Coding::br}) == Coding::gzip);  // its order
    CHECK(select_coding("br, gzip", {}) == Coding::identity);
}

TEST_CASE("which stored responses may be compressed", "[content_coding]") {
    const CompressionPolicy p;
    CHECK(may_compress(p, "text/html; charset=utf-8", "", "", ""));
    CHECK(may_compress(p, "TEXT/CSS", "", "max-age=60", "Accept-Language"));
    CHECK(may_compress(p, "application/json", "identity", "", ""));
    CHECK(may_compress(p, "image/svg+xml", "", "", ""));
    CHECK_FALSE(may_compress(p, "image/png", "", "", ""));
    CHECK_FALSE(may_compress(p, "application/octet-stream", "", "", ""));
    CHECK_FALSE(may_compress(p, "", "", "", ""));
    CHECK_FALSE(may_compress(p, "text/html", "gzip", "", ""));
    CHECK_FALSE(may_compress(p, "text/html", "", "public, No-Transform", ""));
    CHECK_FALSE(may_compress(p, "text/html", "", "", "Accept, *"));
    CompressionPolicy off;
    off.enabled = false;
    CHECK_FALSE(may_compress(off, "text/html", "", "", ""));
    CHECK(may_compress_size(p, 256));
    CHECK_FALSE(may_compress_size(p, 255));
    CHECK(may_compress_size(p, 8 * 1024 * 1024));
    CHECK_FALSE(may_compress_size(p, 8 * 1024 * 1024 + 1));
}

TEST_CASE("compressed variants get their own ETag and Vary", "[content_coding]") {
    CHECK(suffixed_etag("\"abc\"", Coding::br) == "\"abc-br\"");
    CHECK(suffixed_etag("W/\"abc\"", Coding::gzip) == "W/\"abc-gzip\"");
    CHECK(suffixed_etag("", Coding::br).empty());
    CHECK(suffixed_etag("abc", Coding::br) == "abc-br");
    CHECK(vary_with_accept_encoding("") == "Accept-Encoding");
    CHECK(vary_with_accept_encoding("Accept-Language") == "Accept-Language, Accept-Encoding");
    CHECK(vary_with_accept_encoding("accept-encoding") == "accept-encoding");
}

TEST_CASE("the edge's coding variant id is the selected coding", "[content_coding][vary]") {
    const std::string name = coding_variant_name(kBoth);
    CHECK(is_coding_variant_name(name));
    CHECK_FALSE(is_coding_variant_name("accept-encoding"));
    CHECK(codings_of_variant_name(name) == kBoth);
    const auto v = parse_vary("Accept-Language, " + name);
    REQUIRE(v.names.size() == 2);
    CHECK(has_coding_variant(v.names));
    std::map<std::string, std::string> req = {{"accept-language", "en"}};
    auto get = [&](const std::string& n) -> std::string_view { return req[n]; };
    auto id_for = [&](const char* ae) {
        req["accept-encoding"] = ae;
        return variant_id(v.names, get);
    };
    // Every spelling lands on one of three variants.
    CHECK(id_for("gzip, deflate, br") == id_for("br"));
    CHECK(id_for("br;q=0, *") == id_for("gzip"));
    CHECK(id_for("") == id_for("identity"));
    CHECK(id_for("deflate") == id_for("identity"));
    CHECK(id_for("br") != id_for("gzip"));
    CHECK(id_for("gzip") != id_for("identity"));
    // A stored object is filed by its own coding.
    req["accept-encoding"] = "br";
    CHECK(variant_id(v.names, get, "identity") == id_for("identity"));
    CHECK(variant_id(v.names, get, "gzip") == id_for("gzip"));
    const std::string en = id_for("");
    req["accept-language"] = "fr";
    CHECK(variant_id(v.names, get, "identity") != en);
}
