// One suite for every ObjectStore (DESIGN.md: "one storage test suite runs against every
// storage implementation"): the memory tier, the disk tier, and the two tiered. Then the tiered
// store's own rules: admission, promotion, and never answering with an outdated disk copy.
#include "edge/storage/disk_store.hpp"
#include "edge/storage/memory_store.hpp"
#include "edge/storage/record_codec.hpp"
#include "edge/storage/tiered_store.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/edge/test_objects.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace cdn;
using namespace cdn::edge::storage;
using namespace std::chrono_literals;

namespace {

ObjectPtr make(const std::string& key, std::size_t size, char fill = 'x') {
    auto o = CachedObject::make(key, "HTTP/1.1 200 OK\r\nETag: \"" + key +
                                         "\"\r\nContent-Length: " + std::to_string(size) + "\r\n");
    o->status = 200;
    o->body = cdn::new_body(size, fill);
    o->seq = next_object_sequence();
    o->meta.lifetime = Seconds(300);
    o->meta.stale_if_error = Seconds(60);
    return o;
}

DiskSettings disk_settings(const std::filesystem::path& dir) {
    DiskSettings s;
    s.path = dir;
    s.capacity_bytes = 8 << 20;
    s.segment_bytes = 512 << 10;
    return s;
}

struct MemoryFixture {
    MemoryStore store{4 << 20, 4};
};

struct DiskFixture {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    DiskStore store{disk_settings(dir.path()), clock};
};

template <PolicyKind Policy = PolicyKind::s3fifo_tlfu,
          DiskAdmission Admission = DiskAdmission::reused>
struct Tiered {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    MemoryStore memory{1 << 20, 4, Policy};
    DiskStore disk{disk_settings(dir.path()), clock};
    TieredStore store{memory, disk, TierSettings{Admission}};
};
using TieredFixture = Tiered<>;
using FrequencyTieredFixture = Tiered<PolicyKind::s3fifo_tlfu, DiskAdmission::frequency>;

struct S3FifoMemoryFixture {
    MemoryStore store{4 << 20, 4, PolicyKind::s3fifo};
};
struct WTinyLfuMemoryFixture {
    MemoryStore store{4 << 20, 4, PolicyKind::wtinylfu};
};
using WTinyLfuTieredFixture = Tiered<PolicyKind::wtinylfu>;

}  // namespace

TEMPLATE_TEST_CASE("storage suite: insert, lookup, replace, remove", "[storage]", MemoryFixture,
                   DiskFixture, TieredFixture, WTinyLfuMemoryFixture, WTinyLfuTieredFixture,
                   S3FifoMemoryFixture, FrequencyTieredFixture) {
    TestType f;
    ObjectStore& s = f.store;
    CHECK_FALSE(s.lookup("http://h/a"));
    auto a = make("http://h/a", 1000, 'a');
    REQUIRE(s.insert(a));
    s.flush();
    auto got = s.lookup("http://h/a");
    REQUIRE(got);
    CHECK(got->key() == a->key());
    CHECK(got->head() == a->head());
    CHECK(*got->body == *a->body);
    CHECK(got->seq == a->seq);
    CHECK(got->etag() == "\"http://h/a\"");
    CHECK(got->meta.lifetime == a->meta.lifetime);
    CHECK(got->meta.stale_if_error == a->meta.stale_if_error);
    CHECK(s.peek("http://h/a"));
    CHECK(s.objects() >= 1);

    auto a2 = make("http://h/a", 2000, 'b');
    REQUIRE(s.insert(a2));
    s.flush();
    got = s.lookup("http://h/a");
    REQUIRE(got);
    CHECK(*got->body == std::string(2000, 'b'));

    CHECK(s.remove("http://h/a"));
    s.flush();
    CHECK_FALSE(s.lookup("http://h/a"));
    CHECK_FALSE(s.remove("http://h/a"));
    CHECK_FALSE(s.insert(nullptr));
}

