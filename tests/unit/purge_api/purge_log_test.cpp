// The file purge log: line codec, append and reopen, torn tails, compaction, group commit.
#include "purge_api/purge_log.hpp"

#include "common/log.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

using namespace cdn;
using namespace cdn::purge_api;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

PurgeDraft tags(std::string v) {
    return PurgeDraft{PurgeKind::tags, {std::move(v)}, false};
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void spit(const fs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

std::int64_t ms(const test::ManualClock& c) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(c.now().time_since_epoch())
        .count();
}

PurgeLogOptions opts(const test::TempDir& dir, std::size_t keep = 1000) {
    PurgeLogOptions o;
    o.dir = dir.path() / "log";
    o.keep = keep;
    return o;
}

}  // namespace

TEST_CASE("log lines: round trip, incomplete prefixes, corruption", "[purge_api][log]") {
    const std::string payload = R"({"seq":1,"x":"y"})";
    const std::string line = encode_frame(payload);
    CHECK(line.starts_with("P1 17 "));
    CHECK(line.back() == '\n');
    const std::string two = line + "P1 trailing";
    const Frame f = decode_frame(two);
    REQUIRE(f.status == FrameStatus::ok);
    CHECK(f.payload == payload);
    CHECK(f.size == line.size());
    for (std::size_t n = 0; n < line.size(); ++n) {
        INFO(n);
        CHECK(decode_frame(line.substr(0, n)).status == FrameStatus::incomplete);
    }
    for (std::size_t i = 0; i < line.size(); ++i) {
        std::string bad = line;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        INFO(i);
        CHECK(decode_frame(bad).status != FrameStatus::ok);
    }
    CHECK(decode_frame("X1 3 0000000000000000 abc\n").status == FrameStatus::corrupt);
    CHECK(decode_frame("P1 99999999999 ").status == FrameStatus::corrupt);
}

