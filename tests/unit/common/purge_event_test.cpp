// The purge wire format (common/purge_event.hpp): what purge_api writes and every edge reads.
#include "common/purge_event.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cdn::purge;

TEST_CASE("every purge kind round-trips through its name and the event", "[purge_event]") {
    for (PurgeKind k : kPurgeKinds) {
        INFO(to_string(k));
        REQUIRE(parse_purge_kind(to_string(k)) == k);
        PurgeEvent e;
        e.seq = 42;
        e.id = "00000000000000ab";
        e.time_ms = 1'700'000'000'123;
        e.kind = k;
        if (k != PurgeKind::everything) e.values = {"a", "b \"quoted\"", "c\\d"};
        e.soft = k == PurgeKind::tags;
        const std::string json = encode_event(e);
        for (Decode mode : {Decode::complete, Decode::tolerant}) {
            const auto back = decode_event(json, mode);
            REQUIRE(back);
            CHECK(back->seq == e.seq);
            CHECK(back->id == e.id);
            CHECK(back->time_ms == e.time_ms);
            CHECK(back->kind == e.kind);
            CHECK(back->values == e.values);
            CHECK(back->soft == e.soft);
            CHECK(encode_event(*back) == json);
        }
    }
    CHECK_FALSE(parse_purge_kind("purge_everything"));
    CHECK_FALSE(parse_purge_kind("Files"));
    CHECK_FALSE(parse_purge_kind(""));
}

TEST_CASE("the event's bytes are the log's and the stream's, unchanged", "[purge_event]") {
    // Pinned: edges already deployed parse exactly this.
    const PurgeEvent e{3, "abc", 77, PurgeKind::hosts, {"a.com"}, false};
    CHECK(encode_event(e) ==
          R"({"seq":3,"id":"abc","time_ms":77,"kind":"hosts","values":["a.com"],"soft":false})");
    CHECK(sse_purge(3, encode_event(e)) ==
          "id: 3\nevent: purge\ndata: "
          R"({"seq":3,"id":"abc","time_ms":77,"kind":"hosts","values":["a.com"],"soft":false})"
          "\n\n");
    CHECK(encode_reset({5, 99}) == R"({"compacted_through":5,"time_ms":99})");
    CHECK(sse_reset({5, 99}) == "event: reset\ndata: {\"compacted_through\":5,\"time_ms\":99}\n\n");
    CHECK(sse_synced(8) == "event: synced\ndata: {\"seq\":8}\n\n");
    CHECK(kSsePing == ": ping\n\n");
}

TEST_CASE("malformed purge events are rejected", "[purge_event]") {
    const char* bad[] = {
        "",
        "[1]",
        "not json",
        R"({"kind":"tags","values":["a"]})",                       // no seq
        R"({"seq":0,"kind":"tags","values":["a"]})",               // seq 0
        R"({"seq":-1,"kind":"tags","values":["a"]})",              // negative seq
        R"({"seq":1.5,"kind":"tags","values":["a"]})",             // not an integer
        R"({"seq":"1","kind":"tags","values":["a"]})",             // a string
        R"({"seq":1,"values":["a"]})",                             // no kind
        R"({"seq":1,"kind":"colors","values":["a"]})",             // unknown kind
        R"({"seq":1,"kind":"purge_everything"})",                  // the body's name, not a kind
        R"({"seq":1,"kind":7})",                                   // kind not a string
        R"({"seq":1,"kind":"tags","values":"a"})",                 // values not a list
        R"({"seq":1,"kind":"tags","values":[1]})",                 // a value not a string
        R"({"seq":1,"kind":"tags","values":["a"],"soft":"yes"})",  // soft not a bool
        R"({"seq":1,"kind":"tags","id":5})",                       // id not a string
        R"({"seq":1,"kind":"tags","time_ms":"now"})",              // time not a number
    };
    for (const char* b : bad) {
        INFO(b);
        CHECK_FALSE(decode_event(b, Decode::tolerant));
        CHECK_FALSE(decode_event(b, Decode::complete));
    }
}

TEST_CASE("a tolerant reader takes what older and newer writers send", "[purge_event]") {
    // The minimum: seq and kind. Missing fields default; unknown ones are ignored.
    const auto e = decode_event(R"({"seq":7,"kind":"everything","future":{"x":1}})");
    REQUIRE(e);
    CHECK(e->seq == 7);
    CHECK(e->kind == PurgeKind::everything);
    CHECK(e->values.empty());
    CHECK_FALSE(e->soft);
    CHECK(e->time_ms == 0);
    // purge_api reading its own log wants every field.
    CHECK_FALSE(decode_event(R"({"seq":7,"kind":"everything"})", Decode::complete));
    CHECK_FALSE(decode_event(R"({"seq":7,"id":"x","time_ms":1,"kind":"tags","values":[]})",
                             Decode::complete));
    CHECK(decode_event(R"({"seq":7,"id":"x","time_ms":1,"kind":"tags","values":[],"soft":true,)"
                       R"("new_field":true})",
                       Decode::complete));
}

TEST_CASE("reset events and compaction markers", "[purge_event]") {
    const auto r = decode_reset(encode_reset({123, -5}));
    REQUIRE(r);
    CHECK(r->compacted_through == 123);
    CHECK(r->time_ms == -5);
    CHECK_FALSE(decode_reset(R"({"seq":1,"kind":"tags"})"));
    CHECK_FALSE(decode_reset("nonsense"));
    CHECK_FALSE(decode_reset(R"({"compacted_through":1})"));
    CHECK_FALSE(decode_reset(R"({"compacted_through":-1,"time_ms":2})"));
    CHECK_FALSE(decode_reset(R"({"compacted_through":"1","time_ms":2})"));
    CHECK_FALSE(decode_reset("[]"));
}

TEST_CASE("server-sent event blocks", "[purge_event]") {
    const SseMessage p = parse_sse_block("id: 3\nevent: purge\ndata: {\"a\":1}");
    CHECK_FALSE(p.comment_only);
    CHECK(p.event == "purge");
    CHECK(p.data == "{\"a\":1}");
    CHECK(parse_sse_block(": ping").comment_only);
    const SseMessage multi = parse_sse_block("event:synced\ndata: one\ndata:two\n: note");
    CHECK(multi.event == "synced");
    CHECK(multi.data == "one\ntwo");
    // What the stream sends parses back to what was sent.
    std::string text = sse_reset({9, 10});
    text.resize(text.size() - 2);  // the blank line ends the block
    const SseMessage reset = parse_sse_block(text);
    CHECK(reset.event == "reset");
    const auto back = decode_reset(reset.data);
    REQUIRE(back);
    CHECK(back->compacted_through == 9);
}
