#pragma once
// Who may hold one of geodns' TCP connections: at most `max_connections` in all and at most
// `max_per_client` per client (an IPv4 address, or an IPv6 /64: what one host usually holds), so
// one client cannot take every slot and idle in them. Above 3/4 of max_connections the server is
// busy: idle connections then get the short idle timeout (dns_server.cpp), so newcomers get in.
//
// Thread-safe: one mutex, taken when a connection opens or closes, never per query. The table
// holds only clients with an open connection, so it never exceeds max_connections entries.
#include <boost/asio/ip/address.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace cdn::geodns {

class TcpAdmission {
  public:
    enum class Result { admitted, server_full, client_full };

    TcpAdmission(unsigned max_connections, unsigned max_per_client);

    // New limits (a reload); connections already open stay, and count against them.
    void set_limits(unsigned max_connections, unsigned max_per_client);

    // Takes a slot for `client` (release() gives it back) or says why not.
    Result admit(const boost::asio::ip::address& client);
    void release(const boost::asio::ip::address& client);

    unsigned open() const noexcept { return open_.load(std::memory_order_relaxed); }
    // More than 3/4 of the slots are taken.
    bool busy() const noexcept { return open() > busy_above_.load(std::memory_order_relaxed); }
    // Clients holding at least one connection.
    std::size_t clients() const;

  private:
    using Key = std::array<std::uint8_t, 16>;  // IPv4 as ::ffff:a.b.c.d; IPv6 cut to /64
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept;
    };
    static Key key_of(const boost::asio::ip::address& client);

    unsigned max_connections_;  // guarded by mu_
    unsigned max_per_client_;   // guarded by mu_
    std::atomic<unsigned> busy_above_;
    std::atomic<unsigned> open_{0};
    mutable std::mutex mu_;
    std::unordered_map<Key, unsigned, KeyHash> per_client_;
};

}  // namespace cdn::geodns