TEST_CASE("record and marker payloads parse back", "[purge_api][log]") {
    const PurgeRecordPtr r = make_record(7, "00000000000000ab", 1234,
                                         PurgeDraft{PurgeKind::files, {"https://a/\"x"}, true});
    CHECK(
        r->json ==
        R"({"seq":7,"id":"00000000000000ab","time_ms":1234,"kind":"files","values":["https://a/\"x"],"soft":true})");
    auto back = parse_payload(r->json);
    REQUIRE(back);
    const PurgeRecordPtr& b = std::get<PurgeRecordPtr>(*back);
    CHECK(b->seq == 7);
    CHECK(b->id == r->id);
    CHECK(b->values == r->values);
    CHECK(b->soft);
    CHECK(b->json == r->json);
    auto m = parse_payload(marker_payload(CompactionMarker{9, 99}));
    REQUIRE(m);
    CHECK(std::get<CompactionMarker>(*m).through == 9);
    CHECK(std::get<CompactionMarker>(*m).time_ms == 99);
    CHECK_FALSE(
        parse_payload(R"({"seq":0,"id":"x","time_ms":1,"kind":"tags","values":[],"soft":false})"));
    CHECK_FALSE(
        parse_payload(R"({"seq":1,"id":"x","time_ms":1,"kind":"nope","values":[],"soft":false})"));
    CHECK_FALSE(parse_payload("[1]"));
}

TEST_CASE("appends get 1, 2, 3... and survive a reopen", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    std::vector<PurgeRecordPtr> written;
    {
        FilePurgeLog log(opts(dir), clock);
        CHECK(log.last_seq() == 0);
        std::atomic<std::uint64_t> notified{0};
        log.on_appended([&](std::uint64_t s) { notified = s; });
        for (int i = 0; i < 5; ++i) {
            auto r = append_and_wait(log, tags("t" + std::to_string(i)));
            REQUIRE(r);
            written.push_back(*r);
            clock.advance(10ms);
        }
        CHECK(written[0]->seq == 1);
        CHECK(written[4]->seq == 5);
        CHECK(written[0]->time_ms == ms(clock) - 50);
        CHECK(written[0]->id.size() == 16);
        CHECK(written[0]->id != written[1]->id);
        CHECK(notified == 5);
        CHECK(log.find(written[2]->id) == written[2]);
        CHECK_FALSE(log.find("nope"));
        const LogSlice s = log.read_after(2, 2);
        REQUIRE(s.records.size() == 2);
        CHECK(s.records[0]->seq == 3);
        CHECK(s.last_seq == 5);
        CHECK(s.compacted_through == 0);
        CHECK(log.read_after(5, 10).records.empty());
    }
    FilePurgeLog again(opts(dir), clock);
    CHECK(again.recovery().records == 5);
    CHECK(again.recovery().truncated_bytes == 0);
    CHECK(again.last_seq() == 5);
    const LogSlice all = again.read_after(0, 100);
    REQUIRE(all.records.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
        CHECK(all.records[i]->json == written[i]->json);
        CHECK(all.records[i]->values == written[i]->values);
    }
    CHECK(again.find(written[4]->id));
    auto next = append_and_wait(again, tags("after-restart"));
    REQUIRE(next);
    CHECK((*next)->seq == 6);
}

TEST_CASE("time_ms never goes backwards", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    FilePurgeLog log(opts(dir), clock);
    auto a = append_and_wait(log, tags("a"));
    clock.advance(-5s);
    auto b = append_and_wait(log, tags("b"));
    REQUIRE(a);
    REQUIRE(b);
    CHECK((*b)->time_ms == (*a)->time_ms);
}

TEST_CASE("a torn last line is cut at start-up, wherever the crash hit", "[purge_api][log]") {
    set_log_level(LogLevel::error);  // one warning per cut below
    test::TempDir dir;
    test::ManualClock clock;
    {
        FilePurgeLog log(opts(dir), clock);
        for (int i = 0; i < 3; ++i)
            REQUIRE(append_and_wait(log, tags("tag-" + std::to_string(i))));
    }
    const fs::path file = dir.path() / "log" / FilePurgeLog::kFileName;
    const std::string full = slurp(file);
    const std::size_t last_start = full.rfind("P1 ");
    const std::size_t last_len = full.size() - last_start;
    for (std::size_t keep = 1; keep < last_len; ++keep) {
        INFO("kept " << keep << " of " << last_len << " bytes of the last line");
        spit(file, full.substr(0, last_start + keep));
        FilePurgeLog log(opts(dir), clock);
        CHECK(log.recovery().records == 2);
        CHECK(log.recovery().truncated_bytes == keep);
        CHECK(log.last_seq() == 2);
        CHECK(fs::file_size(file) == last_start);
    }
    // Garbage after a complete line (e.g. a zero-filled block) is cut as well.
    spit(file, full + std::string(4096, '\0'));
    {
        FilePurgeLog log(opts(dir), clock);
        CHECK(log.recovery().records == 3);
        CHECK(log.recovery().truncated_bytes == 4096);
        auto r = append_and_wait(log, tags("next"));
        REQUIRE(r);
        CHECK((*r)->seq == 4);
    }
    FilePurgeLog log(opts(dir), clock);
    CHECK(log.last_seq() == 4);
    CHECK(log.recovery().truncated_bytes == 0);
    set_log_level(LogLevel::info);
}

TEST_CASE("a corrupt line followed by valid ones is refused, not cut", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    {
        FilePurgeLog log(opts(dir), clock);
        for (int i = 0; i < 3; ++i)
            REQUIRE(append_and_wait(log, tags("tag-" + std::to_string(i))));
    }
    const fs::path file = dir.path() / "log" / FilePurgeLog::kFileName;
    std::string data = slurp(file);
    data[data.find("tag-1")] = 'X';  // the checksum of line 2 no longer matches
    spit(file, data);
    CHECK_THROWS_WITH(FilePurgeLog(opts(dir), clock),
                      Catch::Matchers::Contains("followed by valid records"));
    CHECK(slurp(file) == data);  // untouched
}

TEST_CASE("a second process cannot open the same directory", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    FilePurgeLog log(opts(dir), clock);
    CHECK_THROWS_WITH(FilePurgeLog(opts(dir), clock), Catch::Matchers::Contains("in use"));
}

TEST_CASE("compaction keeps the newest records and remembers what it dropped", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    std::vector<PurgeRecordPtr> all;
    {
        FilePurgeLog log(opts(dir, 4), clock);
        for (int i = 1; i <= 10; ++i) {
            auto r = append_and_wait(log, tags("t" + std::to_string(i)));
            REQUIRE(r);
            all.push_back(*r);
            clock.advance(1s);
            // keep + keep/4, plus the latest record (compaction runs after the reply).
            CHECK(log.size() <= 6);
        }
        log.close();  // lets the writer finish a compaction after the last append
        CHECK(log.size() <= 5);
        CHECK(log.compactions() >= 1);
        const LogSlice s = log.read_after(0, 100);
        REQUIRE_FALSE(s.records.empty());
        CHECK(s.records.back()->seq == 10);
        CHECK(s.compacted_through == s.records.front()->seq - 1);
        CHECK(s.compacted_time_ms == all[s.compacted_through - 1]->time_ms);
        CHECK_FALSE(log.find(all[0]->id));
        CHECK(log.find(all[9]->id));
    }
    FilePurgeLog log(opts(dir, 4), clock);
    const LogSlice s = log.read_after(0, 100);
    CHECK(s.compacted_through >= 5);
    CHECK(s.records.front()->seq == s.compacted_through + 1);
    CHECK(s.records.back()->seq == 10);
    CHECK(s.compacted_time_ms == all[s.compacted_through - 1]->time_ms);
    CHECK_FALSE(fs::exists(dir.path() / "log" / "purge.log.tmp"));
    auto r = append_and_wait(log, tags("eleven"));
    REQUIRE(r);
    CHECK((*r)->seq == 11);
    // A reader ahead of the compaction point sees no gap.
    CHECK(log.read_after(9, 10).records.front()->seq == 10);
}

TEST_CASE("concurrent appends share one fdatasync (group commit)", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    constexpr int kThreads = 8;
    FilePurgeLog* self = nullptr;
    std::atomic<int> syncs{0};
    PurgeLogOptions o = opts(dir);
    // The first commit waits (on the writer thread) until every other append is queued, so the
    // second commit must take all of them at once.
    o.before_sync = [&] {
        if (syncs++ != 0) return;
        while (self->queued() < kThreads - 1)
            std::this_thread::yield();
    };
    FilePurgeLog log(std::move(o), clock);
    self = &log;
    std::vector<std::thread> threads;
    std::vector<std::uint64_t> seqs(kThreads);
    std::atomic<bool> first_done{false};
    threads.emplace_back([&] {
        seqs[0] = (*append_and_wait(log, tags("first")))->seq;
        first_done = true;
    });
    while (syncs.load() == 0)
        std::this_thread::yield();
    for (int t = 1; t < kThreads; ++t)
        threads.emplace_back([&, t] { seqs[t] = (*append_and_wait(log, tags("t")))->seq; });
    for (auto& t : threads)
        t.join();
    CHECK(log.fsyncs() == 2);
    CHECK(std::set<std::uint64_t>(seqs.begin(), seqs.end()).size() == kThreads);
    CHECK(log.last_seq() == kThreads);
}

TEST_CASE("many threads, many appends: every seq once, in file order", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    constexpr int kThreads = 8, kEach = 50;
    {
        FilePurgeLog log(opts(dir), clock);
        std::vector<std::thread> threads;
        std::mutex mu;
        std::set<std::uint64_t> seen;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < kEach; ++i) {
                    auto r = append_and_wait(log, tags("x"));
                    REQUIRE(r);
                    std::lock_guard lk(mu);
                    seen.insert((*r)->seq);
                }
            });
        for (auto& t : threads)
            t.join();
        CHECK(seen.size() == kThreads * kEach);
        CHECK(*seen.rbegin() == kThreads * kEach);
        CHECK(log.fsyncs() <= kThreads * kEach);
    }
    FilePurgeLog log(opts(dir), clock);
    CHECK(log.last_seq() == kThreads * kEach);
}

