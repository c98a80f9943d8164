// TCP admission (geodns/server/tcp_admission.hpp): the total and per-client caps, the busy
// threshold, and a table that holds only clients with open connections.
#include "geodns/server/tcp_admission.hpp"

#include <catch2/catch.hpp>

using namespace cdn::geodns;
using boost::asio::ip::make_address;
using Result = TcpAdmission::Result;

TEST_CASE("tcp admission: per-client and total caps", "[geodns][tcp]") {
    TcpAdmission t(8, 3);
    const auto a = make_address("192.0.2.1");
    const auto b = make_address("192.0.2.2");
    const auto c = make_address("192.0.2.3");
    for (int i = 0; i < 3; ++i)
        CHECK(t.admit(a) == Result::admitted);
    CHECK(t.admit(a) == Result::client_full);                                 // a holds its 3
    CHECK(t.admit(make_address("::ffff:192.0.2.1")) == Result::client_full);  // same client
    for (int i = 0; i < 3; ++i)
        CHECK(t.admit(b) == Result::admitted);
    CHECK(t.admit(c) == Result::admitted);
    CHECK(t.admit(c) == Result::admitted);
    CHECK(t.open() == 8);
    CHECK(t.admit(make_address("192.0.2.4")) == Result::server_full);
    t.release(a);
    CHECK(t.admit(make_address("192.0.2.4")) == Result::admitted);
    CHECK(t.admit(a) == Result::server_full);
    CHECK(t.clients() == 4);
}

TEST_CASE("tcp admission: busy above 3/4 of the slots", "[geodns][tcp]") {
    TcpAdmission t(16, 16);
    const auto a = make_address("198.51.100.1");
    for (int i = 0; i < 12; ++i)
        REQUIRE(t.admit(a) == Result::admitted);
    CHECK_FALSE(t.busy());  // 12 of 16: exactly 3/4
    REQUIRE(t.admit(a) == Result::admitted);
    CHECK(t.busy());
    t.release(a);
    CHECK_FALSE(t.busy());
}

TEST_CASE("tcp admission: IPv6 clients are /64s, and the table forgets closed clients",
          "[geodns][tcp]") {
    TcpAdmission t(100, 2);
    CHECK(t.admit(make_address("2001:db8::1")) == Result::admitted);
    CHECK(t.admit(make_address("2001:db8::ffff:2")) == Result::admitted);
    CHECK(t.admit(make_address("2001:db8::3")) == Result::client_full);  // the same /64
    CHECK(t.admit(make_address("2001:db8:0:1::1")) == Result::admitted);
    CHECK(t.clients() == 2);
    t.release(make_address("2001:db8::1"));
    t.release(make_address("2001:db8::2"));  // any address of the /64
    t.release(make_address("2001:db8:0:1::1"));
    CHECK(t.clients() == 0);
    CHECK(t.open() == 0);
    t.release(make_address("192.0.2.9"));  // never admitted: ignored
    CHECK(t.open() == 0);
}

TEST_CASE("tcp admission: new limits apply to the next connection", "[geodns][tcp]") {
    TcpAdmission t(16, 4);
    const auto a = make_address("203.0.113.1");
    for (int i = 0; i < 4; ++i)
        REQUIRE(t.admit(a) == Result::admitted);
    CHECK_FALSE(t.busy());
    t.set_limits(4, 2);  // a reload: fewer slots; the open ones stay and count
    CHECK(t.busy());
    CHECK(t.admit(make_address("203.0.113.2")) == Result::server_full);
    t.release(a);
    t.release(a);
    t.release(a);
    CHECK(t.admit(a) == Result::admitted);  // 2 of 2 for a
    CHECK(t.admit(a) == Result::client_full);
    t.set_limits(1024, 16);
    CHECK(t.admit(a) == Result::admitted);
    CHECK_FALSE(t.busy());
}
