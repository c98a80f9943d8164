#include "common/log_file.hpp"

#include <catch2/catch.hpp>

#include <atomic>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace cdn;
namespace fs = std::filesystem;

namespace {

struct TmpDir {
    fs::path path;
    TmpDir() {
        std::string tmpl = (fs::temp_directory_path() / "cdn-log-file-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TmpDir() { fs::remove_all(path); }
};

std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("a log file gets whole lines, created 0640, appended to", "[log_file]") {
    TmpDir dir;
    const fs::path file = dir.path / "access.log";
    { std::ofstream(file) << "already there\n"; }
    {
        auto w = LogWriter::to_file(file);
        w->write("one\n");
        w->write("two\nthree\n");
    }  // the destructor writes what is buffered
    CHECK(lines_of(file) == std::vector<std::string>{"already there", "one", "two", "three"});

    const fs::path fresh = dir.path / "new.log";
    const mode_t old = ::umask(0);
    auto w = LogWriter::to_file(fresh);
    ::umask(old);
    struct stat st {};
    REQUIRE(::stat(fresh.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    w->write("x\n");
    w->flush();
    CHECK(lines_of(fresh) == std::vector<std::string>{"x"});

    CHECK_THROWS_AS(LogWriter::to_file(dir.path / "no-such-dir" / "a.log"), std::system_error);
}

TEST_CASE("reopen after a rename: nothing lost, nothing twice, in order", "[log_file]") {
    TmpDir dir;
    const fs::path file = dir.path / "access.log";
    auto w = LogWriter::to_file(file, {.flush_interval = std::chrono::milliseconds(5)});
    // Two threads write all the time the file is renamed and reopened, five times.
    std::atomic<bool> done{false};
    std::atomic<int> written[2] = {0, 0};
    auto writer = [&](int t) {
        while (!done.load() || written[t] < 1000) {
            w->write(std::string(1, t == 0 ? 'a' : 'b') + std::to_string(written[t]) + "\n");
            ++written[t];
        }
    };
    std::thread a(writer, 0), b(writer, 1);
    std::vector<fs::path> rotated;
    auto total = [&] { return written[0].load() + written[1].load(); };
    // Lines go into each file: wait until the writers made some since the last rotation (not a
    // fixed sleep: on a loaded machine the writer threads may not run for a while).
    auto some_lines = [&] {
        const int before = total();
        const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (total() < before + 50 && std::chrono::steady_clock::now() < bound)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    for (int r = 0; r < 5; ++r) {
        some_lines();
        const fs::path to = dir.path / ("access.log." + std::to_string(r));
        fs::rename(file, to);
        rotated.push_back(to);
        w->reopen();
        w->flush();  // the reopen is done: the next rename moves the new file
    }
    some_lines();  // the file open last gets lines too (the writers may have been descheduled)
    done = true;
    a.join();
    b.join();
    w->flush();
    rotated.push_back(file);
    CHECK(w->reopens() == 5);
    CHECK(w->dropped() == 0);
    for (const auto& f : rotated)
        CHECK_FALSE(lines_of(f).empty());  // every file got lines: the writers ran throughout

    std::multiset<std::string> seen;
    int last_a = -1, last_b = -1;
    for (const auto& f : rotated) {
        for (const auto& l : lines_of(f)) {
            seen.insert(l);
            // Each thread's lines stay in order across the files.
            int& last = l[0] == 'a' ? last_a : last_b;
            const int n = std::stoi(l.substr(1));
            CHECK(n == last + 1);
            last = n;
        }
    }
    CHECK(seen.size() == static_cast<std::size_t>(written[0] + written[1]));
    CHECK(last_a == written[0] - 1);
    CHECK(last_b == written[1] - 1);
}

TEST_CASE("a failed reopen keeps writing to the file open before", "[log_file]") {
    TmpDir dir;
    fs::create_directory(dir.path / "logs");
    const fs::path file = dir.path / "logs" / "access.log";
    auto w = LogWriter::to_file(file);
    w->write("before\n");
    fs::rename(dir.path / "logs", dir.path / "moved");  // the path cannot be opened any more
    w->reopen();
    w->write("after\n");
    w->flush();
    CHECK(w->reopens() == 0);
    CHECK(lines_of(dir.path / "moved" / "access.log") ==
          std::vector<std::string>{"before", "after"});
}

TEST_CASE("a full buffer drops lines instead of blocking, and counts them", "[log_file]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    // stdout stands in for a reader that has stopped reading: a pipe nobody drains.
    std::fflush(stdout);
    const int saved = ::dup(STDOUT_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    std::uint64_t dropped = 0;
    {
        auto w = LogWriter::to_stdout(
            {.flush_interval = std::chrono::milliseconds(1), .max_buffer = 4096});
        const std::string line(1000, 'x');
        for (int i = 0; i < 2000; ++i)
            w->write(line + "\n");  // returns at once though nothing drains the pipe
        dropped = w->dropped();
        // The reader goes away: the blocked write fails with EPIPE (no SIGPIPE), and the rest
        // is dropped too.
        ::close(fds[0]);
    }
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
    ::close(fds[1]);
    CHECK(dropped > 1000);
}
