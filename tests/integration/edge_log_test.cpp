// The access log a real edge writes (logfmt, JSON, combined; stdout or a file reopened on
// SIGUSR1), the request id it assigns, and its JSON error log.
#include "tests/integration/cluster.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace cdn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace json = boost::json;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        out.push_back(text.substr(start, nl - start));
    return out;
}

std::vector<std::string> file_lines(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return split_lines(std::string(std::istreambuf_iterator<char>(in), {}));
}

// The whole lines of the edge's output that contain needle, once there are at least `count`.
std::vector<std::string> lines_with(Process& p, const std::string& needle, std::size_t count = 1) {
    std::vector<std::string> found;
    const bool ok = eventually([&] {
        found.clear();
        for (auto& l : split_lines(p.log()))
            if (l.find(needle) != std::string::npos) found.push_back(std::move(l));
        return found.size() >= count;
    });
    if (!ok) throw std::runtime_error("no line with " + needle + " in:\n" + p.log());
    return found;
}

const std::regex kIsoTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
const std::regex kGeneratedId("[0-9a-f]{32}");
// $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer"
// "$http_user_agent", then the edge's own fields.
const std::regex kCombined(
    R"re(^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"( .*)?$)re");

// Requests a client could send to break or forge a line: quotes, backslashes, control bytes (a
// tab is all a field value may carry), bytes that are not UTF-8, in the target, Host,
// User-Agent and Referer. The Host is invalid, so each gets a 400 from the pipeline.
const std::string kHostileTarget = "/h\"q\\b\xff\xc3(";
const std::string kHostile =
    "GET " + kHostileTarget +
    " HTTP/1.1\r\nHost: h\"o\\st\xff\r\nUser-Agent: ua\"\\\t\xff\xc3(\" status=\"200\r\n"
    "Referer: r\"ef\xe2\x82\xac\r\nConnection: close\r\n\r\n";

std::string header_of(const Response& r, const char* name) {
    return std::string(r[name]);
}

// A JSON string's value ("<not a string>" otherwise), for comparisons with std::string.
std::string str(const json::value& v) {
    return v.is_string() ? std::string(v.as_string()) : "<not a string>";
}

}  // namespace

TEST_CASE("json access log: one object per request with every field, and a JSON error log",
          "[edge][access_log]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[log]\naccess_format = \"json\"\nformat = \"json\"\n");
    HttpClient c(edge.port());
    const Headers h = {{"User-Agent", "agent/1.0"}, {"Referer", "https://ref.example/page"}};
    const Response miss = c.get("/json/a.txt?v=1", h);
    const Response hit = c.get("/json/a.txt?v=1", h);
    REQUIRE(header_of(hit, "X-Cache") == "HIT");

    const auto lines = lines_with(edge.process(), R"("url":"/json/a.txt?v=1")", 2);
    REQUIRE(lines.size() == 2);
    const json::object m = json::parse(lines[0]).as_object();
    const json::object o = json::parse(lines[1]).as_object();
    CHECK(std::regex_match(std::string(m.at("ts").as_string()), kIsoTime));
    CHECK(m.at("client") == "127.0.0.1");
    CHECK(m.at("method") == "GET");
    CHECK(m.at("host") == "localhost");  // what the test client sends
    CHECK(m.at("url") == "/json/a.txt?v=1");
    CHECK(m.at("protocol") == "HTTP/1.1");
    CHECK(m.at("status").as_int64() == 200);
    CHECK(m.at("bytes").as_int64() > 1024);  // the head and the 1 KiB body
    CHECK(m.at("cache") == "MISS");
    CHECK(m.at("dur_ms").as_double() >= 0);
    // A miss waited for the origin's head; a hit asked no origin.
    REQUIRE(m.at("origin_ms").is_double());
    CHECK(m.at("origin_ms").as_double() >= 0);
    CHECK(m.at("origin_ms").as_double() <= m.at("dur_ms").as_double());
    CHECK(o.at("origin_ms").is_null());
    CHECK(o.at("cache") == "HIT");
    CHECK(m.at("tls").is_null());
    CHECK(m.at("user_agent") == "agent/1.0");
    CHECK(m.at("referer") == "https://ref.example/page");
    CHECK(m.at("detail").is_null());
    // The id returned to the client is the one logged, a new one per request.
    CHECK(str(m.at("request_id")) == header_of(miss, "X-Request-Id"));
    CHECK(str(o.at("request_id")) == header_of(hit, "X-Request-Id"));
    CHECK(std::regex_match(header_of(miss, "X-Request-Id"), kGeneratedId));
    CHECK(header_of(miss, "X-Request-Id") != header_of(hit, "X-Request-Id"));

    // The error log is JSON too ([log] format): so is every line the edge wrote, then.
    const auto ready = lines_with(edge.process(), "ready:");
    const json::object r = json::parse(ready[0]).as_object();
    CHECK(std::regex_match(std::string(r.at("ts").as_string()), kIsoTime));
    CHECK(r.at("level") == "info");
    CHECK_THAT(std::string(r.at("msg").as_string()), StartsWith("edge test-edge: ready:"));
    for (const auto& l : split_lines(edge.process().log())) {
        INFO(l);
        CHECK(json::parse(l).is_object());
    }
}

