// The disk tier on its own: restart (clean, and from a crash image), tombstones, segment
// eviction, corruption, faults and the cache-wide metadata record. Real files in a temp dir;
// time from a manual clock.
#include "edge/storage/disk_store.hpp"
#include "edge/storage/record_codec.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/edge/test_objects.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace cdn;
using namespace cdn::edge::storage;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

DiskSettings settings(const fs::path& dir, std::uint64_t capacity = 4 << 20,
                      std::uint32_t segment = 256 << 10) {
    DiskSettings s;
    s.path = dir;
    s.capacity_bytes = capacity;
    s.segment_bytes = segment;
    s.retry_interval = 10ms;
    return s;
}

ObjectPtr numbered(int i, std::size_t size = 1000) {
    const auto base = cdn::edge::storage::test::object("http://h/o" + std::to_string(i), 0);
    auto o = CachedObject::copy(
        *base, std::string(base->head()) + "ETag: \"e" + std::to_string(i) + "\"\r\n");
    std::string body(size, '\0');
    for (std::size_t k = 0; k < size; ++k)
        body[k] = static_cast<char>('a' + (i + k) % 26);
    o->body = cdn::new_body(std::move(body));
    o->seq = next_object_sequence();
    o->meta.lifetime = Seconds(60 + i);
    o->meta.cdn_fields = i % 2 == 1;  // the flag that strips CDN-Cache-Control for clients
    return o;
}

bool same(const ObjectPtr& a, const ObjectPtr& b) {
    return a && b && a->key() == b->key() && a->head() == b->head() && a->status == b->status &&
           a->seq == b->seq && *a->body == *b->body && a->etag() == b->etag() &&
           a->meta.lifetime == b->meta.lifetime && a->meta.cdn_fields == b->meta.cdn_fields;
}

// The bytes a crash would leave: what the kernel holds for the files now, without close().
void crash_image(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(from))
        if (e.is_regular_file()) fs::copy_file(e.path(), to / e.path().filename());
}