TEMPLATE_TEST_CASE("storage suite: a URL's variants are stored and dropped together", "[storage]",
                   MemoryFixture, DiskFixture, TieredFixture, WTinyLfuMemoryFixture,
                   WTinyLfuTieredFixture, S3FifoMemoryFixture, FrequencyTieredFixture) {
    TestType f;
    ObjectStore& s = f.store;
    auto set = make_variant_set();
    set->fields = {"accept-encoding"};
    set->variants.emplace_back("gzip", make("http://h/v", 100, 'g'));
    set->variants.emplace_back("", make("http://h/v", 300, 'i'));
    auto entry = CachedObject::make("http://h/v");
    entry->status = 200;
    entry->seq = next_object_sequence();
    entry->variants = set;
    REQUIRE(s.insert(entry));
    s.flush();
    auto got = s.lookup("http://h/v");
    REQUIRE(got);
    REQUIRE(got->variants);
    CHECK(got->variants->fields == set->fields);
    REQUIRE(got->variants->find("gzip"));
    CHECK(*got->variants->find("gzip")->body == std::string(100, 'g'));
    CHECK(*got->variants->find("")->body == std::string(300, 'i'));
    CHECK(s.remove("http://h/v"));
    CHECK_FALSE(s.lookup("http://h/v"));
}

TEMPLATE_TEST_CASE("storage suite: concurrent readers and writers see whole objects", "[storage]",
                   MemoryFixture, DiskFixture, TieredFixture, WTinyLfuMemoryFixture,
                   WTinyLfuTieredFixture, S3FifoMemoryFixture, FrequencyTieredFixture) {
    TestType f;
    ObjectStore& s = f.store;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                const std::string key = "http://h/k" + std::to_string(i % 40);
                if ((i + t) % 3 == 0) {
                    // The fill byte is a function of the key, so every version is checkable.
                    s.insert(make(key, 500 + (i % 40) * 10, static_cast<char>('a' + i % 40 % 26)));
                } else if (auto o = s.lookup(key)) {
                    const std::size_t n = 500 + (i % 40) * 10;
                    if (o->key() != key || *o->body != std::string(n, 'a' + i % 40 % 26)) ++wrong;
                }
            }
        });
    for (auto& t : threads)
        t.join();
    s.flush();
    CHECK(wrong == 0);
}

