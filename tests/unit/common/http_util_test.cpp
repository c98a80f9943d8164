#include "common/http_util.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace cdn::http_util;

TEST_CASE("list elements split on commas outside quotes", "[http_util]") {
    std::vector<std::string> got;
    for_each_element(R"( a, b="x,y" ,,c )", [&](std::string_view e) {
        got.emplace_back(e);
        return true;
    });
    CHECK(got == std::vector<std::string>{"a", R"(b="x,y")", "c"});
    CHECK(list_has_token("keep-alive, Upgrade", "upgrade"));
    CHECK_FALSE(list_has_token("keep-alive", "close"));
}

TEST_CASE("hop-by-hop fields", "[http_util]") {
    CHECK(is_hop_by_hop("Connection"));
    CHECK(is_hop_by_hop("transfer-encoding"));
    CHECK_FALSE(is_hop_by_hop("Cache-Control"));
}
