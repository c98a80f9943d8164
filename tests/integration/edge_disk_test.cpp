// The disk tier of a real edge: what it keeps across a clean stop and a kill -9, what it does
// with records corrupted on disk, and how it rides out a disk that is missing, full or
// read-only (serving from memory, then taking writes again).
//
// Memory is 1 MiB in one shard, so objects of 20-60 KB are pushed out of memory (in the order
// they came: S3-FIFO with one-hit objects, or LRU) and, with admission = "all", onto the disk.
#include "origin_sim/body.hpp"
#include "tests/integration/cluster.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace cdn::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kAdmitted = "cdn_edge_disk_admissions_total{result=\"admitted\"}";
const std::string kWrites = "cdn_edge_disk_writes_total";
const std::string kDegraded = "cdn_edge_disk_degraded";
const std::string kRecovered = "cdn_edge_disk_recovered_objects";
const std::string kDiskHits = "cdn_edge_disk_lookups_total{result=\"hit\"}";
const std::string kDiskObjects = "cdn_edge_cache_objects{tier=\"disk\"}";
const std::string kCorrupt = "cdn_edge_disk_corrupt_records_total";
const std::string kWriteErrors = "cdn_edge_disk_errors_total{op=\"write\"}";
const std::string kDropped = "cdn_edge_disk_dropped_total";

// One origin_sim object: its body is make_body(path, 1, size).
struct Obj {
    std::string path;
    std::size_t size = 0;
    std::string target() const {
        return path + "?size=" + std::to_string(size) + "&cc=max-age%3D600";
    }
    std::string body() const { return cdn::origin_sim::make_body(path, 1, size); }
};

// Compared as a whole, without printing 50 KB bodies when they differ.
bool same_body(const Response& r, const std::string& expected) {
    return r.body() == expected;
}

// n objects of 20 KB to 56 KB.
std::vector<Obj> objects(const std::string& prefix, int n) {
    std::vector<Obj> out;
    for (int i = 0; i < n; ++i)
        out.push_back({"/disk/" + prefix + std::to_string(i) + ".bin",
                       20000 + static_cast<std::size_t>(i % 10) * 4000});
    return out;
}

std::string disk_config(const fs::path& disk, const std::string& extra = {}) {
    return "[cache]\nmemory = \"1MiB\"\nshards = 1\n" + extra + "\n[cache.disk]\npath = \"" +
           disk.string() +
           "\"\nsize = \"16MiB\"\nsegment_size = \"1MiB\"\nadmission = \"all\"\n"
           "retry_interval = \"200ms\"\n";
}

// Requests every object and checks that it came from the origin with the right bytes.
void fetch_all_miss(HttpClient& c, const std::vector<Obj>& objs) {
    for (const Obj& o : objs) {
        INFO(o.target());
        auto r = c.get(o.target());
        REQUIRE(r.result_int() == 200);
        CHECK(header(r, "X-Cache") == "MISS");
        CHECK(same_body(r, o.body()));
    }
}

// Requests fresh filler objects until the memory tier has handed at least `admitted` objects to
// the disk tier (memory evicts in arrival order, so the oldest objects go first).
void push_out(HttpClient& c, Edge& e, double admitted, int& next) {
    for (int i = 0; i < 300 && e.metric(kAdmitted) < admitted; ++i) {
        const Obj filler{"/disk/filler" + std::to_string(next++) + ".bin", 150000};
        REQUIRE(c.get(filler.target()).result_int() == 200);
    }
    REQUIRE(eventually([&] { return e.metric(kAdmitted) >= admitted; }));
}

// Everything the memory tier has handed over is on disk (nothing dropped on the way).
bool written(Edge& e) {
    const double admitted = e.metric(kAdmitted);
    return admitted > 0 && e.metric(kWrites) >= admitted;
}

// True once everything admitted since (admitted0, writes0) was sampled has been written.
bool caught_up(Edge& e, double admitted0, double writes0) {
    const double admitted = e.metric(kAdmitted);
    return admitted > admitted0 && e.metric(kWrites) - writes0 >= admitted - admitted0;
}

