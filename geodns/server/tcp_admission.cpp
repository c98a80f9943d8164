#include "geodns/server/tcp_admission.hpp"

#include <cstring>

namespace cdn::geodns {

TcpAdmission::TcpAdmission(unsigned max_connections, unsigned max_per_client)
    : max_connections_(max_connections),
      max_per_client_(max_per_client),
      busy_above_(max_connections - max_connections / 4) {}

void TcpAdmission::set_limits(unsigned max_connections, unsigned max_per_client) {
    std::lock_guard lock(mu_);
    max_connections_ = max_connections;
    max_per_client_ = max_per_client;
    busy_above_.store(max_connections - max_connections / 4, std::memory_order_relaxed);
}

std::size_t TcpAdmission::KeyHash::operator()(const Key& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    const std::uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b + 0x632be59bd9b4e019ULL);
    return static_cast<std::size_t>(h ^ (h >> 29));
}

TcpAdmission::Key TcpAdmission::key_of(const boost::asio::ip::address& client) {
    namespace ip = boost::asio::ip;
    Key k{};
    if (client.is_v4()) {
        return ip::make_address_v6(ip::v4_mapped, client.to_v4()).to_bytes();
    }
    k = client.to_v6().to_bytes();
    if (!client.to_v6().is_v4_mapped()) std::memset(k.data() + 8, 0, 8);  // the /64
    return k;
}

TcpAdmission::Result TcpAdmission::admit(const boost::asio::ip::address& client) {
    const Key key = key_of(client);
    std::lock_guard lock(mu_);
    if (open_.load(std::memory_order_relaxed) >= max_connections_) return Result::server_full;
    unsigned& held = per_client_[key];
    if (held >= max_per_client_) return Result::client_full;
    ++held;
    open_.fetch_add(1, std::memory_order_relaxed);
    return Result::admitted;
}

void TcpAdmission::release(const boost::asio::ip::address& client) {
    const Key key = key_of(client);
    std::lock_guard lock(mu_);
    const auto it = per_client_.find(key);
    if (it == per_client_.end()) return;
    open_.fetch_sub(1, std::memory_order_relaxed);
    if (--it->second == 0) per_client_.erase(it);
}

std::size_t TcpAdmission::clients() const {
    std::lock_guard lock(mu_);
    return per_client_.size();
}

}  // namespace cdn::geodns
