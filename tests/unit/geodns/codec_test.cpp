#include "geodns/codec/name.hpp"
#include "geodns/codec/query.hpp"
#include "geodns/codec/response_writer.hpp"
#include "tests/unit/geodns/dns_test_packets.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

using namespace cdn::geodns;
using namespace cdn::geodns::codec;
using cdn::geodns::test::put16;
using cdn::geodns::test::put32;
using cdn::geodns::test::QueryBuilder;
using cdn::geodns::test::wire_name;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes header(std::uint16_t qd, std::uint16_t an = 0, std::uint16_t ns = 0, std::uint16_t ar = 0,
             std::uint16_t flags = flag::rd) {
    Bytes b;
    put16(b, 0xBEEF);
    put16(b, flags);
    put16(b, qd);
    put16(b, an);
    put16(b, ns);
    put16(b, ar);
    return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes u16(std::uint16_t v) {
    Bytes b;
    put16(b, v);
    return b;
}

// The standard question: www.cdn.example A IN.
Bytes question() {
    return cat({wire_name("www.cdn.example"), u16(1), u16(1)});
}

// An OPT record with the given rdata.
Bytes opt(const Bytes& rdata, std::uint16_t payload = 1232, std::uint32_t ttl = 0,
          const Bytes& owner = {0}) {
    Bytes b = owner;
    put16(b, type::opt);
    put16(b, payload);
    put32(b, ttl);
    put16(b, static_cast<std::uint16_t>(rdata.size()));
    b.insert(b.end(), rdata.begin(), rdata.end());
    return b;
}

Bytes ecs_option(std::uint16_t family, std::uint8_t source, std::uint8_t scope, const Bytes& addr) {
    Bytes b;
    put16(b, edns_option_ecs);
    put16(b, static_cast<std::uint16_t>(4 + addr.size()));
    put16(b, family);
    b.push_back(source);
    b.push_back(scope);
    b.insert(b.end(), addr.begin(), addr.end());
    return b;
}

// An A record with the given owner bytes (may be a pointer).
Bytes a_record(const Bytes& owner) {
    Bytes b = owner;
    put16(b, type::a);
    put16(b, qclass::in);
    put32(b, 60);
    put16(b, 4);
    for (std::uint8_t x : {192, 0, 2, 1})
        b.push_back(x);
    return b;
}

Bytes long_name(std::size_t wire_len) {  // labels of 63 then a filler, total wire_len bytes
    Bytes b;
    std::size_t left = wire_len - 1;
    while (left > 0) {
        const std::size_t l = std::min<std::size_t>(63, left - 1);
        b.push_back(static_cast<std::uint8_t>(l));
        b.insert(b.end(), l, 'a');
        left -= l + 1;
    }
    b.push_back(0);
    return b;
}

}  // namespace

