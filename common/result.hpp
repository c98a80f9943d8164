#pragma once
// The project's one result type: boost::system::result<T> with an error category that records
// which side failed (client, origin, internal) and whether a retry makes sense.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace cdn {

template <class T>
using Result = boost::system::result<T>;
using ErrorCode = boost::system::error_code;

enum class Errc {
    ok = 0,
    bad_request,          // client sent something malformed
    header_too_large,     // client headers over the limit
    body_too_large,       // client body over the limit
    client_timeout,       // client too slow
    origin_unreachable,   // connect failed or refused
    origin_timeout,       // connect, write or read timed out
    origin_bad_response,  // unparsable or oversized response
    origin_closed,        // origin closed before a complete response
    origin_tls,           // TLS handshake with the origin failed (certificate, name, protocol)
    no_origin,            // no origin configured for the host
    invalid_value,        // a configuration or input value that does not parse
    internal,
};

enum class Side { client, origin, internal };

Side side_of(Errc e) noexcept;
bool retryable(Errc e) noexcept;

const boost::system::error_category& cdn_category() noexcept;
inline ErrorCode make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), cdn_category()};
}

}  // namespace cdn

template <>
struct boost::system::is_error_code_enum<cdn::Errc> : std::true_type {};