struct Recovery {
    std::uint64_t objects = 0, segments = 0, summaries = 0, scanned = 0, discarded = 0;
};

// The start-up line "disk tier DIR: N objects from S segments (F from summaries, X scanned, D
// discarded) in T ms; capacity C".
Recovery recovery_line(Edge& e) {
    e.process().wait_for_log(" discarded) in ");
    static const std::regex re(
        R"(disk tier \S+: (\d+) objects from (\d+) segments \((\d+) from summaries, (\d+) )"
        R"(scanned, (\d+) discarded\))");
    std::smatch m;
    const std::string log = e.process().log();
    REQUIRE(std::regex_search(log, m, re));
    return {std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]),
            std::stoull(m[5])};
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
        ++n;
    return n;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// XORs one byte of a file in place.
void flip_byte(const fs::path& p, std::size_t offset) {
    std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    REQUIRE(f);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x5a));
    REQUIRE(f.good());
}

// Where the middle of an object's body is in cache.dat (it must be there exactly once).
std::size_t body_middle(const std::string& data, const Obj& o) {
    const std::string body = o.body();
    const std::string needle = body.substr(body.size() / 2 - 32, 64);
    const auto pos = data.find(needle);
    REQUIRE(pos != std::string::npos);
    REQUIRE(data.find(needle, pos + 1) == std::string::npos);
    return pos + 32;
}

// An origin and a disk directory; fill() runs the objects `a` through an edge onto its disk.
struct DiskFixture {
    TempDir dir;
    OriginSim origin{dir};
    fs::path disk = dir.path() / "disk";
    std::string config = disk_config(disk);
    std::vector<Obj> a = objects("a", 10);
    int next = 0;

    // a from the origin, pushed out of memory onto disk (and written), one served from there.
    void fill(Edge& edge, HttpClient& c) {
        fetch_all_miss(c, a);
        push_out(c, edge, static_cast<double>(a.size()), next);
        // Give the writer time to take everything admitted so far.
        REQUIRE(eventually([&] { return written(edge); }));
        CHECK(edge.metric(kDiskObjects) >= static_cast<double>(a.size()));
        auto r = c.get(a[0].target());
        CHECK(header(r, "X-Cache") == "HIT");
        CHECK(same_body(r, a[0].body()));
        CHECK(edge.metric(kDiskHits) >= 1);
        CHECK(origin.count(a[0].target()) == 1);
    }

    void fill_and_stop() {
        Edge edge(dir, origin.url(), config);
        HttpClient c(edge.port());
        fill(edge, c);
        REQUIRE(edge.process().terminate() == 0);
        CHECK_THAT(edge.process().log(), !Contains(" warn "));
    }

    // A restarted edge answers every object of a from disk, without asking the origin.
    void all_hits(Edge& edge) {
        const std::uint64_t fetched = origin.total();
        HttpClient c(edge.port());
        for (const Obj& o : a) {
            INFO(o.target());
            auto r = c.get(o.target());
            REQUIRE(r.result_int() == 200);
            CHECK(header(r, "X-Cache") == "HIT");
            CHECK(same_body(r, o.body()));
            CHECK(origin.count(o.target()) == 1);
        }
        CHECK(origin.total() == fetched);
        CHECK(edge.metric(kDiskHits) >= static_cast<double>(a.size()));
        CHECK(edge.metric(kCorrupt) == 0);
    }
};

}  // namespace

TEST_CASE_METHOD(DiskFixture, "disk: a clean stop keeps the disk tier for the next start",
                 "[edge][disk]") {
    fill_and_stop();
    // The clean stop summarised the active segment, so start-up reads no record headers.
    CHECK(fs::exists(disk / "seg-00000.idx"));
    CHECK(fs::exists(disk / "cache.dat"));

    Edge edge(dir, origin.url(), config);
    const Recovery rec = recovery_line(edge);
    CHECK(rec.objects >= a.size());
    CHECK(rec.summaries >= 1);
    CHECK(rec.scanned == 0);
    CHECK(rec.discarded == 0);
    CHECK(edge.metric(kRecovered) >= static_cast<double>(a.size()));
    all_hits(edge);
}