TEST_CASE("tiered store: one-hit wonders stay off the disk, reused objects go there",
          "[storage][tiered]") {
    // LRU in memory, so that a reused object is evicted too (S3-FIFO would keep it in main).
    Tiered<PolicyKind::lru> f;
    // 1 MiB of memory in 4 shards: 100 objects of 20 KB overflow it several times.
    for (int i = 0; i < 100; ++i)
        f.store.insert(make("http://h/once" + std::to_string(i), 20'000));
    f.store.flush();
    CHECK(f.store.stats().rejected > 0);
    CHECK(f.disk.stats().writes == 0);

    // Asked for again while in memory: admitted when evicted.
    auto hot = make("http://h/hot", 20'000);
    f.store.insert(hot);
    CHECK(f.store.lookup("http://h/hot"));
    for (int i = 0; i < 100; ++i)
        f.store.insert(make("http://h/more" + std::to_string(i), 20'000));
    f.store.flush();
    CHECK(f.disk.holds(*hot));

    // Evicted from memory, then a disk hit: promoted back into memory.
    REQUIRE_FALSE(f.memory.peek("http://h/hot"));
    auto got = f.store.lookup("http://h/hot");
    REQUIRE(got);
    CHECK(got->seq == hot->seq);
    CHECK(f.memory.peek("http://h/hot"));
    CHECK(f.store.stats().promotions == 1);
}

TEST_CASE("admission filter: frequency admits at the threshold of counted requests",
          "[storage][tiered]") {
    AdmissionSettings settings;
    settings.sketch_objects = 1 << 12;
    AdmissionFilter filter(DiskAdmission::frequency, settings);
    const std::uint64_t a = key_hash("http://h/a"), b = key_hash("http://h/b");
    CHECK_FALSE(filter.admit(a, false));
    CHECK_FALSE(filter.admit(a, true));  // only the count matters, not the memory tier's flag
    filter.record(a);
    CHECK(filter.frequency(a) == 1);
    CHECK_FALSE(filter.admit(a, false));
    filter.record(a);
    CHECK(filter.frequency(a) == 2);
    CHECK(filter.admit(a, false));
    CHECK(filter.frequency(b) == 0);
    CHECK_FALSE(filter.admit(b, false));

    settings.frequency_threshold = 3;
    AdmissionFilter three(DiskAdmission::frequency, settings);
    three.record(a);
    three.record(a);
    CHECK_FALSE(three.admit(a, false));
    three.record(a);
    CHECK(three.admit(a, false));

    // The other rules count nothing.
    AdmissionFilter all(DiskAdmission::all);
    all.record(a);
    CHECK(all.frequency(a) == 0);
    CHECK(all.admit(b, false));
}

TEST_CASE("admission filter: frequency forgets old requests (the sketch halves)",
          "[storage][tiered]") {
    AdmissionSettings settings;
    settings.sketch_objects = 1 << 10;  // 16 shards of 64: each halves every 640 counted requests
    AdmissionFilter filter(DiskAdmission::frequency, settings);
    const std::uint64_t hot = key_hash("http://h/hot");
    filter.record(hot);
    filter.record(hot);
    REQUIRE(filter.admit(hot, false));
    // Many other keys, each twice, pass by: the hot key's count halves, then halves again.
    for (int i = 0; i < 40'000; ++i)
        filter.record(key_hash("http://h/other" + std::to_string(i / 2)));
    CHECK_FALSE(filter.admit(hot, false));
}

TEST_CASE("tiered store: frequency admission writes what was asked for twice",
          "[storage][tiered]") {
    Tiered<PolicyKind::lru, DiskAdmission::frequency> f;
    // One request each (a miss, then the insert): never written.
    for (int i = 0; i < 100; ++i) {
        const std::string key = "http://h/once" + std::to_string(i);
        CHECK_FALSE(f.store.lookup(key));
        f.store.insert(make(key, 20'000));
    }
    f.store.flush();
    CHECK(f.store.stats().rejected > 0);
    CHECK(f.disk.stats().writes == 0);

    // Two requests (a miss and a memory hit): written when memory evicts it.
    auto hot = make("http://h/hot", 20'000);
    CHECK_FALSE(f.store.lookup(hot->key()));
    f.store.insert(hot);
    CHECK(f.store.lookup(hot->key()));
    // Two misses before the insert count too (a fetch that was not stored the first time).
    auto warm = make("http://h/warm", 20'000);
    CHECK_FALSE(f.store.lookup(warm->key()));
    CHECK_FALSE(f.store.lookup(warm->key()));
    f.store.insert(warm);
    for (int i = 0; i < 100; ++i)
        f.store.insert(make("http://h/more" + std::to_string(i), 20'000));
    f.store.flush();
    CHECK(f.disk.holds(*hot));
    CHECK(f.disk.holds(*warm));
    CHECK(f.disk.stats().writes == 2);
    CHECK(f.store.lookup(hot->key()));
    CHECK(f.store.stats().promotions == 1);
}

TEST_CASE("tiered store: a key turned away once is admitted the second time", "[storage][tiered]") {
    TieredFixture f;
    auto fill = [&](const std::string& prefix) {
        for (int i = 0; i < 100; ++i)
            f.store.insert(make("http://h/" + prefix + std::to_string(i), 20'000));
        f.store.flush();
    };
    fill("a");  // evicted unused: remembered, not written
    const auto writes = f.disk.stats().writes.load();
    fill("a");  // the same keys again: now written
    CHECK(f.disk.stats().writes > writes);
}

TEST_CASE("tiered store: a new version drops the outdated disk copy", "[storage][tiered]") {
    TieredFixture f;
    auto v1 = make("http://h/doc", 20'000, '1');
    REQUIRE(f.disk.insert(v1));
    f.disk.flush();
    auto v2 = make("http://h/doc", 20'000, '2');
    REQUIRE(f.store.insert(v2));  // memory takes it; disk's v1 is now outdated
    f.store.flush();
    CHECK_FALSE(f.disk.lookup("http://h/doc"));
    // Memory evicts v2 unused and does not admit it: the lookup must miss, not find v1.
    for (int i = 0; i < 100; ++i)
        f.store.insert(make("http://h/x" + std::to_string(i), 20'000));
    f.store.flush();
    auto got = f.store.lookup("http://h/doc");
    CHECK((!got || got->body->data()[0] == '2'));
}

TEST_CASE("tiered store: objects too large for memory go to disk on their second request",
          "[storage][tiered]") {
    TieredFixture f;
    auto big = make("http://h/big", 400'000);  // a memory shard holds 256 KiB
    CHECK_FALSE(f.store.insert(big));
    auto again = make("http://h/big", 400'000);
    CHECK(f.store.insert(again));
    f.store.flush();
    auto got = f.store.lookup("http://h/big");
    REQUIRE(got);
    CHECK(got->body->size() == 400'000);
}
