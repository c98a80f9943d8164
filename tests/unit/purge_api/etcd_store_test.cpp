// The etcd store's pure parts (base64, keys) and its [store] config; the store itself is tested
// against a real etcd in tests/integration/purge_api_etcd_test.cpp.
#include "purge_api/etcd_store.hpp"
#include "purge_api/config.hpp"

#include <catch2/catch.hpp>

using namespace cdn;
using namespace cdn::purge_api;
using Catch::Matchers::Contains;

TEST_CASE("base64 round-trips and rejects junk", "[purge_api][etcd]") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("/p/seq") == "L3Avc2Vx");
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    for (std::size_t n = 0; n <= all.size(); n += 37)
        CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
    CHECK(base64_decode("Mg==") == std::optional<std::string>("2"));
    CHECK_FALSE(base64_decode("bad!"));
    CHECK_FALSE(base64_decode("A"));
}

TEST_CASE("etcd keys sort by seq and ranges cover a prefix", "[purge_api][etcd]") {
    CHECK(etcd_log_key("/cdn/purge/", 42) == "/cdn/purge/log/00000000000000000042");
    CHECK(etcd_log_key("/p/", 9) < etcd_log_key("/p/", 10));
    CHECK(etcd_log_key("/p/", UINT64_MAX) == "/p/log/18446744073709551615");
    CHECK(etcd_range_end("/p/log/") == "/p/log0");
    CHECK(etcd_range_end("a\xff") == "b");
}

TEST_CASE("[store] selects the backend", "[purge_api][config][etcd]") {
    ApiConfig c = parse_config("", "p.toml");
    CHECK(c.backend == ApiConfig::Backend::file);
    c = parse_config(R"(
[store]
backend = "etcd"
etcd_endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
etcd_prefix = "/x/"
)",
                     "p.toml");
    CHECK(c.backend == ApiConfig::Backend::etcd);
    CHECK(c.etcd_endpoints.size() == 2);
    CHECK(c.etcd_prefix == "/x/");
    CHECK_NOTHROW(validate(c));  // no data_dir needed
    CHECK_THROWS_WITH(parse_config("[store]\nbackend = \"zk\"\n", "p.toml"), Contains("backend"));
    CHECK_THROWS_WITH(parse_config("[store]\netcd_endpoints = [\"https://a:1\"]\n", "p.toml"),
                      Contains("etcd_endpoints"));
    CHECK_THROWS_WITH(parse_config("[store]\netcd_prefix = \"\"\n", "p.toml"),
                      Contains("etcd_prefix"));

    // The request deadline, idempotency keys' lifetime and etcd history compaction.
    CHECK(c.store_timeout == std::chrono::milliseconds(1000));
    CHECK(c.idempotency_ttl == std::chrono::hours(24));
    c = parse_config(
        "[store]\ntimeout = \"250ms\"\nidempotency_ttl = \"2h\"\ncompact_every = "
        "\"30s\"\n",
        "p.toml");
    CHECK(c.store_timeout == std::chrono::milliseconds(250));
    CHECK(c.idempotency_ttl == std::chrono::hours(2));
    CHECK(c.compact_every == std::chrono::seconds(30));
    CHECK_THROWS_WITH(parse_config("[store]\ntimeout = \"1ms\"\n", "p.toml"),
                      Contains("p.toml:2: store.timeout"));
    CHECK_THROWS_WITH(parse_config("[store]\nidempotency_ttl = \"1s\"\n", "p.toml"),
                      Contains("idempotency_ttl"));
    CHECK_THROWS_WITH(parse_config("[store]\ncompact_every = \"2d\"\n", "p.toml"),
                      Contains("compact_every"));
}
