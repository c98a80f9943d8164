// RFC 9213 targeted fields (a Structured Field Dictionary), Surrogate-Control, and which field
// sets the caching policy of a response.
#include "edge/cache/targeted_cache_control.hpp"
#include "common/http_util.hpp"
#include "edge/cache/structured_fields.hpp"
#include "edge/proxy/response_fields.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace cdn::edge;
using namespace cdn::edge::cache;

TEST_CASE("a Structured Field Dictionary is parsed strictly", "[targeted][sf]") {
    auto d = sf::parse_dictionary(
        R"(max-age=60, no-store, private="a, b";x=1, n=-5, d=1.25, t=tok/x, b=:aGk=:, f=?0, l=(1 "x"))");
    REQUIRE(d);
    REQUIRE(d->size() == 9);
    CHECK((*d)[0].first == "max-age");
    CHECK((*d)[0].second.type == sf::ItemType::integer);
    CHECK((*d)[0].second.integer == 60);
    CHECK((*d)[1].second.type == sf::ItemType::boolean);
    CHECK((*d)[1].second.integer == 1);
    CHECK((*d)[2].second.type == sf::ItemType::string);
    CHECK((*d)[2].second.text == "a, b");
    CHECK((*d)[3].second.integer == -5);
    CHECK((*d)[4].second.type == sf::ItemType::decimal);
    CHECK((*d)[4].second.decimal == Approx(1.25));
    CHECK((*d)[5].second.type == sf::ItemType::token);
    CHECK((*d)[6].second.type == sf::ItemType::bytes);
    CHECK((*d)[7].second.integer == 0);
    CHECK((*d)[8].second.type == sf::ItemType::inner_list);
    // The last of a repeated key wins.
    auto r = sf::parse_dictionary("max-age=1, max-age=2");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().second.integer == 2);

    for (const char* bad : {"Max-Age=60", "max-age=60,", "max-age=60;", "max-age = 60",
                            "max-age=", "max-age=\"60", "max-age=1234567890123456", "a=1.2345",
                            "a=?2", "a=:%%:", ",a", "a,,b", "a=1 b=2", "1a", "a=(1", "a=\"\x01\""})
        CHECK_FALSE(sf::parse_dictionary(bad));
}

TEST_CASE("CDN-Cache-Control values map to directives, wrong types are ignored", "[targeted]") {
    auto cc = parse_targeted_cache_control("max-age=600, must-revalidate, stale-if-error=30");
    REQUIRE(cc);
    CHECK(cc->max_age == 600);
    CHECK(cc->must_revalidate);
    CHECK(cc->stale_if_error == 30);
    // Wrong types: the directive is ignored, the field still counts.
    cc = parse_targeted_cache_control("max-age=1.5, no-store=?0, s-maxage=\"60\"");
    REQUIRE(cc);
    CHECK_FALSE(cc->max_age);
    CHECK_FALSE(cc->no_store);
    CHECK_FALSE(cc->s_maxage);
    // "none" (RFC 9213 section 3.1) is valid and says nothing: cacheable by the usual rules.
    cc = parse_targeted_cache_control("none");
    REQUIRE(cc);
    CHECK_FALSE(cc->no_store);
    CHECK(parse_targeted_cache_control("private=\"set-cookie\"")->private_);
    CHECK(parse_targeted_cache_control("no-cache")->no_cache);
    // Empty or invalid: as if absent.
    CHECK_FALSE(parse_targeted_cache_control(""));
    CHECK_FALSE(parse_targeted_cache_control("  "));
    CHECK_FALSE(parse_targeted_cache_control("max-age=60, Private"));
    CHECK_FALSE(parse_targeted_cache_control("max-age=60,,"));
}

TEST_CASE("Surrogate-Control: max-age, no-store, and directives aimed at this device",
          "[targeted][surrogate]") {
    auto sc = parse_surrogate_control("max-age=300+60, content=\"ESI/1.0\"", "edge1");
    REQUIRE(sc);
    CHECK(sc->max_age == 300);
    sc = parse_surrogate_control("max-age=10;other, max-age=20;edge1", "edge1");
    REQUIRE(sc);
    CHECK(sc->max_age == 20);
    CHECK(parse_surrogate_control("no-store", "e")->no_store);
    CHECK_FALSE(parse_surrogate_control("content=\"ESI/1.0\"", "e"));
    CHECK_FALSE(parse_surrogate_control("max-age=abc", "e"));
    CHECK_FALSE(parse_surrogate_control("", "e"));
}

namespace {

EffectiveCacheControl pick(const CacheControlSources& s,
                           const std::map<std::string, std::string, std::less<>>& fields) {
    return effective_cache_control(s, [&](std::string_view name) {
        for (const auto& [k, v] : fields)
            if (cdn::http_util::iequals(k, name)) return v;
        return std::string();
    });
}

}  // namespace

TEST_CASE(
    "the first valid field of the target list decides, then Surrogate-Control, then "
    "Cache-Control",
    "[targeted]") {
    CacheControlSources s;
    s.targeted = {"Acme-CDN-Cache-Control", "CDN-Cache-Control"};
    s.device = "edge1";
    auto e = pick(s, {{"Cache-Control", "no-store"},
                      {"CDN-Cache-Control", "max-age=600"},
                      {"Acme-CDN-Cache-Control", "max-age=60"}});
    CHECK(e.source == "Acme-CDN-Cache-Control");
    CHECK(e.cc.max_age == 60);
    CHECK_FALSE(e.cc.no_store);  // Cache-Control is ignored
    // An invalid targeted field is skipped as a whole: the next one applies.
    e = pick(s, {{"Acme-CDN-Cache-Control", "max-age=60, Bogus"},
                 {"CDN-Cache-Control", "no-store"},
                 {"Cache-Control", "max-age=60"}});
    CHECK(e.source == "CDN-Cache-Control");
    CHECK(e.cc.no_store);
    // None valid: Surrogate-Control sets the lifetime, Cache-Control's private still holds.
    e = pick(s, {{"CDN-Cache-Control", ""},
                 {"Surrogate-Control", "max-age=100"},
                 {"Cache-Control", "max-age=5, s-maxage=7, private"}});
    CHECK(e.source == "Surrogate-Control");
    CHECK(e.cc.max_age == 100);
    CHECK_FALSE(e.cc.s_maxage);
    CHECK(e.cc.private_);
    s.surrogate_control = false;
    e = pick(s, {{"Surrogate-Control", "max-age=100"}, {"Cache-Control", "max-age=5"}});
    CHECK(e.source.empty());
    CHECK(e.cc.max_age == 5);
}

TEST_CASE("a targeted field in charge makes Expires irrelevant, and marks the CDN's fields",
          "[targeted]") {
    proxy::Fields f;
    f.insert("Cache-Control", "no-store");
    f.insert("Expires", "0");
    f.insert("CDN-Cache-Control", "max-age=600");
    auto facts = proxy::facts_of(200, f, {});
    CHECK(facts.cc.max_age == 600);
    CHECK_FALSE(facts.cc.no_store);
    CHECK_FALSE(facts.has_expires);
    CHECK(facts.has_cdn_fields);
    // Without a valid targeted field, Expires counts again.
    f.set("CDN-Cache-Control", "max-age=600,");
    facts = proxy::facts_of(200, f, {});
    CHECK(facts.cc.no_store);
    CHECK(facts.has_expires);
    CHECK(facts.has_cdn_fields);  // still stripped for clients: it is the CDN's
}
