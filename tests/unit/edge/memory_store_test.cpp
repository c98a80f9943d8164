#include "edge/storage/memory_store.hpp"

#include "tests/unit/edge/test_objects.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::edge::storage;

using cdn::edge::storage::test::object;

namespace {

// A body watched by the test: gone from everything else once the watcher holds the only
// reference.
bool expired(const cdn::BodyPtr& watched) {
    return watched->use_count() == 1;
}

}  // namespace

TEST_CASE("insert, lookup, replace, remove", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru);  // each policy
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 20, 1, policy);
    CHECK(s.lookup("a") == nullptr);
    REQUIRE(s.insert(object("a", 10)));
    REQUIRE(s.lookup("a"));
    CHECK(s.lookup("a")->body_size() == 10);
    s.insert(object("a", 20));
    CHECK(s.lookup("a")->body_size() == 20);
    CHECK(s.objects() == 1);
    CHECK(s.remove("a"));
    CHECK_FALSE(s.remove("a"));
    CHECK(s.objects() == 0);
    CHECK(s.bytes() == 0);
}

TEST_CASE("bounded in bytes, evicts an unused object before a used one", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru);  // each policy
    INFO("policy: " << to_string(policy));
    const auto one = object("k0", 1000)->charge();
    MemoryStore s(one * 3, 1, policy);
    s.insert(object("k1", 1000));
    s.insert(object("k2", 1000));
    s.insert(object("k3", 1000));
    s.lookup("k1");  // LRU: k2 is now the least recently used; S3-FIFO: k1 moves to main
    s.insert(object("k4", 1000));
    CHECK(s.lookup("k2") == nullptr);
    CHECK(s.lookup("k1"));
    CHECK(s.lookup("k3"));
    CHECK(s.lookup("k4"));
    CHECK(s.bytes() <= s.capacity());
    CHECK(s.evictions() == 1);
}

TEST_CASE("an object larger than a shard is refused, not half-stored", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru);  // each policy
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 16, 4, policy);
    CHECK_FALSE(s.insert(object("big", 1 << 16)));
    CHECK(s.lookup("big") == nullptr);
    CHECK(s.bytes() == 0);
}

TEST_CASE("an evicted object stays valid for whoever holds it", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru);  // each policy
    INFO("policy: " << to_string(policy));
    const auto one = object("k0", 100)->charge();
    MemoryStore s(one, 1, policy);
    s.insert(object("a", 100));
    ObjectPtr held = s.lookup("a");
    s.insert(object("b", 100));
    CHECK(s.lookup("a") == nullptr);
    CHECK(held->body->size() == 100);
}

TEST_CASE("concurrent use keeps the accounting exact", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru);  // each policy
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 20, 8, policy);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&s, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::string key = "k" + std::to_string((i * 7 + t) % 500);
                if (i % 3 == 0)
                    s.remove(key);
                else if (i % 3 == 1)
                    s.insert(object(key, 100 + static_cast<std::size_t>(i % 50)));
                else
                    s.lookup(key);
            }
        });
    }
    for (auto& th : threads)
        th.join();
    std::uint64_t bytes = 0, count = 0;
    for (int i = 0; i < 500; ++i) {
        if (auto o = s.lookup(fmt::format("k{}", i))) {
            bytes += o->charge();
            ++count;
        }
    }
    CHECK(s.objects() == count);
    CHECK(s.bytes() == bytes);
}

TEST_CASE("peek does not count as a use", "[memory_store]") {
    // LRU makes the effect visible: a peeked key stays the least recently used.
    const auto one = object("k0", 1000)->charge();
    MemoryStore s(one * 2, 1, PolicyKind::lru);
    s.insert(object("a", 1000));
    s.insert(object("b", 1000));
    CHECK(s.peek("a"));
    s.insert(object("c", 1000));
    CHECK(s.peek("a") == nullptr);
    CHECK(s.peek("b"));
}

// The store keeps its bookkeeping inside the object (StoreHook): these pin down what that must
// not change. An object's body (its only reference here) tells whether the object was freed.
TEST_CASE("the store holds the only reference it needs: an object lives while stored",
          "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru, PolicyKind::wtinylfu);
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 20, 2, policy);
    cdn::BodyPtr watch;
    const CachedObject* raw = nullptr;
    {
        auto o = object("held", 100);
        watch = o->body;
        raw = o.get();
        REQUIRE(s.insert(std::move(o)));
    }
    REQUIRE_FALSE(expired(watch));  // only the store holds it
    CHECK(s.lookup("held").get() == raw);
    CHECK(s.peek("held").get() == raw);
    CHECK(raw->use_count() == 1);  // the lookups' references are gone
    CHECK(s.remove("held"));
    CHECK(expired(watch));  // and the store let it go
}