TEST_CASE("appends after close fail instead of hanging", "[purge_api][log]") {
    test::TempDir dir;
    test::ManualClock clock;
    FilePurgeLog log(opts(dir), clock);
    log.close();
    CHECK_FALSE(append_and_wait(log, tags("late")));
}

TEST_CASE("an Idempotency-Key makes a retried append return the first purge",
          "[purge_api][log][idempotency]") {
    test::TempDir dir;
    test::ManualClock clock;
    FilePurgeLog log(opts(dir), clock);
    auto request = [](std::string tag, std::string key) {
        AppendRequest r;
        r.draft = tags(std::move(tag));
        r.idempotency_key = std::move(key);
        r.fingerprint = purge_fingerprint(r.draft);
        return r;
    };
    const AppendResult first = submit_and_wait(log, request("a", "k-1"));
    REQUIRE(first.status == AppendStatus::appended);
    const AppendResult again = submit_and_wait(log, request("a", "k-1"));
    REQUIRE(again.status == AppendStatus::replayed);
    CHECK(again.record->id == first.record->id);
    CHECK(again.record->seq == first.record->seq);
    CHECK(log.last_seq() == 1);  // not logged twice
    // The same key for another purge is refused; another key is a new purge.
    CHECK(submit_and_wait(log, request("b", "k-1")).status == AppendStatus::key_reused);
    CHECK(submit_and_wait(log, request("a", "k-2")).status == AppendStatus::appended);
    CHECK(log.last_seq() == 2);

    // Two appends with one key in one batch: one purge, both answered with it.
    std::promise<AppendResult> p1, p2;
    log.submit(request("c", "k-3"), [&](AppendResult r) { p1.set_value(std::move(r)); });
    log.submit(request("c", "k-3"), [&](AppendResult r) { p2.set_value(std::move(r)); });
    const AppendResult r1 = p1.get_future().get(), r2 = p2.get_future().get();
    REQUIRE(r1.record);
    REQUIRE(r2.record);
    CHECK(r1.record->seq == r2.record->seq);
    CHECK(log.last_seq() == 3);

    // A purge whose deadline passed before it was written is not applied.
    AppendRequest late = request("d", "");
    late.deadline = std::chrono::steady_clock::now() - 1s;
    CHECK(submit_and_wait(log, std::move(late)).status == AppendStatus::not_applied);
    CHECK(log.last_seq() == 3);
}

TEST_CASE("purge fingerprints and idempotency keys", "[purge_api][idempotency]") {
    const PurgeDraft a{PurgeKind::tags, {"ab", "c"}, false};
    const PurgeDraft b{PurgeKind::tags, {"a", "bc"}, false};
    const PurgeDraft soft{PurgeKind::tags, {"ab", "c"}, true};
    CHECK(purge_fingerprint(a) == purge_fingerprint(a));
    CHECK(purge_fingerprint(a) != purge_fingerprint(b));
    CHECK(purge_fingerprint(a) != purge_fingerprint(soft));
    CHECK(purge_fingerprint(a).size() == 16);
    CHECK(valid_idempotency_key("8e03978e-40d5-43e8-bc93-6894a57f9324"));
    CHECK_FALSE(valid_idempotency_key(""));
    CHECK_FALSE(valid_idempotency_key("with space"));
    CHECK_FALSE(valid_idempotency_key(std::string(256, 'k')));
    CHECK_FALSE(valid_idempotency_key("tab\there"));
}