TEST_CASE_METHOD(DiskFixture, "disk: objects written before a kill -9 are served after it",
                 "[edge][disk]") {
    {
        Edge edge(dir, origin.url(), config);
        HttpClient c(edge.port());
        fill(edge, c);
        // Killed while serving (and while more objects are on their way to disk).
        std::atomic<bool> stop{false};
        std::atomic<int> served{0};
        const std::uint16_t port = edge.port();
        std::thread load([&, n = next] {
            for (int i = n; !stop.load(); ++i) {
                try {
                    const Obj o{"/disk/late" + std::to_string(i) + ".bin", 8000};
                    if (http_get(port, o.target()).result_int() == 200) ++served;
                } catch (...) {
                    std::this_thread::sleep_for(10ms);
                }
            }
        });
        const bool busy = eventually([&] { return served.load() >= 10; });
        edge.process().kill_hard();
        stop = true;
        load.join();
        REQUIRE(busy);
        CHECK(edge.process().wait_exit(0ms) == 128 + SIGKILL);
    }

    Edge edge(dir, origin.url(), config);
    const Recovery rec = recovery_line(edge);
    CHECK(rec.objects >= a.size());
    CHECK(rec.scanned >= 1);  // no summary for the active segment: read record by record
    CHECK(rec.discarded == 0);
    CHECK(edge.metric(kRecovered) >= static_cast<double>(a.size()));
    all_hits(edge);
}

TEST_CASE_METHOD(DiskFixture, "disk: a corrupted record is refetched, never served",
                 "[edge][disk]") {
    fill_and_stop();
    const fs::path data_path = disk / "cache.dat";
    const std::string data = read_file(data_path);
    // A byte in the middle of three bodies.
    const std::vector<std::size_t> bodies = {1, 4, 7};
    for (std::size_t i : bodies)
        flip_byte(data_path, body_middle(data, a[i]));
    // And a byte in the header of a fourth record (its generation field): the record header
    // ("CDNR", version 1) is the last one before its body.
    const std::size_t headed = 9;
    const std::size_t body_at = body_middle(data, a[headed]) - a[headed].size / 2;
    const std::string magic("CDNR\x01\x00", 6);
    const auto header_at = data.rfind(magic, body_at);
    REQUIRE(header_at != std::string::npos);
    REQUIRE(body_at - header_at < 4096);
    flip_byte(data_path, header_at + 40);

    Edge edge(dir, origin.url(), config);
    CHECK(recovery_line(edge).objects >= a.size());
    HttpClient c(edge.port());
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool corrupted =
            i == headed || std::find(bodies.begin(), bodies.end(), i) != bodies.end();
        INFO(a[i].target() << (corrupted ? " (corrupted)" : ""));
        auto r = c.get(a[i].target());
        REQUIRE(r.result_int() == 200);
        CHECK(same_body(r, a[i].body()));
        CHECK(header(r, "X-Cache") == (corrupted ? "MISS" : "HIT"));
        CHECK(origin.count(a[i].target()) == (corrupted ? 2u : 1u));
    }
    CHECK(edge.metric(kCorrupt) == 4);
    CHECK(occurrences(edge.process().log(), "failed its checksum") == 1);
    // The refetched copies are good.
    std::vector<std::size_t> all = bodies;
    all.push_back(headed);
    for (std::size_t i : all) {
        auto r = c.get(a[i].target());
        CHECK(header(r, "X-Cache") == "HIT");
        CHECK(same_body(r, a[i].body()));
    }
}

