// The pure parts of slicing: slice arithmetic, Content-Range parsing, the manifest marker and
// the version checks (edge/cache/slicing.hpp).
#include "edge/cache/slicing.hpp"

#include "edge/config.hpp"
#include "edge/proxy/response_fields.hpp"
#include "edge/proxy/slices.hpp"
#include "edge/storage/memory_store.hpp"

#include <catch2/catch.hpp>

using namespace cdn::edge::cache;
using Catch::Matchers::Contains;

namespace {
constexpr std::uint64_t MiB = 1024 * 1024;

// The error a config (parsed as t.toml) is refused with, or "no error".
std::string config_error(const std::string& toml) {
    try {
        cdn::edge::load_edge_config(cdn::ConfigSection::parse(toml, "t.toml"));
    } catch (const cdn::ConfigError& e) {
        return e.what();
    }
    return "no error";
}
}  // namespace

TEST_CASE("[origin.slice] size: off by default, 64KiB to 64MiB, errors name file:line",
          "[slicing][edge_config]") {
    const auto plain = cdn::edge::load_edge_config(
        cdn::ConfigSection::parse("[[origin]]\nurl = \"http://127.0.0.1:9\"\n", "t.toml"));
    CHECK(plain.origins.at(0).slice_size == 0);
    const auto on = cdn::edge::load_edge_config(cdn::ConfigSection::parse(
        "[[origin]]\nurl = \"http://127.0.0.1:9\"\n[origin.slice]\nsize = \"1MiB\"\n", "t.toml"));
    CHECK(on.origins.at(0).slice_size == MiB);
    const auto off = cdn::edge::load_edge_config(cdn::ConfigSection::parse(
        "[[origin]]\nurl = \"http://127.0.0.1:9\"\n[origin.slice]\nsize = 0\n", "t.toml"));
    CHECK(off.origins.at(0).slice_size == 0);
    for (const char* bad : {"\"32KiB\"", "\"65MiB\"", "\"lots\""}) {
        INFO(bad);
        CHECK_THAT(config_error(std::string("[[origin]]\nurl = \"http://127.0.0.1:9\"\n"
                                            "[origin.slice]\nsize = ") +
                                bad + "\n"),
                   Contains("t.toml:4: origin[0].slice.size"));
    }
    CHECK_THAT(
        config_error("[[origin]]\nurl = \"http://127.0.0.1:9\"\n[origin.slice]\nbytes = 1\n"),
        Contains("t.toml:4: origin[0].slice.bytes: unknown key"));
}

TEST_CASE("Content-Range: bytes first-last/total parses", "[slicing]") {
    CHECK(parse_content_range("bytes 0-99/1000") == ContentRange{0, 99, 1000});
    CHECK(parse_content_range("  BYTES 1048576-2097151/4294967296 ") ==
          ContentRange{MiB, 2 * MiB - 1, 4294967296ull});
    CHECK(parse_content_range("bytes 5-5/6") == ContentRange{5, 5, 6});
}

TEST_CASE("Content-Range: anything else is refused", "[slicing]") {
    for (const char* bad : {"", "bytes", "bytes */1000", "bytes 0-99/*", "bytes 100-99/1000",
                            "bytes 0-1000/1000", "items 0-9/10", "bytes 0-9", "bytes -1-9/10",
                            "bytes 0-9/10x", "bytes=0-9/10", "bytes 99999999999999999999-1/2"}) {
        INFO(bad);
        CHECK_FALSE(parse_content_range(bad));
    }
}

TEST_CASE("slice arithmetic", "[slicing]") {
    CHECK(slice_of(0, MiB) == 0);
    CHECK(slice_of(MiB - 1, MiB) == 0);
    CHECK(slice_of(MiB, MiB) == 1);
    CHECK(slice_of(2048 * MiB, MiB) == 2048);
    CHECK(slice_count(20 * MiB, MiB) == 20);
    CHECK(slice_count(20 * MiB + 1, MiB) == 21);
    CHECK(slice_count(1, MiB) == 1);
    CHECK(slice_range_field(0, MiB) == "bytes=0-1048575");
    CHECK(slice_range_field(2048, MiB) == "bytes=2147483648-2148532223");
}

TEST_CASE("a slice response must be exactly the slice asked for", "[slicing]") {
    // A middle slice.
    CHECK(is_slice_response({MiB, 2 * MiB - 1, 10 * MiB}, 1, MiB, MiB));
    // The last, short slice.
    CHECK(is_slice_response({9 * MiB, 9 * MiB + 99, 9 * MiB + 100}, 9, MiB, 100));
    // Wrong start, wrong end, wrong length, no length.
    CHECK_FALSE(is_slice_response({0, MiB - 1, 10 * MiB}, 1, MiB, MiB));
    CHECK_FALSE(is_slice_response({MiB, 2 * MiB - 2, 10 * MiB}, 1, MiB, MiB - 1));
    CHECK_FALSE(is_slice_response({MiB, 2 * MiB - 1, 10 * MiB}, 1, MiB, MiB - 1));
    CHECK_FALSE(is_slice_response({MiB, 2 * MiB - 1, 10 * MiB}, 1, MiB, std::nullopt));
}

