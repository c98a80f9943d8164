#include "common/result.hpp"

#include <string>

namespace cdn {
namespace {

// boost's error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class CdnCategory final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "cdn"; }
    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::ok: return "ok";
            case Errc::bad_request: return "malformed request";
            case Errc::header_too_large: return "request headers too large";
            case Errc::body_too_large: return "request body too large";
            case Errc::client_timeout: return "client timed out";
            case Errc::origin_unreachable: return "origin unreachable";
            case Errc::origin_timeout: return "origin timed out";
            case Errc::origin_bad_response: return "origin sent an invalid response";
            case Errc::origin_closed: return "origin closed the connection early";
            case Errc::origin_tls: return "origin TLS handshake failed";
            case Errc::no_origin: return "no origin configured for this host";
            case Errc::invalid_value: return "invalid value";
            case Errc::internal: return "internal error";
        }
        return "unknown cdn error";
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& cdn_category() noexcept {
    static const CdnCategory category;
    return category;
}

Side side_of(Errc e) noexcept {
    switch (e) {
        case Errc::bad_request:
        case Errc::header_too_large:
        case Errc::body_too_large:
        case Errc::client_timeout:
        case Errc::invalid_value: return Side::client;
        case Errc::origin_unreachable:
        case Errc::origin_timeout:
        case Errc::origin_bad_response:
        case Errc::origin_closed:
        case Errc::origin_tls: return Side::origin;
        default: return Side::internal;
    }
}

bool retryable(Errc e) noexcept {
    return e == Errc::origin_unreachable || e == Errc::origin_closed;
}

}  // namespace cdn