TEST_CASE("parse_query: good and bad packets", "[geodns][codec]") {
    const Bytes q1 = cat({header(1), question()});
    Bytes label64 = header(1);
    label64.push_back(64);
    label64.insert(label64.end(), 64, 'x');
    label64 = cat({label64, Bytes{0}, u16(1), u16(1)});

    struct Case {
        const char* what;
        Bytes packet;
        ParseError expected;
    };
    const std::vector<Case> cases = {
        {"plain query", q1, ParseError::none},
        {"empty input", {}, ParseError::too_short},
        {"11 bytes", Bytes(11, 0), ParseError::too_short},
        {"a response (QR=1)", cat({header(1, 0, 0, 0, flag::qr), question()}),
         ParseError::is_response},
        {"NOTIFY opcode", cat({header(1, 0, 0, 0, 4 << 11), question()}),
         ParseError::not_implemented},
        {"QDCOUNT 0", header(0), ParseError::bad_qdcount},
        {"QDCOUNT 2", cat({header(2), question(), question()}), ParseError::bad_qdcount},
        {"header only, QDCOUNT 1", header(1), ParseError::truncated},
        {"QNAME cut in a label", cat({header(1), Bytes{3, 'w', 'w'}}), ParseError::truncated},
        {"QNAME without root", cat({header(1), Bytes{3, 'w', 'w', 'w'}}), ParseError::truncated},
        {"no QTYPE/QCLASS", cat({header(1), wire_name("a.example")}), ParseError::truncated},
        {"half a QCLASS", cat({header(1), wire_name("a.example"), u16(1), Bytes{0}}),
         ParseError::truncated},
        {"label of 64 bytes", label64, ParseError::bad_label},
        {"reserved label type 0x80", cat({header(1), Bytes{0x80, 0}, u16(1), u16(1)}),
         ParseError::bad_label},
        {"name of 255 bytes", cat({header(1), long_name(255), u16(1), u16(1)}), ParseError::none},
        {"name of 256 bytes", cat({header(1), long_name(256), u16(1), u16(1)}),
         ParseError::name_too_long},
        {"pointer in QNAME", cat({header(1), Bytes{0xC0, 0x0C}, u16(1), u16(1)}),
         ParseError::pointer_in_qname},
        {"ARCOUNT lies", cat({header(1, 0, 0, 1), question()}), ParseError::truncated},
        {"ANCOUNT 65535 lies", cat({header(1, 65535), question(), a_record({0})}),
         ParseError::truncated},
        {"record cut in its RDATA",
         cat({header(1, 1), question(), Bytes{0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0}}),
         ParseError::truncated},
        {"answer record pointing back to the QNAME",
         cat({header(1, 1), question(), a_record({0xC0, 12})}), ParseError::none},
        {"pointer to itself", cat({header(1, 1), question(), a_record({0xC0, 33})}),
         ParseError::bad_pointer},
        {"forward pointer", cat({header(1, 1), question(), a_record({0xC0, 40})}),
         ParseError::bad_pointer},
        {"pointer into the header", cat({header(1, 1), question(), a_record({0xC0, 2})}),
         ParseError::bad_pointer},
        // At 33: label "x" then a pointer back to 33: a loop through a backward pointer.
        {"pointer loop via a label", cat({header(1, 1), question(), a_record({1, 'x', 0xC0, 33})}),
         ParseError::bad_pointer},
        {"pointer cut in half", cat({header(1, 1), question(), Bytes{0xC0}}),
         ParseError::truncated},
        {"OPT", cat({header(1, 0, 0, 1), question(), opt({})}), ParseError::none},
        {"OPT twice", cat({header(1, 0, 0, 2), question(), opt({}), opt({})}),
         ParseError::opt_twice},
        {"OPT with a non-root owner",
         cat({header(1, 0, 0, 1), question(), opt({}, 1232, 0, {1, 'a', 0})}),
         ParseError::opt_bad_owner},
        // The OPT owner read without a copy: a pointer to the QNAME's root byte (offset 28)
        // is the root; a pointer to the QNAME is not.
        {"OPT owned by a pointer to the root",
         cat({header(1, 0, 0, 1), question(), opt({}, 1232, 0, {0xC0, 28})}), ParseError::none},
        {"OPT owned by a pointer to the QNAME",
         cat({header(1, 0, 0, 1), question(), opt({}, 1232, 0, {0xC0, 12})}),
         ParseError::opt_bad_owner},
        {"OPT in the answer section", cat({header(1, 1), question(), opt({})}),
         ParseError::opt_wrong_section},
        {"OPT version 1", cat({header(1, 0, 0, 1), question(), opt({}, 1232, 0x00010000)}),
         ParseError::bad_version},
        {"option longer than RDATA", cat({header(1, 0, 0, 1), question(), opt({0, 10, 0, 9, 1})}),
         ParseError::bad_options},
        {"three stray option bytes", cat({header(1, 0, 0, 1), question(), opt({0, 10, 0})}),
         ParseError::bad_options},
        {"unknown option ignored", cat({header(1, 0, 0, 1), question(), opt({0, 10, 0, 2, 7, 7})}),
         ParseError::none},
        {"ECS v4 /24",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 24, 0, {192, 0, 2}))}),
         ParseError::none},
        {"ECS v6 /56",
         cat({header(1, 0, 0, 1), question(),
              opt(ecs_option(2, 56, 0, {0x20, 1, 0xd, 0xb8, 0, 0, 0}))}),
         ParseError::none},
        {"ECS /0", cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 0, 0, {}))}),
         ParseError::none},
        {"ECS family 3", cat({header(1, 0, 0, 1), question(), opt(ecs_option(3, 0, 0, {}))}),
         ParseError::bad_ecs},
        {"ECS v4 /33",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 33, 0, {1, 2, 3, 4, 5}))}),
         ParseError::bad_ecs},
        {"ECS v6 /129",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(2, 129, 0, Bytes(17, 0)))}),
         ParseError::bad_ecs},
        {"ECS scope set in a query",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 24, 24, {192, 0, 2}))}),
         ParseError::bad_ecs},
        {"ECS too many address bytes",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 24, 0, {192, 0, 2, 0}))}),
         ParseError::bad_ecs},
        {"ECS too few address bytes",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 24, 0, {192, 0}))}),
         ParseError::bad_ecs},
        {"ECS bits past the prefix",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 20, 0, {10, 1, 0x11}))}),
         ParseError::bad_ecs},
        {"ECS /20 clean",
         cat({header(1, 0, 0, 1), question(), opt(ecs_option(1, 20, 0, {10, 1, 0xF0}))}),
         ParseError::none},
        {"ECS shorter than 4 bytes", cat({header(1, 0, 0, 1), question(), opt({0, 8, 0, 2, 0, 1})}),
         ParseError::bad_ecs},
        {"ECS twice",
         cat({header(1, 0, 0, 1), question(),
              opt(cat({ecs_option(1, 0, 0, {}), ecs_option(1, 0, 0, {})}))}),
         ParseError::bad_ecs},
        {"trailing garbage tolerated", cat({header(1), question(), Bytes{1, 2, 3}}),
         ParseError::none},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        Query q;
        CHECK(parse_query(c.packet, q) == c.expected);
    }
}