TEST_CASE("disk: a disk path that is a file leaves the edge serving from memory",
          "[edge][disk][fault]") {
    TempDir dir;
    OriginSim origin(dir);
    const std::string file = dir.write("not-a-directory", "precious");
    Edge edge(dir, origin.url(), disk_config(file));
    CHECK_THAT(edge.process().wait_for_log("creating the directory failed: "),
               Contains("serving from memory, retrying every 200 ms"));
    CHECK(recovery_line(edge).objects == 0);
    CHECK(edge.metric(kDegraded) == 1);

    HttpClient c(edge.port());
    const auto objs = objects("m", 5);
    fetch_all_miss(c, objs);
    for (const Obj& o : objs) {
        auto r = c.get(o.target());
        CHECK(header(r, "X-Cache") == "HIT");
        CHECK(same_body(r, o.body()));
    }
    // Evictions keep reaching the disk tier, which refuses them and retries the directory
    // (every 200 ms): after a few intervals, still one warning. (A fixed span on purpose: what
    // is checked is that nothing more happens.)
    int next = 0;
    const auto until = std::chrono::steady_clock::now() + 1200ms;
    while (std::chrono::steady_clock::now() < until)
        push_out(c, edge, edge.metric(kAdmitted) + 1, next);
    CHECK(edge.metric(kDropped) > 0);
    CHECK(edge.metric(kWrites) == 0);
    CHECK(edge.metric(kDegraded) == 1);
    CHECK(occurrences(edge.process().log(), "serving from memory") == 1);
    CHECK(read_file(file) == "precious");
    CHECK(http_get(edge.admin_port(), "/healthz").result_int() == 200);
}

