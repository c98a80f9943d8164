#include "edge/proxy/compressed_variant.hpp"
#include "edge/compression_config.hpp"
#include "edge/proxy/compressor.hpp"
#include "tests/support/decompress.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::edge;
using cache::Coding;

namespace {

std::string text_body(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; s.size() < n; ++i)
        s += "<div class=\"item-" + std::to_string(i % 97) + "\">Hello, world " +
             std::to_string(i) + "</div>\n";
    s.resize(n);
    return s;
}

// The decoders' own failure is a test failure: an empty string comes back.
std::string gunzip(const std::string& in) {
    auto out = cdn::test::gunzip(in);
    CHECK(out);
    return out.value_or("");
}

std::string unbrotli(const std::string& in, std::size_t size) {
    auto out = cdn::test::unbrotli(in, size);
    CHECK(out);
    return out.value_or("");
}

}  // namespace

TEST_CASE("gzip and brotli bodies decode to the original", "[compress]") {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{300}, std::size_t{200'000}}) {
        const std::string body = text_body(size);
        auto gz = proxy::compress_body(Coding::gzip, body, 6, 5);
        REQUIRE(gz);
        CHECK(gunzip(*gz) == body);
        auto br = proxy::compress_body(Coding::br, body, 6, 5);
        REQUIRE(br);
        CHECK(unbrotli(*br, body.size()) == body);
        if (size >= 300) {
            CHECK(gz->size() < body.size() / 2);
            CHECK(br->size() < body.size() / 2);
        }
    }
    CHECK_FALSE(proxy::compress_body(Coding::identity, "x", 6, 5));
}

TEST_CASE("a compressed variant keeps the stored fields and changes the coding ones",
          "[compress]") {
    proxy::Fields f;
    f.set("Content-Type", "text/html");
    f.set("ETag", "\"v1\"");
    f.set("Vary", "Accept-Language");
    f.set("Cache-Control", "max-age=60");
    const std::string body = text_body(5000);
    storage::ObjectMeta meta;
    meta.lifetime = storage::Secs32(60);
    auto identity = proxy::build_object("k", 200, "OK", f, cdn::new_body(body), meta, TimePoint{},
                                        {.seq = 42, .vary_accept_encoding = true});
    CHECK(identity->field("vary") == "Accept-Language, Accept-Encoding");
    auto v = proxy::make_compressed_variant(*identity, Coding::br, {});
    REQUIRE(v);
    CHECK(v->field("content-encoding") == "br");
    CHECK(v->etag() == "\"v1-br\"");
    CHECK(v->field("vary") == "Accept-Language, Accept-Encoding");
    CHECK(v->field("content-length") == std::to_string(v->body_size()));
    CHECK(v->field("cache-control") == "max-age=60");
    CHECK(v->seq == 42);
    CHECK(v->meta.lifetime == meta.lifetime);
    CHECK(unbrotli(std::string(v->body->view()), body.size()) == body);
}

TEST_CASE("compression_vary adds the coding name only for compressible responses", "[compress]") {
    const cache::CompressionPolicy p;
    proxy::Fields html;
    html.set("Content-Type", "text/html");
    const std::string name = cache::coding_variant_name(p.codings);
    CHECK(proxy::compression_vary("", p, 200, html, 1000) == name);
    CHECK(proxy::compression_vary("accept-encoding", p, 200, html, std::nullopt) ==
          "accept-encoding, " + name);
    CHECK(proxy::varies_on_coding(proxy::compression_vary("", p, 200, html, 1000)));
    CHECK(proxy::compression_vary("", p, 200, html, 10).empty());  // under min_size
    CHECK(proxy::compression_vary("", p, 404, html, 1000).empty());
    proxy::Fields png;
    png.set("Content-Type", "image/png");
    CHECK(proxy::compression_vary("", p, 200, png, 1000).empty());
    proxy::Fields gz = html;
    gz.set("Content-Encoding", "gzip");
    CHECK(proxy::compression_vary("accept-encoding", p, 200, gz, 1000) == "accept-encoding");
}

TEST_CASE("[origin.compression] parses and names bad values", "[compress][edge_config]") {
    auto parse = [](const std::string& toml) {
        return parse_compression(*ConfigSection::parse(toml, "c.toml").section("compression"));
    };
    const auto p = parse(R"([compression]
enabled = true
types = ["Text/HTML", "application/json"]
codings = ["gzip"]
min_size = "1KiB"
max_size = "1MiB"
gzip_level = 9
brotli_quality = 11
)");
    CHECK(p.types == std::vector<std::string>{"text/html", "application/json"});
    CHECK(p.codings == std::vector<Coding>{Coding::gzip});
    CHECK(p.min_size == 1024);
    CHECK(p.max_size == 1024 * 1024);
    CHECK(p.gzip_level == 9);
    CHECK(p.brotli_quality == 11);
    const cache::CompressionPolicy d;
    CHECK(d.enabled);
    CHECK(d.codings == std::vector<Coding>{Coding::br, Coding::gzip});
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(parse("[compression]\ngzip_level = 0\n"),
                      Contains("c.toml:2") && Contains("gzip_level"));
    CHECK_THROWS_WITH(parse("[compression]\nbrotli_quality = 12\n"), Contains("brotli_quality"));
    CHECK_THROWS_WITH(parse("[compression]\ncodings = [\"br\", \"zstd\"]\n"),
                      Contains("c.toml:2") && Contains("zstd"));
    CHECK_THROWS_WITH(parse("[compression]\ncodings = []\n"), Contains("codings"));
    CHECK_THROWS_WITH(parse("[compression]\ntypes = [\"text/*\"]\n"), Contains("types"));
    CHECK_THROWS_WITH(parse("[compression]\nmin_size = 100\nmax_size = 10\n"),
                      Contains("min_size"));
    CHECK_THROWS_WITH(parse("[compression]\nlevel = 3\n"), Contains("level"));
}