TEST_CASE("parse_query: fields", "[geodns][codec]") {
    QueryBuilder b;
    b.qname = "WwW.CdN.ExAmPlE";
    b.qtype = type::aaaa;
    b.dnssec_ok = true;
    b.with_ecs({1, 20, 0, {10, 1, 0xF0}});
    b.edns_payload = 1400;
    const auto packet = b.build();
    Query q;
    REQUIRE(parse_query(packet, q) == ParseError::none);
    CHECK(q.header.id == 0x1234);
    CHECK(q.header.rd());
    CHECK(q.header.opcode() == 0);
    REQUIRE(q.has_question);
    CHECK(q.question.qtype == type::aaaa);
    CHECK(q.question.qclass == qclass::in);
    CHECK(q.question.canonical.view() == "www.cdn.example");
    CHECK(cdn::geodns::test::name_text(q.question.name) == "WwW.CdN.ExAmPlE");
    CHECK(q.question.name.labels == 3);
    REQUIRE(q.edns);
    CHECK(q.edns->udp_payload == 1400);
    CHECK(q.edns->dnssec_ok);
    CHECK(q.edns->version == 0);
    REQUIRE(q.edns->ecs);
    CHECK(q.edns->ecs->family == 1);
    CHECK(q.edns->ecs->source_prefix == 20);
    CHECK(q.edns->ecs->address == std::array<std::uint8_t, 16>{10, 1, 0xF0});
}