TEST_CASE("a client cannot break or forge json access-log lines", "[edge][access_log][bad-input]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "", {"--access-log-format", "json"});
    CHECK_THAT(raw_exchange(edge.port(), kHostile, std::chrono::seconds(5)),
               StartsWith("HTTP/1.1 400"));
    const auto lines = lines_with(edge.process(), R"("url":"/h\"q\\b\u00ff\u00c3(")");
    const json::object o = json::parse(lines[0]).as_object();
    CHECK(o.at("status").as_int64() == 400);
    // Back as they came, each byte that is not UTF-8 as the character of the same number.
    CHECK(o.at("url") == "/h\"q\\b\xc3\xbf\xc3\x83(");
    CHECK(o.at("host") == "h\"o\\st\xc3\xbf");
    CHECK(o.at("user_agent") == "ua\"\\\t\xc3\xbf\xc3\x83(\" status=\"200");
    CHECK(o.at("referer") == "r\"ef\xe2\x82\xac");  // valid UTF-8 passes through
    CHECK(std::regex_match(std::string(o.at("request_id").as_string()), kGeneratedId));
    CHECK(o.size() == 16);  // nothing added
    for (const auto& l : lines_with(edge.process(), "{\"ts\"")) {
        INFO(l);
        CHECK(json::parse(l).is_object());
    }
}

