// Durable replacement of a file's content (common/durable_file.hpp).
#include "common/durable_file.hpp"

#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace cdn;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::size_t entries(const fs::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("a durable write creates, then replaces, a file's whole content", "[durable_file]") {
    cdn::test::TempDir dir;
    const fs::path p = dir.path() / "state";
    DurableWrite w = replace_file_durably(p, "first version, long\n");
    REQUIRE(w.ok());
    CHECK(w.replaced);
    CHECK(w.fd == -1);
    CHECK(slurp(p) == "first version, long\n");
    w = replace_file_durably(p, "second\n");
    REQUIRE(w.ok());
    CHECK(slurp(p) == "second\n");  // no tail of the longer old content
    w = replace_file_durably(p, "");
    REQUIRE(w.ok());
    CHECK(slurp(p).empty());
    CHECK(entries(dir.path()) == 1);  // no PATH.tmp left
}

TEST_CASE("a durable write can hand back the new file for appending", "[durable_file]") {
    cdn::test::TempDir dir;
    const fs::path p = dir.path() / "log";
    DurableWrite w = replace_file_durably(p, "head\n", DurableOptions{.keep_open = true});
    REQUIRE(w.ok());
    REQUIRE(w.fd >= 0);
    CHECK(::write(w.fd, "more\n", 5) == 5);
    ::close(w.fd);
    CHECK(slurp(p) == "head\nmore\n");
}

TEST_CASE("a failed durable write names the path, keeps the old content and leaves no temp file",
          "[durable_file]") {
    cdn::test::TempDir dir;
    SECTION("the directory does not exist") {
        const fs::path p = dir.path() / "missing" / "state";
        const DurableWrite w = replace_file_durably(p, "x");
        CHECK_FALSE(w.ok());
        CHECK_FALSE(w.replaced);
        CHECK(w.err != 0);
        CHECK(w.error.find(p.string() + ".tmp") != std::string::npos);
        CHECK(w.error.find("open failed") != std::string::npos);
    }
    SECTION("the rename fails (the target is a non-empty directory)") {
        const fs::path p = dir.path() / "state";
        fs::create_directory(p);
        std::ofstream(p / "inside") << "keep";
        const DurableWrite w = replace_file_durably(p, "new content");
        CHECK_FALSE(w.ok());
        CHECK_FALSE(w.replaced);
        CHECK(w.fd == -1);
        CHECK(w.error.find("rename") != std::string::npos);
        CHECK(w.error.find(p.string()) != std::string::npos);
        CHECK_FALSE(fs::exists(p.string() + ".tmp"));
        CHECK(slurp(p / "inside") == "keep");
        CHECK(entries(dir.path()) == 1);
    }
    SECTION("the old content stays when the write cannot start") {
        const fs::path p = dir.path() / "state";
        REQUIRE(replace_file_durably(p, "old").ok());
        // A directory where PATH.tmp would go: open fails, PATH is untouched.
        fs::create_directory(p.string() + ".tmp");
        const DurableWrite w = replace_file_durably(p, "new");
        CHECK_FALSE(w.ok());
        CHECK(slurp(p) == "old");
        fs::remove(p.string() + ".tmp");
    }
}

TEST_CASE("fsync_directory reports a directory it cannot open", "[durable_file]") {
    cdn::test::TempDir dir;
    CHECK(fsync_directory(dir.path()).empty());
    const std::string e = fsync_directory(dir.path() / "nope");
    CHECK(e.find((dir.path() / "nope").string()) != std::string::npos);
    CHECK(directory_of("file") == fs::path("."));
    CHECK(directory_of("/a/b") == fs::path("/a"));
}