TEST_CASE("a store frees what it holds when destroyed, and evicted objects once handed over",
          "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru, PolicyKind::wtinylfu);
    INFO("policy: " << to_string(policy));
    const auto one = object("k00", 1000)->charge();  // keys of one length: equal charges
    std::vector<cdn::BodyPtr> watch;
    std::size_t handed = 0;
    {
        MemoryStore s(one * 4, 1, policy);
        s.set_eviction_listener([&](ObjectPtr o, bool) {
            CHECK(o);
            ++handed;
        });
        for (int i = 0; i < 20; ++i) {
            auto o = object(fmt::format("k{:02}", i), 1000);
            watch.push_back(o->body);
            REQUIRE(s.insert(std::move(o)));
        }
        CHECK(s.objects() == 4);
        CHECK(handed == 16);
        std::size_t alive = 0;
        for (const auto& w : watch)
            alive += expired(w) ? 0 : 1;
        CHECK(alive == 4);
    }
    for (const auto& w : watch)
        CHECK(expired(w));
}

TEST_CASE("the same object stored again keeps one entry and its accounting", "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::lru, PolicyKind::wtinylfu);
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 20, 1, policy);
    const auto o = object("again", 100);
    REQUIRE(s.insert(o));
    REQUIRE(s.insert(o));
    REQUIRE(s.insert(o, 500));
    CHECK(s.objects() == 1);
    CHECK(s.bytes() == 500);
    CHECK(s.lookup("again") == o);
    CHECK(s.remove("again"));
    CHECK(s.objects() == 0);
    CHECK(s.bytes() == 0);
    CHECK(o->use_count() == 1);  // the store kept no reference
    REQUIRE(s.insert(o));        // and can take it again
    CHECK(s.lookup("again") == o);
}

TEST_CASE("an object another store holds is stored as a copy, leaving both stores whole",
          "[memory_store]") {
    MemoryStore a(1 << 20, 1), b(1 << 20, 1, PolicyKind::lru);
    const auto o = object("shared", 100);
    REQUIRE(a.insert(o));
    REQUIRE(b.insert(o));
    const auto from_a = a.lookup("shared");
    const auto from_b = b.lookup("shared");
    CHECK(from_a == o);
    REQUIRE(from_b);
    CHECK(from_b != o);  // b's own copy: one object cannot sit in two stores' lists
    CHECK(from_b->key() == "shared");
    CHECK(from_b->body == o->body);  // the body is shared, not copied
    CHECK(b.remove("shared"));
    CHECK(a.lookup("shared") == o);
    // A copy of a stored object starts outside every store.
    const ObjectPtr copy = CachedObject::copy(*o);
    REQUIRE(b.insert(copy));
    CHECK(b.lookup("shared") == copy);
}

TEST_CASE("variants: one set shared by copies of the entry, freed with the last of them",
          "[memory_store]") {
    cdn::BodyPtr variant;
    const CachedObject* raw = nullptr;
    {
        MemoryStore s(1 << 20, 1);
        auto set = make_variant_set();
        set->fields = {"accept-encoding"};
        auto v = object("http://h/v", 10);
        variant = v->body;
        raw = v.get();
        set->variants.emplace_back("gzip", std::move(v));
        auto entry = CachedObject::make("http://h/v");
        entry->variants = set;
        const ObjectPtr copy = CachedObject::copy(*entry);
        CHECK(copy->variants == entry->variants);  // shared, not copied
        CHECK(set->use_count() == 3);
        set.reset();
        REQUIRE(s.insert(std::move(entry)));
        CHECK(s.lookup("http://h/v")->variants->find("gzip").get() == raw);
        CHECK(s.remove("http://h/v"));
        CHECK_FALSE(expired(variant));  // the copy still holds the set
    }
    CHECK(expired(variant));
}

TEST_CASE("an object is one block: key and head in its tail, untouched by later field writes",
          "[memory_store]") {
    const std::string key(100, 'k');  // longer than any small-string buffer
    const std::string head = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\n";
    auto o = CachedObject::make(key, head);
    const char* block = reinterpret_cast<const char*>(o.get());
    CHECK(o->key() == key);
    CHECK(o->key().data() == block + sizeof(CachedObject));
    CHECK(o->head() == head);
    CHECK(o->head().data() == o->key().data() + key.size());
    // meta's tail padding holds the key's size, ResponseData's spare byte the store flag:
    // writing meta (and status) keeps both.
    MemoryStore s(1 << 20, 1);
    REQUIRE(s.insert(o));
    ObjectMeta m;
    m.lifetime = Secs32(7);
    m.cdn_fields = true;
    o->meta = m;
    o->seq = 9;
    o->status = 299;
    CHECK(o->key() == key);
    CHECK(o->head() == head);
    CHECK(o->etag() == "\"e\"");
    CHECK(o->charge() == sizeof(CachedObject) + key.size() + head.size());
    const ObjectPtr again = CachedObject::copy(*o);
    CHECK(s.insert(again));  // a copy starts outside every store: stored as it is
    CHECK(s.lookup(key) == again);
    // The first one was displaced and let go by the store; a copy keeps every field.
    CHECK(o->use_count() == 1);
    CHECK(again->key() == key);
    CHECK(again->head() == head);
    CHECK(again->status == 299);
    CHECK(again->meta.lifetime == Secs32(7));
    CHECK(again->meta.cdn_fields);
    CHECK(again->seq == 9);
    CHECK(CachedObject::copy(*o, "HTTP/1.1 204 No Content\r\n")->head() ==
          "HTTP/1.1 204 No Content\r\n");
}