TEST_CASE("combined access log: the combined format exactly, then the edge's fields",
          "[edge][access_log]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url(), "[log]\naccess_format = \"combined\"\n");
    const Response r = http_get(edge.port(), "/combined/b.css?x=1",
                                {{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"},
                                 {"Referer", "https://ref.example/"},
                                 {"X-Request-Id", "abc-123"}});
    CHECK(header_of(r, "X-Request-Id") == "abc-123");
    const auto lines = lines_with(edge.process(), "\"GET /combined/b.css?x=1 HTTP/1.1\"");
    std::smatch m;
    REQUIRE(std::regex_match(lines[0], m, kCombined));
    CHECK(m[1] == "127.0.0.1");
    CHECK(m[3] == "GET /combined/b.css?x=1 HTTP/1.1");
    CHECK(m[4] == "200");
    CHECK(std::stoull(m[5]) > 1024);
    CHECK(m[6] == "https://ref.example/");
    CHECK(m[7] == "Mozilla/5.0 (X11; Linux x86_64)");
    CHECK(std::regex_match(
        m[8].str(),
        std::regex(
            R"re( host="localhost" cache=MISS dur_ms=\d+\.\d{3} origin_ms=\d+\.\d{3} tls=- request_id="abc-123")re")));

    // Hostile input: still the combined shape, with nothing a client sent able to close a field.
    CHECK_THAT(raw_exchange(edge.port(), kHostile, std::chrono::seconds(5)),
               StartsWith("HTTP/1.1 400"));
    const auto bad = lines_with(edge.process(), R"re("GET /h\x22q\x5cb\xff\xc3( HTTP/1.1")re");
    REQUIRE(std::regex_match(bad[0], m, kCombined));
    CHECK(m[4] == "400");
    CHECK(m[6] == R"(r\x22ef\xe2\x82\xac)");
    CHECK(m[7] == R"(ua\x22\x5c\x09\xff\xc3(\x22 status=\x22200)");
    CHECK_THAT(m[8].str(), StartsWith(R"( host="h\x22o\x5cst\xff" cache=ERROR )"));
}

TEST_CASE(
    "request ids: generated when absent, kept when sane, replaced when not, sent to the "
    "origin, never cached",
    "[edge][request_id]") {
    TempDir dir;
    OriginSim origin(dir);
    Edge edge(dir, origin.url());
    // What the origin received (origin_sim's /_echo answers with the request's fields).
    auto seen_by_origin = [](const Response& r) {
        const json::object o = json::parse(r.body()).as_object();
        const json::object& h = o.at("headers").as_object();
        return h.contains("x-request-id") ? str(h.at("x-request-id")) : std::string();
    };
    HttpClient c(edge.port());

    const Response none = c.get("/_echo?1");
    const std::string generated = header_of(none, "X-Request-Id");
    CHECK(std::regex_match(generated, kGeneratedId));
    CHECK(seen_by_origin(none) == generated);
    CHECK_THAT(edge.process().wait_for_log("url=\"/_echo?1\""),
               Contains("request_id=\"" + generated + "\""));

    const Response sane = c.get("/_echo?2", {{"X-Request-Id", "trace-4bf92f3577b34da6"}});
    CHECK(header_of(sane, "X-Request-Id") == "trace-4bf92f3577b34da6");
    CHECK(seen_by_origin(sane) == "trace-4bf92f3577b34da6");

    for (const Headers& bad :
         {Headers{{"X-Request-Id", "has space"}}, Headers{{"X-Request-Id", std::string(129, 'a')}},
          Headers{{"X-Request-Id", "caf\xc3\xa9"}},
          Headers{{"X-Request-Id", "one"}, {"X-Request-Id", "two"}}}) {
        const Response r = c.get("/_echo?3", bad);
        const std::string id = header_of(r, "X-Request-Id");
        INFO(bad.front().second);
        CHECK(std::regex_match(id, kGeneratedId));
        CHECK(seen_by_origin(r) == id);  // the replacement, and only it
    }

    // An origin that echoes an id: the stored response keeps none, each reply carries its own.
    const std::string target = "/rid/cached.txt?header=X-Request-Id:from-origin";
    const Response first = c.get(target, {{"X-Request-Id", "first-request"}});
    CHECK(header_of(first, "X-Cache") == "MISS");
    CHECK(first.count("X-Request-Id") == 1);
    CHECK(header_of(first, "X-Request-Id") == "first-request");
    const Response second = c.get(target, {{"X-Request-Id", "second-request"}});
    CHECK(header_of(second, "X-Cache") == "HIT");  // the id is not part of the key
    CHECK(second.count("X-Request-Id") == 1);
    CHECK(header_of(second, "X-Request-Id") == "second-request");
    const Response third = c.get(target);
    CHECK(header_of(third, "X-Cache") == "HIT");
    CHECK(std::regex_match(header_of(third, "X-Request-Id"), kGeneratedId));
    CHECK(origin.count(target) == 1);
}

TEST_CASE("access log file: SIGUSR1 after a rename moves new lines to a new file, losing none",
          "[edge][access_log]") {
    TempDir dir;
    OriginSim origin(dir);
    const auto logs = dir.path() / "logs";
    std::filesystem::create_directory(logs);  // the edge creates the file, not its directory
    // Relative to the config file's directory.
    Edge edge(dir, origin.url(), "[log]\naccess = \"logs/access.log\"\n");
    const auto file = logs / "access.log";
    REQUIRE(std::filesystem::exists(file));

    // Two clients keep requesting (each URL once, at most 3000 each) while the file is renamed
    // and the edge told to reopen it, twice, as logrotate does.
    std::atomic<bool> stop{false}, failed{false};
    std::atomic<int> sent[2] = {0, 0};
    auto client = [&](int t) {
        try {
            HttpClient c(edge.port());
            for (int i = 0; i < 3000 && !stop.load(); ++i) {
                c.get("/rot/" + std::to_string(t) + "/" + std::to_string(i));
                sent[t] = i + 1;
            }
        } catch (const std::exception&) {
            failed = true;
        }
    };
    auto total = [&] { return static_cast<std::size_t>(sent[0].load() + sent[1].load()); };
    auto more = [&](std::size_t n) {
        const std::size_t before = total();
        return eventually([&] { return total() >= before + n || failed.load(); });
    };
    std::thread a(client, 0), b(client, 1);
    std::vector<std::filesystem::path> files;
    for (int r = 1; r <= 2; ++r) {
        CHECK(more(50));
        const auto to = logs / ("access.log." + std::to_string(r));
        std::filesystem::rename(file, to);
        files.push_back(to);
        ::kill(edge.process().pid(), SIGUSR1);
        lines_with(edge.process(), "access.log: reopened", static_cast<std::size_t>(r));
    }
    CHECK(more(50));
    stop = true;
    a.join();
    b.join();
    REQUIRE_FALSE(failed.load());
    files.push_back(file);

    // Every request once, in one of the three files, each of which got some.
    const std::size_t expected = total();
    auto count = [&] {
        std::size_t n = 0;
        for (const auto& f : files)
            n += file_lines(f).size();
        return n;
    };
    CHECK(eventually([&] { return count() >= expected; }));
    std::set<std::string> urls;
    for (const auto& f : files) {
        const auto lines = file_lines(f);
        CHECK_FALSE(lines.empty());
        for (const auto& l : lines) {
            const auto at = l.find(" url=\"");
            REQUIRE(at != std::string::npos);
            urls.insert(l.substr(at + 6, l.find('"', at + 6) - at - 6));
        }
    }
    CHECK(count() == expected);
    CHECK(urls.size() == expected);  // none twice
    CHECK(edge.metric("cdn_edge_access_log_dropped_total") == 0);
    CHECK_THAT(edge.process().log(), !Contains("url=\"/rot/"));  // nothing on stdout
}