TEST_CASE("canonical text of odd names", "[geodns][codec]") {
    struct Case {
        Bytes wire;
        std::string text;
    };
    const std::vector<Case> cases = {
        {{0}, ""},
        {wire_name("A.B"), "a.b"},
        {{3, 'a', '.', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0},
         std::string("a\0b.example", 11)},
        {{2, 0xC3, 0x89, 0}, "\xC3\x89"},  // bytes above ASCII are kept as they are
        // Around the upper-case range: only A-Z change ('@' is 'A' - 1, '[' is 'Z' + 1, and
        // '`' and '{' are their lower-case neighbours).
        {{8, '@', 'A', 'Z', '[', '`', 'a', 'z', '{', 0}, "@az[`az{"},
        {{3, 0x00, 0x7F, 0xFF, 0}, std::string("\0\x7F\xFF", 3)},
        {wire_name("WwW.CdN.ExAmPlE"), "www.cdn.example"},
        // Longer than 8 bytes at a time, with a '.' inside a label past the first 8 bytes.
        {wire_name("ABCDEFGHIJKLMNOPQRSTUVWXYZ.Mixed-Case-LABEL.example"),
         "abcdefghijklmnopqrstuvwxyz.mixed-case-label.example"},
        {{12, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', '.', 'K', 'L', 3, 'C', 'O', 'M', 0},
         std::string("abcdefghi\0kl.com", 16)},
        {wire_name("a.b.c.d.e.f.g.h.i.j"), "a.b.c.d.e.f.g.h.i.j"},
    };
    for (const Case& c : cases) {
        const Bytes packet = cat({header(1), c.wire, u16(1), u16(1)});
        Query q;
        REQUIRE(parse_query(packet, q) == ParseError::none);
        CHECK(q.question.canonical.view() == c.text);
    }
}

TEST_CASE("split_text_name", "[geodns][codec]") {
    TextLabels l;
    CHECK(split_text_name("", l));
    CHECK(l.count == 0);
    CHECK(split_text_name("www.cdn.example.", l));
    CHECK(l.count == 3);
    CHECK_FALSE(split_text_name("a..b", l));
    CHECK_FALSE(split_text_name(".a", l));
    CHECK_FALSE(split_text_name(std::string(64, 'a') + ".b", l));
    CHECK(split_text_name(std::string(63, 'a'), l));
    std::string n253;  // 4 x 63 + dots = 255 chars: 257 wire bytes
    for (int i = 0; i < 4; ++i)
        n253 += (i ? "." : "") + std::string(63, 'a');
    CHECK_FALSE(split_text_name(n253, l));
    CHECK(split_text_name(n253.substr(0, 253), l));  // 253 chars: 255 wire bytes
}

TEST_CASE("writer: compression round trip", "[geodns][codec]") {
    std::array<std::uint8_t, 1024> buf{};
    ResponseWriter w(buf, buf.size());
    REQUIRE(w.header(0x4242, flag::qr | flag::aa) == WriteStatus::ok);
    Query q;
    QueryBuilder qb;
    qb.qname = "WWW.cdn.example";
    const auto packet = qb.build();
    REQUIRE(parse_query(packet, q) == ParseError::none);
    REQUIRE(w.question(q.question.name, type::a, qclass::in) == WriteStatus::ok);
    const std::size_t after_question = w.size();
    REQUIRE(w.a("www.cdn.example", 20, {192, 0, 2, 1}) == WriteStatus::ok);
    // The owner is a pointer to the question: 2 + 10 + 4 bytes.
    CHECK(w.size() - after_question == 16);
    CHECK(buf[after_question] == 0xC0);
    CHECK(buf[after_question + 1] == 12);
    w.section(Section::authority);
    REQUIRE(w.ns("cdn.example", 3600, "ns1.cdn.example") == WriteStatus::ok);
    REQUIRE(w.soa("cdn.example", 30,
                  SoaFields{"ns1.cdn.example", "hostmaster.cdn.example", 7, 1, 2, 3, 4}) ==
            WriteStatus::ok);
    w.section(Section::additional);
    REQUIRE(w.cname("x.other.example", 5, "other.example") == WriteStatus::ok);
    REQUIRE(w.txt("cdn.example", 9, std::string(300, 't')) == WriteStatus::ok);
    REQUIRE(w.hinfo("cdn.example", 9, "RFC8482", "") == WriteStatus::ok);
    REQUIRE(w.aaaa("ns1.cdn.example", 9,
                   {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) ==
            WriteStatus::ok);
    Ecs ecs{1, 24, 16, {192, 0, 2}};
    REQUIRE(w.opt(1232, 0, 0, true, &ecs) == WriteStatus::ok);
    const std::size_t n = w.finish();
    const auto m = cdn::geodns::test::decode(std::span(buf.data(), n));
    REQUIRE(m);
    CHECK(m->id == 0x4242);
    CHECK(m->qname == "WWW.cdn.example");
    REQUIRE(m->answer.size() == 1);
    CHECK(m->answer[0].name == "WWW.cdn.example");
    CHECK(m->answer[0].data == "192.0.2.1");
    REQUIRE(m->authority.size() == 2);
    CHECK(m->authority[0].name == "cdn.example");
    CHECK(m->authority[0].data == "ns1.cdn.example");
    CHECK(m->authority[1].data == "ns1.cdn.example hostmaster.cdn.example 7 1 2 3 4");
    CHECK(m->authority[1].ttl == 30);
    REQUIRE(m->additional.size() == 5);
    CHECK(m->additional[0].name == "x.other.example");
    CHECK(m->additional[0].data == "other.example");
    CHECK(m->additional[1].data == std::string(255, 't') + "|" + std::string(45, 't'));
    CHECK(m->additional[2].data == "RFC8482|");
    CHECK(m->additional[3].data == "2001:db8::1");
    CHECK(m->additional[4].data == "ext=0 ver=0 do=1 ecs=1/24/16/192.0.2");
    CHECK(m->additional[4].klass == 1232);
    // "cdn.example" is written once (inside the question); every later use is a pointer.
    std::string text(reinterpret_cast<const char*>(buf.data()), n);
    CHECK(text.find("\x03"
                    "cdn") == text.rfind("\x03"
                                         "cdn"));
}

TEST_CASE("writer: records are all or nothing", "[geodns][codec]") {
    std::array<std::uint8_t, 64> buf{};
    ResponseWriter w(buf, 40);
    REQUIRE(w.header(1, flag::qr) == WriteStatus::ok);
    REQUIRE(w.a("a.example", 1, {1, 2, 3, 4}) == WriteStatus::ok);  // 12 + 11 + 14 = 37
    const std::size_t size = w.size();
    CHECK(w.a("b.example", 1, {1, 2, 3, 4}) == WriteStatus::no_space);
    CHECK(w.size() == size);
    CHECK(w.a("a..example", 1, {1, 2, 3, 4}) == WriteStatus::bad_name);
    CHECK(w.size() == size);
    CHECK(w.count(Section::answer) == 1);
    const auto mark = w.mark();
    w.set_limit(64);
    CHECK(w.limit() == 40);  // clamped to the constructor's limit
    w.rollback(mark);
    CHECK(w.finish() == size);
    CHECK(buf[7] == 1);  // ANCOUNT

    // Rollback forgets compression targets written after the mark.
    std::array<std::uint8_t, 512> big{};
    ResponseWriter w2(big, big.size());
    REQUIRE(w2.header(1, flag::qr) == WriteStatus::ok);
    const auto m2 = w2.mark();
    REQUIRE(w2.a("x.example", 1, {1, 2, 3, 4}) == WriteStatus::ok);
    w2.rollback(m2);
    REQUIRE(w2.a("y.example", 1, {1, 2, 3, 4}) == WriteStatus::ok);
    const auto m = cdn::geodns::test::decode(std::span(big.data(), w2.finish()));
    REQUIRE(m);
    REQUIRE(m->answer.size() == 1);
    CHECK(m->answer[0].name == "y.example");
}

TEST_CASE("writer: tiny buffers", "[geodns][codec]") {
    std::array<std::uint8_t, 11> buf{};
    ResponseWriter w(buf, 512);
    CHECK(w.header(1, 0) == WriteStatus::no_space);
    CHECK(w.a("a", 1, {1, 2, 3, 4}) == WriteStatus::no_space);
    CHECK(w.opt(512, 0, 0, false, nullptr) == WriteStatus::no_space);
    CHECK(w.finish() == 0);
}