TEST_CASE("the first byte a Range wants picks the first slice", "[slicing]") {
    CHECK(first_wanted_byte("") == 0);
    CHECK(first_wanted_byte("bytes=2147483648-2148532223") == 2147483648ull);
    CHECK(first_wanted_byte("bytes=500-") == 500);
    CHECK(first_wanted_byte("bytes=900-999, 100-199") == 100);
    CHECK(first_wanted_byte("bytes=-500") == 0);  // suffix: the end is unknown yet
    CHECK(first_wanted_byte("bytes=100-199,-5") == 0);
    CHECK(first_wanted_byte("items=5-9") == 0);
    CHECK(first_wanted_byte("bytes=x-9") == 0);
}

TEST_CASE("slice keys cannot collide with a URL's key", "[slicing]") {
    CHECK(slice_key("http://example.com/v.mp4", 3) == "http://example.com/v.mp4#slice=3");
    CHECK(slice_key("k", 0) != slice_key("k", 1));
    // Each slice key starts with the URL's key, so host and path-prefix purges match it.
    CHECK(slice_key("http://example.com/v.mp4", 7).starts_with("http://example.com/v.mp4"));
}

TEST_CASE("the manifest marker round-trips", "[slicing]") {
    const std::string m = format_manifest_marker({MiB, 4096 * MiB});
    CHECK(m == "1048576/4294967296");
    auto p = parse_manifest_marker(m);
    REQUIRE(p);
    CHECK(p->slice_size == MiB);
    CHECK(p->total == 4096 * MiB);
    CHECK_FALSE(parse_manifest_marker("0/10"));
    CHECK_FALSE(parse_manifest_marker("10"));
    CHECK_FALSE(parse_manifest_marker("a/b"));
}

TEST_CASE("a response can be sliced with a strong ETag or a Last-Modified", "[slicing]") {
    CHECK(sliceable("\"abc\"", ""));
    CHECK(sliceable("W/\"abc\"", "Sun, 06 Dec 2026 10:00:00 GMT"));
    CHECK(sliceable("", "Sun, 06 Dec 2026 10:00:00 GMT"));
    CHECK_FALSE(sliceable("W/\"abc\"", ""));
    CHECK_FALSE(sliceable("", ""));
}

TEST_CASE("manifest consistency: the same version or not", "[slicing]") {
    const std::string_view lm = "Sun, 06 Dec 2026 10:00:00 GMT";
    const std::string_view lm2 = "Sun, 06 Dec 2026 11:00:00 GMT";
    // Strong ETag: it decides, with the total.
    CHECK(same_version("\"a\"", lm, 100, "\"a\"", lm, 100));
    CHECK(same_version("\"a\"", lm, 100, "\"a\"", lm2, 100));
    CHECK_FALSE(same_version("\"a\"", lm, 100, "\"b\"", lm, 100));
    CHECK_FALSE(same_version("\"a\"", lm, 100, "\"a\"", lm, 101));
    CHECK_FALSE(same_version("\"a\"", lm, 100, "", lm, 100));
    CHECK_FALSE(same_version("\"a\"", lm, 100, "W/\"a\"", lm, 100));
    // No strong ETag: Last-Modified decides.
    CHECK(same_version("", lm, 100, "", lm, 100));
    CHECK(same_version("W/\"a\"", lm, 100, "W/\"b\"", lm, 100));
    CHECK_FALSE(same_version("", lm, 100, "", lm2, 100));
    CHECK_FALSE(same_version("", lm, 100, "\"new\"", lm, 100));
    CHECK_FALSE(same_version("", "", 100, "", "", 100));
}

TEST_CASE("a manifest is recognised, and removing it removes every slice", "[slicing]") {
    using namespace cdn::edge;
    storage::MemoryStore store(64 * MiB, 1);
    const std::string key = "http://example.com/v.mp4";
    proxy::Fields f;
    f.set("ETag", "\"v1\"");
    f.set(kManifestField, format_manifest_marker({MiB, 3 * MiB + 10}));
    storage::ObjectMeta meta;
    auto manifest =
        proxy::build_object(key, 200, "OK", f, nullptr, meta, {}, {.content_length = 3 * MiB + 10});
    CHECK(proxy::is_slice_manifest(*manifest));
    CHECK(manifest->head().find("Content-Length: 3145738\r\n") != std::string::npos);
    // An ordinary 200 (with a body, even empty) is not one.
    proxy::Fields plain;
    plain.set("ETag", "\"v1\"");
    CHECK_FALSE(proxy::is_slice_manifest(
        *proxy::build_object(key, 200, "OK", plain, cdn::new_body(), meta, {}, {})));
    REQUIRE(store.insert(manifest));
    for (std::uint64_t k = 0; k < 4; ++k)
        REQUIRE(store.insert(proxy::build_object(slice_key(key, k), 206, "", plain,
                                                 cdn::new_body("x"), meta, {}, {})));
    // Another URL whose key starts the same is not touched.
    REQUIRE(store.insert(
        proxy::build_object(key + "2", 200, "OK", plain, cdn::new_body("y"), meta, {}, {})));
    CHECK(store.objects() == 6);
    CHECK(proxy::remove_with_slices(store, key));
    CHECK(store.objects() == 1);
    CHECK(store.peek(key + "2"));
    CHECK_FALSE(proxy::remove_with_slices(store, key));
}
