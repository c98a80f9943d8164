// BodyStream (a body filled once, read by many at their own pace) and the in-flight budget that
// bounds the memory such bodies hold outside the cache.
#include "edge/proxy/body_stream.hpp"
#include "edge/proxy/inflight_budget.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <cstring>

namespace {

namespace asio = boost::asio;
using cdn::edge::proxy::BodyStream;
using cdn::edge::proxy::BodyStreamReader;
using cdn::edge::proxy::InflightBudget;
using namespace std::chrono_literals;

// Everything a reader gets until the end (or an error, returned as "<error>").
std::string read_all(std::shared_ptr<BodyStream> stream) {
    asio::io_context io;
    auto f = asio::co_spawn(
        io,
        [](std::shared_ptr<BodyStream> s) -> asio::awaitable<std::string> {
            BodyStreamReader reader(std::move(s), 100ms);
            std::string all;
            for (;;) {
                auto piece = co_await reader.next();
                if (!piece) co_return "<error>";
                if (piece->empty()) co_return all;
                all.append(*piece);
            }
        }(std::move(stream)),
        asio::use_future);
    io.run();
    return f.get();
}

}  // namespace

TEST_CASE("a body of known length is filled in place and becomes the stored body",
          "[body_stream]") {
    InflightBudget budget(1 << 20);
    auto r = budget.try_reserve(10);
    REQUIRE(r);
    CHECK(budget.used() == 10);
    auto s = std::make_shared<BodyStream>(10, std::move(*r));
    auto space = s->space();
    REQUIRE(space.size() == 10);
    std::memcpy(space.data(), "hello", 5);
    CHECK(s->commit(5));
    CHECK(s->append("world"));
    CHECK_FALSE(s->append("!"));  // past the announced length
    s->finish(true);
    auto whole = s->whole();
    REQUIRE(whole);
    CHECK(*whole == "helloworld");
    CHECK(read_all(s) == "helloworld");
    // The stored body is the stream's own buffer: no second copy.
    CHECK(static_cast<const void*>(whole->data()) == static_cast<const void*>(space.data()));
    CHECK(budget.used() == 10);
    s.reset();
    // The reservation goes with the stream (its last reader); what the cache keeps of the
    // buffer is the cache's to count.
    CHECK(budget.used() == 0);
}

TEST_CASE("a known length that is not reached is not complete", "[body_stream]") {
    auto s = std::make_shared<BodyStream>(10);
    CHECK(s->append("short"));
    s->finish(true);
    CHECK_FALSE(s->whole());
    CHECK(read_all(s) == "<error>");
}

TEST_CASE("a body of unknown length is joined once complete and readers keep their offsets",
          "[body_stream]") {
    InflightBudget budget(1 << 20);
    auto r = budget.try_reserve(0);
    REQUIRE(r);
    auto s = std::make_shared<BodyStream>(std::nullopt, std::move(*r));
    CHECK(s->space().empty());
    CHECK(s->append("abc"));
    CHECK(s->append("defg"));
    CHECK(budget.used() == 7);
    // A reader part way through a piece before the join...
    asio::io_context io;
    auto first = asio::co_spawn(io, s->read(4, 100ms), asio::use_future);
    io.run();
    auto slice = first.get();
    REQUIRE(slice.has_value());
    CHECK(slice->bytes == "efg");
    s->finish(true);
    CHECK(budget.used() == 7);  // the pieces went, the joined body stays
    REQUIRE(s->whole());
    CHECK(*s->whole() == "abcdefg");
    // ...and after it: the same bytes at the same offsets, from the joined buffer.
    io.restart();
    auto second = asio::co_spawn(io, s->read(5, 100ms), asio::use_future);
    io.run();
    auto after = second.get();
    REQUIRE(after.has_value());
    CHECK(after->bytes == "fg");
    CHECK(read_all(s) == "abcdefg");
}

TEST_CASE("readers get at most kMaxSlice bytes at a time", "[body_stream]") {
    const std::size_t n = 3 * BodyStream::kMaxSlice + 5;
    auto s = std::make_shared<BodyStream>(n);
    CHECK(s->append(std::string(n, 'x')));
    s->finish(true);
    asio::io_context io;
    auto f = asio::co_spawn(io, s->read(0, 100ms), asio::use_future);
    io.run();
    auto slice = f.get();
    REQUIRE(slice.has_value());
    CHECK(slice->bytes.size() == BodyStream::kMaxSlice);
    CHECK(read_all(s).size() == n);
}

TEST_CASE("a body cut short is an error for its readers, after the bytes it had", "[body_stream]") {
    auto s = std::make_shared<BodyStream>();
    CHECK(s->append("partial"));
    s->finish(false);
    CHECK_FALSE(s->whole());
    CHECK(read_all(s) == "<error>");
}

TEST_CASE("the in-flight budget admits what fits and takes back what is released",
          "[inflight_budget]") {
    InflightBudget budget(100);
    auto a = budget.try_reserve(60);
    REQUIRE(a);
    CHECK_FALSE(budget.try_reserve(41));  // 60 + 41 > 100
    auto b = budget.try_reserve(40);
    REQUIRE(b);
    CHECK(budget.used() == 100);
    CHECK_FALSE(budget.try_reserve(0));  // a body of unknown length needs some room left
    CHECK_FALSE(budget.try_reserve(101));
    b.reset();
    auto c = budget.try_reserve(0);
    REQUIRE(c);
    c->resize(70);  // unknown lengths grow past the limit: admission was decided at the start
    CHECK(budget.used() == 130);
    InflightBudget::Reservation moved = std::move(*c);
    CHECK(budget.used() == 130);
    moved.resize(10);
    CHECK(budget.used() == 70);
    a.reset();
    c.reset();
    CHECK(budget.used() == 10);
    moved = InflightBudget::Reservation();
    CHECK(budget.used() == 0);
}
