#include "origin_sim/body.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace cdn::origin_sim;

TEST_CASE("bodies are deterministic and printable", "[origin_sim][body]") {
    const std::string a = make_body("/app.js?v=2", 1, 10'000);
    CHECK(a.size() == 10'000);
    CHECK(a == make_body("/app.js?v=2", 1, 10'000));
    for (char c : a) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        REQUIRE(alnum);
    }
    // A shorter body is a prefix of a longer one: bytes depend only on (seed, offset).
    CHECK(make_body("/app.js?v=2", 1, 17) == a.substr(0, 17));
    CHECK(make_body("/x", 1, 0).empty());
}

TEST_CASE("any slice can be generated on its own", "[origin_sim][body]") {
    const std::uint64_t seed = body_seed("/slice", 3);
    const std::string whole = make_body("/slice", 3, 4096);
    for (std::uint64_t offset : {0u, 1u, 7u, 8u, 9u, 15u, 100u, 4000u}) {
        for (std::size_t n : {0u, 1u, 3u, 8u, 13u, 64u}) {
            if (offset + n > whole.size()) continue;
            std::string part(n, '\0');
            fill_body(seed, offset, part.data(), n);
            CHECK(part == whole.substr(offset, n));
        }
    }
    // Far offsets (beyond 4 GiB) work too and are stable.
    std::string far1(32, '\0'), far2(32, '\0');
    fill_body(seed, (1ull << 32) + 5, far1.data(), far1.size());
    fill_body(seed, (1ull << 32) + 5, far2.data(), far2.size());
    CHECK(far1 == far2);
}

TEST_CASE("identity and version change the bytes", "[origin_sim][body]") {
    const std::string v1 = make_body("/a", 1, 256);
    CHECK(v1 != make_body("/a", 2, 256));
    CHECK(v1 != make_body("/b", 1, 256));
    CHECK(body_seed("/a", 1) != body_seed("/a", 2));
    // Not a degenerate generator: plenty of distinct bytes.
    CHECK(std::set<char>(v1.begin(), v1.end()).size() > 40);
}

TEST_CASE("entity tags depend on identity, version and size", "[origin_sim][body]") {
    const std::string e = make_etag("/a", 1, 1024);
    CHECK(e.size() == 18);
    CHECK(e.front() == '"');
    CHECK(e.back() == '"');
    CHECK(e == make_etag("/a", 1, 1024));
    CHECK(e != make_etag("/a", 2, 1024));
    CHECK(e != make_etag("/a", 1, 1025));
    CHECK(e != make_etag("/b", 1, 1024));
    CHECK(make_etag("/a", 1, 1024, true) == "W/" + e);
}