namespace {

// A tmpfs mounted for one test (needs root); unmounted on destruction.
class Tmpfs {
  public:
    Tmpfs(fs::path at, const std::string& size) : at_(std::move(at)) {
        fs::create_directories(at_);
        if (geteuid() != 0) return;
        try {
            mounted_ =
                run_command({"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", at_.string()})
                    .status == 0;
        } catch (const std::exception&) {
            mounted_ = false;
        }
    }
    ~Tmpfs() {
        if (!mounted_) return;
        try {
            if (run_command({"umount", at_.string()}).status != 0)
                run_command({"umount", "-l", at_.string()});
        } catch (const std::exception&) {
        }
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;

    bool mounted() const { return mounted_; }
    const fs::path& path() const { return at_; }
    bool remount(const char* mode) {
        return run_command({"mount", "-o", std::string("remount,") + mode, at_.string()}).status ==
               0;
    }

  private:
    fs::path at_;
    bool mounted_ = false;
};

// Writes a file until the file system is full; returns the bytes written.
std::uint64_t fill_up(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    const std::string chunk(64 * 1024, 'f');
    std::uint64_t total = 0;
    for (;;) {
        const ssize_t w = ::write(fd, chunk.data(), chunk.size());
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        total += static_cast<std::uint64_t>(w);
    }
    ::close(fd);
    return total;
}

}  // namespace

TEST_CASE("disk: a full disk degrades the tier until space is freed", "[edge][disk][fault]") {
    TempDir dir;
    OriginSim origin(dir);
    Tmpfs mnt(dir.path() / "mnt", "6m");
    if (!mnt.mounted()) {
        WARN("skipped: needs root and a working `mount -t tmpfs`");
        return;
    }
    const fs::path disk = mnt.path() / "cache";
    Edge edge(dir, origin.url(), disk_config(disk, "policy = \"lru\"\n"));
    CHECK(recovery_line(edge).objects == 0);
    CHECK(edge.metric(kDegraded) == 0);
    // Nothing is allocated yet (cache.dat is sparse): fill the file system first.
    CHECK(fill_up(mnt.path() / "filler") > 0);

    HttpClient c(edge.port());
    const auto objs = objects("f", 10);
    fetch_all_miss(c, objs);
    int next = 0;
    push_out(c, edge, 1, next);
    REQUIRE(eventually([&] { return edge.metric(kDegraded) == 1; }));
    CHECK(edge.metric(kWriteErrors) > 0);
    CHECK_THAT(edge.process().wait_for_log("allocating a segment failed: "),
               Contains("No space left on device"));
    // Still serving: from the origin, and from memory.
    const auto more = objects("g", 3);
    fetch_all_miss(c, more);
    for (const Obj& o : more) {
        auto r = c.get(o.target());
        CHECK(header(r, "X-Cache") == "HIT");
        CHECK(same_body(r, o.body()));
    }
    push_out(c, edge, edge.metric(kAdmitted) + 3, next);
    CHECK(edge.metric(kDropped) > 0);
    CHECK(edge.metric(kDegraded) == 1);
    CHECK(occurrences(edge.process().log(), "serving from memory") == 1);

    // Space again: the tier comes back by itself and takes writes.
    fs::remove(mnt.path() / "filler");
    REQUIRE(eventually([&] { return edge.metric(kDegraded) == 0; }));
    edge.process().wait_for_log("writable again");
    // Whatever memory hands over from now on is written (nothing is dropped any more).
    const double writes = edge.metric(kWrites);
    const double admitted = edge.metric(kAdmitted);
    // Objects requested now go to disk once everything older has left memory.
    const auto later = objects("h", 3);
    const double in_memory = edge.metric("cdn_edge_cache_objects{tier=\"memory\"}");
    fetch_all_miss(c, later);
    // (+2: an insert the memory count may not have shown yet.)
    push_out(c, edge, admitted + in_memory + static_cast<double>(later.size()) + 2, next);
    REQUIRE(eventually([&] { return caught_up(edge, admitted, writes); }));
    CHECK(edge.metric(kDegraded) == 0);
    for (const Obj& o : later) {
        auto r = c.get(o.target());
        CHECK(header(r, "X-Cache") == "HIT");
        CHECK(same_body(r, o.body()));
        CHECK(origin.count(o.target()) == 1);
    }
    CHECK(edge.metric(kDiskHits) >= static_cast<double>(later.size()));
}

TEST_CASE("disk: a read-only disk degrades the tier until it is writable", "[edge][disk][fault]") {
    TempDir dir;
    OriginSim origin(dir);
    Tmpfs mnt(dir.path() / "mnt", "8m");
    if (!mnt.mounted()) {
        WARN("skipped: needs root and a working `mount -t tmpfs`");
        return;
    }
    const fs::path disk = mnt.path() / "cache";
    const std::string config = disk_config(disk);
    const auto a = objects("a", 10);
    int next = 0;
    {
        Edge edge(dir, origin.url(), config);
        HttpClient c(edge.port());
        fetch_all_miss(c, a);
        push_out(c, edge, static_cast<double>(a.size()), next);
        REQUIRE(eventually([&] { return written(edge); }));
        REQUIRE(edge.process().terminate() == 0);
    }
    // (A running edge holds cache.dat open for writing, and Linux refuses to remount a file
    // system read-only under an open writer, so the edge starts on the read-only disk.)
    REQUIRE(mnt.remount("ro"));
    Edge edge(dir, origin.url(), config);
    // (The first file it opens is the directory's LOCK.)
    CHECK_THAT(edge.process().wait_for_log("opening LOCK failed: "),
               Contains("Read-only file system"));
    CHECK(recovery_line(edge).objects == 0);
    CHECK(edge.metric(kDegraded) == 1);
    CHECK(edge.metric(kRecovered) == 0);
    HttpClient c(edge.port());
    // Serves from the origin meanwhile.
    auto r = c.get(a[0].target());
    CHECK(r.result_int() == 200);
    CHECK(header(r, "X-Cache") == "MISS");
    CHECK(same_body(r, a[0].body()));

    REQUIRE(mnt.remount("rw"));
    REQUIRE(eventually([&] { return edge.metric(kDegraded) == 0; }));
    edge.process().wait_for_log("writable again");
    CHECK_THAT(edge.process().log(), Contains("recovered "));
    CHECK(edge.metric(kRecovered) >= static_cast<double>(a.size()));
    // What the disk held before is served again.
    for (std::size_t i = 1; i < a.size(); ++i) {
        auto hit = c.get(a[i].target());
        CHECK(header(hit, "X-Cache") == "HIT");
        CHECK(same_body(hit, a[i].body()));
        CHECK(origin.count(a[i].target()) == 1);
    }
    CHECK(occurrences(edge.process().log(), "serving from memory") == 1);
}

// Regression: when the disk is unusable at start-up, DiskStore::recover() is deferred to the
// first successful retry. It used to find the older copy of a key fetched anew meanwhile and
// serve it again (its index was empty, so the new version could not drop it, and the object
// sequence had not been advanced past what the disk held). Now keys stored or dropped while the
// disk was away are dropped from what the late recovery finds, and sequences start at the clock.
TEST_CASE("disk: a new version fetched while the disk was read-only is not undone by the old copy",
          "[edge][disk][fault]") {
    TempDir dir;
    OriginSim origin(dir);
    Tmpfs mnt(dir.path() / "mnt", "8m");
    if (!mnt.mounted()) {
        WARN("skipped: needs root and a working `mount -t tmpfs`");
        return;
    }
    const std::string config = disk_config(mnt.path() / "cache");
    const Obj x{"/disk/x.bin", 30000};
    int next = 0;
    {
        Edge edge(dir, origin.url(), config);
        HttpClient c(edge.port());
        fetch_all_miss(c, {x});
        push_out(c, edge, 1, next);
        REQUIRE(eventually([&] { return written(edge); }));
        REQUIRE(edge.process().terminate() == 0);
    }
    REQUIRE(mnt.remount("ro"));
    // The origin publishes version 2 of x.
    HttpClient oc(origin.port());
    REQUIRE(oc.request("POST", "/_version?path=" + url_encode(x.path)).result_int() == 200);
    const std::string v2 = cdn::origin_sim::make_body(x.path, 2, x.size);

    Edge edge(dir, origin.url(), config);
    REQUIRE(edge.metric(kDegraded) == 1);
    HttpClient c(edge.port());
    auto fresh = c.get(x.target());
    CHECK(header(fresh, "X-Cache") == "MISS");
    REQUIRE(same_body(fresh, v2));

    REQUIRE(mnt.remount("rw"));
    REQUIRE(eventually([&] { return edge.metric(kDegraded) == 0; }));
    REQUIRE(edge.metric(kRecovered) >= 1);
    // x (the oldest object in memory) leaves memory; whatever is admitted gets written.
    const double writes = edge.metric(kWrites);
    const double admitted = edge.metric(kAdmitted);
    push_out(c, edge, admitted + 2, next);
    REQUIRE(eventually([&] { return caught_up(edge, admitted, writes); }));
    // Having served version 2, the edge must not go back to version 1.
    auto again = c.get(x.target());
    REQUIRE(again.result_int() == 200);
    INFO("X-Cache: " << header(again, "X-Cache") << ", disk hits " << edge.metric(kDiskHits));
    CHECK(same_body(again, v2));
    CHECK_FALSE(same_body(again, x.body()));
}

namespace {

// The peak resident set of a process (VmHWM), in KiB.
std::uint64_t peak_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
    FAIL("no VmHWM in /proc/" << pid << "/status");
    return 0;
}

}  // namespace

// Regression: EdgeHandler::fill() used to read the origin body into a fresh 64 KiB string per
// read and keep its capacity, while Beast read the origin 512 bytes at a time: a 1 MB miss held
// ~150 MB until the fill ended. The read buffer is now reserved and reused.
TEST_CASE("edge: filling a 1 MB object costs memory in proportion to its size", "[edge][fill]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    const pid_t pid = edge.process().pid();
    const std::uint64_t before = peak_rss_kib(pid);
    const Obj big{"/big.bin", 1000000};
    auto r = http_get(edge.port(), big.target());
    REQUIRE(r.result_int() == 200);
    CHECK(same_body(r, big.body()));
    REQUIRE(eventually(
        [&] { return header(http_get(edge.port(), big.target()), "X-Cache") == "HIT"; }));
    const std::uint64_t grown = peak_rss_kib(pid) - before;
    INFO("peak RSS grew by " << grown / 1024 << " MiB for a 1 MB object");
    // The body a few times over (pieces, the stored copy, sanitizer bookkeeping) is fine.
    CHECK(grown < 64 * 1024);
}