// Flips one byte of cache.dat at `offset`.
void flip(const fs::path& dir, std::uint64_t offset) {
    const int fd = ::open((dir / "cache.dat").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c = 0;
    REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
    c = static_cast<char>(c ^ 0x5a);
    REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
    ::close(fd);
}

template <class F>
bool eventually(F&& f) {
    for (int i = 0; i < 400; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

}  // namespace

TEST_CASE("disk store: objects survive a clean restart", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    std::vector<ObjectPtr> objs;
    {
        DiskStore d(settings(dir.path()), clock);
        for (int i = 0; i < 50; ++i) {
            objs.push_back(numbered(i, 100 + 97 * i));
            REQUIRE(d.insert(objs.back()));
        }
        d.flush();
        CHECK(d.objects() == 50);
    }
    DiskStore d(settings(dir.path()), clock);
    CHECK(d.recovery().objects == 50);
    CHECK(d.recovery().scanned == 0);  // the active segment's summary was written at close
    for (const auto& o : objs)
        CHECK(same(d.lookup(o->key()), o));
    // New objects sort after everything recovered.
    CHECK(next_object_sequence() > objs.back()->seq);
}

TEST_CASE("disk store: a crash image is recovered by scanning the active segment", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    DiskStore d(settings(dir.path()), clock);
    std::vector<ObjectPtr> objs;
    for (int i = 0; i < 600; ++i) {  // several segments: sealed ones have summaries
        objs.push_back(numbered(i, 3000));
        REQUIRE(d.insert(objs.back()));
        if (i % 100 == 0) d.flush();
    }
    REQUIRE(d.remove(objs[599]->key()));
    d.flush();
    crash_image(dir.path(), dir.path() / "crash");
    DiskStore r(settings(dir.path() / "crash"), clock);
    CHECK(r.recovery().scanned == 1);
    CHECK(r.recovery().from_summary >= 1);
    CHECK(r.objects() == d.objects());
    CHECK(same(r.lookup(objs[0]->key()), objs[0]));
    CHECK(same(r.lookup(objs[598]->key()), objs[598]));
    CHECK_FALSE(r.lookup(objs[599]->key()));  // its tombstone was recovered too
}

TEST_CASE("disk store: restart reads summaries ahead, in order, and scans what has none",
          "[disk]") {
    // Start-up reads the summaries on a second thread a few segments ahead of the index: with
    // a dozen segments, a missing and a damaged summary in the middle, and keys rewritten in
    // later segments, every newest version and no older one must come back.
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    std::vector<ObjectPtr> newest(300);
    {
        DiskStore d(settings(dir.path()), clock);
        for (int round = 0; round < 3; ++round)
            for (int i = 0; i < 300; ++i) {
                newest[i] = numbered(i, 3000 + round);
                REQUIRE(d.insert(newest[i]));
                if (i % 50 == 0) d.flush();
            }
        d.flush();
        REQUIRE(d.objects() == 300);
    }
    const auto idx = [&](int segment) {
        return dir.path() / fmt::format("seg-{:05}.idx", segment);
    };
    REQUIRE(fs::exists(idx(9)));
    REQUIRE(fs::remove(idx(3)));
    fs::resize_file(idx(7), fs::file_size(idx(7)) - 8);  // its checksum is cut off
    DiskStore r(settings(dir.path()), clock);
    CHECK(r.recovery().scanned == 2);
    CHECK(r.recovery().from_summary == r.recovery().segments - 2);
    CHECK(r.recovery().segments >= 10);
    CHECK(r.objects() == 300);
    for (const auto& o : newest)
        CHECK(same(r.lookup(o->key()), o));
}

TEST_CASE("disk store: removals and replacements survive a restart", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    auto a1 = numbered(1), b = numbered(2), c = numbered(3);
    auto a2 = CachedObject::copy(*numbered(1, 5000));
    a2->seq = next_object_sequence();
    {
        DiskStore d(settings(dir.path()), clock);
        REQUIRE(d.insert(a1));
        REQUIRE(d.insert(b));
        REQUIRE(d.insert(c));
        d.flush();
        REQUIRE(d.insert(a2));
        REQUIRE(d.remove(b->key()));
        CHECK_FALSE(d.lookup(b->key()));
        CHECK_FALSE(d.remove("http://h/never"));
    }
    DiskStore d(settings(dir.path()), clock);
    CHECK(same(d.lookup(a2->key()), a2));
    CHECK_FALSE(d.lookup(b->key()));
    CHECK(same(d.lookup(c->key()), c));
    CHECK(d.objects() == 2);
}

TEST_CASE("disk store: the oldest segment is reclaimed when the ring is full", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    DiskStore d(settings(dir.path(), 1 << 20, 256 << 10), clock);  // 4 segments
    std::vector<ObjectPtr> objs;
    for (int i = 0; i < 200; ++i) {  // ~2 MiB through a 1 MiB ring
        objs.push_back(numbered(i, 10'000));
        REQUIRE(d.insert(objs.back()));
        d.flush();
    }
    CHECK(d.live_bytes() <= d.capacity());
    CHECK(d.reclaimed() > 0);
    CHECK_FALSE(d.lookup(objs[0]->key()));
    CHECK(same(d.lookup(objs[199]->key()), objs[199]));
    // An object larger than a segment is refused, not written.
    CHECK_FALSE(d.insert(numbered(1000, 300 << 10)));
}

TEST_CASE("disk store: a flipped byte is detected, dropped and counted, never served", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    std::vector<ObjectPtr> objs;
    {
        DiskStore d(settings(dir.path()), clock);
        for (int i = 0; i < 3; ++i) {
            objs.push_back(numbered(i, 2000));
            REQUIRE(d.insert(objs.back()));
        }
    }
    const std::uint64_t first = SegmentLog::kSegmentHeader;
    const std::uint64_t rec = RecordHeader::padded(sizeof(RecordHeader) + 2000 + 400);
    SECTION("in a body") {
        flip(dir.path(), first + rec / 2);
    }
    SECTION("in a header") {
        flip(dir.path(), first + 20);
    }
    DiskStore d(settings(dir.path()), clock);
    CHECK_FALSE(d.lookup(objs[0]->key()));
    CHECK(d.stats().corrupt == 1);
    CHECK_FALSE(d.lookup(objs[0]->key()));  // dropped: not read (nor counted) again
    CHECK(d.stats().corrupt == 1);
    CHECK(same(d.lookup(objs[1]->key()), objs[1]));
    CHECK(same(d.lookup(objs[2]->key()), objs[2]));
}

TEST_CASE("disk store: a torn last record after a crash is dropped", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    DiskStore d(settings(dir.path()), clock);
    auto a = numbered(1, 5000), b = numbered(2, 5000);
    REQUIRE(d.insert(a));
    REQUIRE(d.insert(b));
    d.flush();
    crash_image(dir.path(), dir.path() / "crash");
    // Zero the second half of b's record, as a write cut short would leave it.
    const std::uint64_t rec_b = SegmentLog::kSegmentHeader + d.stats().write_bytes / 2;
    {
        const int fd = ::open((dir.path() / "crash" / "cache.dat").c_str(), O_RDWR);
        const std::string zeros(2500, '\0');
        REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(rec_b + 2600)) == 2500);
        ::close(fd);
    }
    DiskStore r(settings(dir.path() / "crash"), clock);
    CHECK(same(r.lookup(a->key()), a));
    CHECK_FALSE(r.lookup(b->key()));
    CHECK(r.stats().corrupt == 1);
}

TEST_CASE("disk store: an unusable directory degrades to refusing writes, then recovers",
          "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    const fs::path path = dir.path() / "cache";
    std::ofstream(path) << "a file where the directory should be";
    DiskStore d(settings(path), clock);
    CHECK(d.degraded());
    CHECK_FALSE(d.insert(numbered(1)));
    CHECK_FALSE(d.lookup(numbered(1)->key()));
    CHECK(d.stats().dropped == 1);

    fs::remove(path);
    clock.advance(1s);
    auto o = numbered(2);
    REQUIRE(eventually([&] {
        d.insert(o);  // refused while degraded; wakes the writer to retry
        return !d.degraded();
    }));
    // The writer recovers on its own thread: the last insert above may have come just before
    // (refused). Once recovered, an insert is taken.
    CHECK(d.insert(o));
    d.flush();
    CHECK(same(d.lookup(o->key()), o));
}

TEST_CASE("disk store: the cache-wide metadata record persists", "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    {
        DiskStore d(settings(dir.path()), clock);
        CHECK_FALSE(d.state("purge_seq"));
        CHECK(d.set_state("purge_seq", "42"));
        CHECK(d.set_state("purge_ms", "1800000000000"));
        CHECK_FALSE(d.set_state("bad\nname", "x"));
        CHECK_FALSE(d.set_state("name", "two\nlines"));
    }
    {
        DiskStore d(settings(dir.path()), clock);
        CHECK(d.state("purge_seq") == "42");
        CHECK(d.state("purge_ms") == "1800000000000");
    }
    // A damaged record is ignored rather than trusted.
    std::fstream f(dir.path() / "cache.state", std::ios::in | std::ios::out);
    f.seekp(2);
    f.put('X');
    f.close();
    DiskStore d(settings(dir.path()), clock);
    CHECK_FALSE(d.state("purge_seq"));
}

TEST_CASE("disk store: objects inserted before a floor are dropped, also after a restart",
          "[disk]") {
    cdn::test::TempDir dir;
    cdn::test::ManualClock clock;
    auto at = [](int i, int seconds) {
        auto o = CachedObject::copy(*numbered(i));
        o->meta.response_time = TimePoint(std::chrono::seconds(1'800'000'000 + seconds));
        return ObjectPtr(o);
    };
    auto old1 = at(1, 0), old2 = at(2, 5), young = at(3, 20);
    {
        DiskStore d(settings(dir.path()), clock);
        REQUIRE(d.insert(old1));
        REQUIRE(d.insert(old2));
        REQUIRE(d.insert(young));
        d.flush();
        const std::int64_t floor = (1'800'000'000LL + 10) * 1000;
        CHECK(d.drop_inserted_before(floor) == 2);
        CHECK(d.drop_inserted_before(floor - 1) == 0);  // never moves back
        CHECK_FALSE(d.lookup(old1->key()));
        CHECK(same(d.lookup(young->key()), young));
    }
    DiskStore d(settings(dir.path()), clock);
    CHECK(d.inserted_floor() == (1'800'000'000LL + 10) * 1000);
    CHECK_FALSE(d.lookup(old2->key()));
    CHECK(same(d.lookup(young->key()), young));
    CHECK(d.objects() == 1);
}
