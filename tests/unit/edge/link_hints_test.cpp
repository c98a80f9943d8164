#include "edge/cache/link_hints.hpp"
#include "edge/cache/hint_table.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace cdn::edge::cache;
using Links = std::vector<std::string>;
using cdn::Seconds;
using cdn::TimePoint;

namespace {

Links parse(std::initializer_list<std::string_view> fields, HintLimits limits = {}) {
    LinkHintParser p(limits);
    for (auto f : fields)
        p.add(f);
    return p.result().links;
}

}  // namespace

TEST_CASE("only preload, preconnect and modulepreload links are kept", "[link_hints]") {
    CHECK(parse({"</a.css>; rel=preload; as=style, </b.css>; rel=stylesheet"}) ==
          Links{"</a.css>; rel=preload; as=style"});
    CHECK(parse({"<https://cdn.example>; rel=preconnect", "</m.js>; rel=modulepreload"}) ==
          Links{"<https://cdn.example>; rel=preconnect", "</m.js>; rel=modulepreload"});
    CHECK(parse({"</s.css>; rel=stylesheet", "</n>; rel=next"}).empty());
    CHECK(parse({"</a.css>; REL=PreLoad"}) == Links{"</a.css>; REL=PreLoad"});
}

TEST_CASE("commas inside <...> and quoted strings do not separate links", "[link_hints]") {
    CHECK(parse({R"(</a,b.css>; rel=preload; as=style, </c.js>; rel=preload)"}) ==
          Links{"</a,b.css>; rel=preload; as=style", "</c.js>; rel=preload"});
    CHECK(parse({R"(</f.woff2>; rel=preload; title="a, b"; as=font, </x>; rel=preload)"}) ==
          Links{R"(</f.woff2>; rel=preload; title="a, b"; as=font)", "</x>; rel=preload"});
}

TEST_CASE("rel may be quoted and hold several types, and only the first rel counts",
          "[link_hints]") {
    CHECK(parse({R"(</a.css>; rel="stylesheet preload")"}) ==
          Links{R"(</a.css>; rel="stylesheet preload")"});
    CHECK(parse({R"(</a.css>; rel="stylesheet"; rel=preload)"}).empty());
    CHECK(parse({R"(</a.css>; rel="pre\load")"}) == Links{R"(</a.css>; rel="pre\load")"});
}

TEST_CASE("malformed link-values are dropped, the others kept", "[link_hints]") {
    CHECK(parse({"/a.css; rel=preload, </b.css>; rel=preload"}) == Links{"</b.css>; rel=preload"});
    CHECK(parse({"<>; rel=preload, </b>; rel=preload"}) == Links{"</b>; rel=preload"});
    CHECK(parse({"</a b>; rel=preload, </c>; rel=preload"}) == Links{"</c>; rel=preload"});
    CHECK(parse({"</a>; =x; rel=preload, </c>; rel=preload"}) == Links{"</c>; rel=preload"});
    CHECK(parse({"</a> junk; rel=preload, </c>; rel=preload"}) == Links{"</c>; rel=preload"});
    CHECK(parse({R"(</a>; rel="preload)"}).empty());  // unterminated quoted string
    CHECK(parse({"</a; rel=preload"}).empty());       // unterminated URI
    CHECK(parse({"</a>; rel=, </c>; rel=preload"}) == Links{"</c>; rel=preload"});
}

TEST_CASE("hundreds of links are capped by count and bytes", "[link_hints]") {
    std::string many;
    for (int i = 0; i < 500; ++i)
        many += "</asset-" + std::to_string(i) + ".js>; rel=preload; as=script, ";
    LinkHintParser p({16, 4096});
    p.add(many);
    CHECK(p.result().links.size() == 16);
    CHECK(p.result().capped);
    CHECK(p.result().links.front() == "</asset-0.js>; rel=preload; as=script");

    LinkHintParser small({100, 200});
    small.add(many);
    CHECK(small.result().bytes <= 200);
    CHECK(hint_fields(small.result().links).size() == small.result().bytes);
    CHECK(small.result().links.size() == 4);  // 6 + 37 + 2 = 45 bytes each
}

TEST_CASE("hint fields are one Link line per link", "[link_hints]") {
    CHECK(hint_fields({"</a>; rel=preload", "</b>; rel=preload"}) ==
          "Link: </a>; rel=preload\r\nLink: </b>; rel=preload\r\n");
}

TEST_CASE("the hint table expires, forgets, and stays within its bounds", "[hint_table]") {
    const TimePoint t0{};
    HintTable table({.max_entries = 3, .max_bytes = 1024, .lifetime = Seconds(60)});
    table.put("a", "Link: </a>\r\n", t0);
    CHECK(table.get("a", t0 + Seconds(59)) == "Link: </a>\r\n");
    CHECK_FALSE(table.get("a", t0 + Seconds(60)));  // expired, and dropped
    CHECK(table.size() == 0);

    table.put("a", "A", t0);
    table.put("b", "B", t0);
    table.put("c", "C", t0);
    CHECK(table.get("a", t0));  // a is now the most recently used
    table.put("d", "D", t0);    // b, the least recently used, goes
    CHECK_FALSE(table.get("b", t0));
    CHECK(table.size() == 3);

    table.put("a", "", t0);  // nothing to hint any more
    CHECK_FALSE(table.get("a", t0));
    table.erase("c");
    CHECK_FALSE(table.get("c", t0));

    table.put("big", std::string(2000, 'x'), t0);  // more than the whole table: not kept
    CHECK_FALSE(table.get("big", t0));
    for (int i = 0; i < 20; ++i)
        table.put("k" + std::to_string(i), std::string(300, 'x'), t0);
    CHECK(table.bytes() <= 1024);
    table.clear();
    CHECK(table.size() == 0);
    CHECK(table.bytes() == 0);
}