TEST_CASE("the index shrinks once a burst of small objects has left, and still finds every object",
          "[memory_store]") {
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo_tlfu, PolicyKind::s3fifo,
                                       PolicyKind::wtinylfu, PolicyKind::lru);
    INFO("policy: " << to_string(policy));
    MemoryStore s(1 << 24, 1, policy);
    // A burst of 4000 small objects grows the index to thousands of slots...
    for (int i = 0; i < 4000; ++i)
        REQUIRE(s.insert(object(fmt::format("small{}", i), 1)));
    const std::size_t grown = s.index_slots();
    CHECK(grown >= 4000);
    // ...which it does not keep once they are gone (removed here; evicted in the next test).
    for (int i = 0; i < 4000; i += 100)
        for (int j = i + 1; j < i + 100; ++j)
            REQUIRE(s.remove(fmt::format("small{}", j)));
    REQUIRE(s.objects() == 40);
    CHECK(s.index_slots() < grown / 8);
    CHECK(s.index_slots() <= 4 * s.objects() + 64);
    // The rebuilt index finds every object still there, and nothing else.
    for (int i = 0; i < 4000; ++i)
        CHECK((s.peek(fmt::format("small{}", i)) != nullptr) == (i % 100 == 0));
    for (int i = 0; i < 4000; i += 100)
        REQUIRE(s.remove(fmt::format("small{}", i)));
    CHECK(s.index_slots() <= 64);
}

TEST_CASE("the index shrinks when larger objects evict a burst of small ones", "[memory_store]") {
    const auto big = object("big", 20000)->charge();
    MemoryStore s(big * 30, 1, PolicyKind::lru);
    for (int i = 0; i < 4000; ++i)
        s.insert(object(fmt::format("small{}", i), 1));
    const std::size_t grown = s.index_slots();
    REQUIRE(s.objects() == 4000);
    for (int i = 0; i < 40; ++i)
        s.insert(object(fmt::format("big{}", i), 20000));
    REQUIRE(s.objects() <= 30);
    CHECK(s.index_slots() < grown / 8);
    std::size_t found = 0;
    for (int i = 0; i < 40; ++i)
        found += s.peek(fmt::format("big{}", i)) ? 1 : 0;
    CHECK(found == s.objects());
    CHECK_FALSE(s.peek("small3999"));
}

TEST_CASE("the policy's ghost knows an evicted key by the hash the store gives it",
          "[memory_store]") {
    // Objects keep no hash: a victim's key is hashed again for the ghost (NodeHash), and a new
    // object's is the lookup's. If the two differed, a key asked for again after its eviction
    // would start over in small (or the size gate's queue) instead of going to main.
    const PolicyKind policy = GENERATE(PolicyKind::s3fifo, PolicyKind::s3fifo_tlfu);
    INFO("policy: " << to_string(policy));
    const auto one = object("f000", 100)->charge();  // keys of one length: equal charges
    MemoryStore s(one * 10, 1, policy);
    REQUIRE(s.insert(object("back", 100)));  // "back" and the fillers have keys of 4 bytes
    for (int i = 0; i < 10; ++i)
        REQUIRE(s.insert(object(fmt::format("f{:03}", i), 100)));
    REQUIRE_FALSE(s.peek("back"));           // the oldest, never hit: evicted into the ghost
    REQUIRE(s.insert(object("back", 100)));  // asked for again: from the ghost into main
    for (int i = 10; i < 60; ++i)
        REQUIRE(s.insert(object(fmt::format("f{:03}", i), 100)));  // one-hit wonders
    CHECK(s.peek("back"));                                         // main keeps it through the scan
    CHECK_FALSE(s.peek("f010"));
}

TEST_CASE("an object's charge counts its block, its body's header and bytes, and its variants",
          "[memory_store]") {
    auto o = CachedObject::make("http://h/a", "HTTP/1.1 200 OK\r\n");
    const std::size_t block = sizeof(CachedObject) + o->key().size() + o->head().size();
    CHECK(o->charge() == block);  // no body
    o->body = cdn::new_body("abcd");
    CHECK(o->charge() == block + sizeof(cdn::Body) + 4);
    auto set = make_variant_set();
    set->variants.emplace_back("gzip", object("http://h/a", 10));
    const std::size_t variant = set->variants.back().second->charge();
    o->variants = set;
    CHECK(o->charge() == block + sizeof(cdn::Body) + 4 + 4 + variant);
}
