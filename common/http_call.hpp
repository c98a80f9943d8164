#pragma once
// One HTTP/1.1 request from a daemon to a control-plane endpoint (the edge's registrar and
// geodns' registry watcher to purge_api): a fresh connection, plain or TLS (the same
// TlsClientConfig the purge stream uses), the whole exchange bounded by one timeout, the answer
// read into a string (at most 4 MiB). Never throws; a failure says which step failed, so callers
// can log once per state change.
#include "common/net.hpp"
#include "common/tls_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace cdn {

struct HttpCallResult {
    enum class Failure { none, connect, tls, io };
    Failure failure = Failure::none;
    std::string error;  // when failure != none: "cannot connect to http://...: Connection refused"
    unsigned status = 0;  // the answer's status (failure == none)
    std::string body;
    bool ok() const { return failure == Failure::none; }
};

struct HttpCall {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    std::string target;  // "/v1/registry" (appended to the base URL's path)
    std::string bearer;  // Authorization: Bearer ...; empty: none
    std::string body;    // sent with Content-Type: application/json when not empty
    std::chrono::milliseconds timeout{3000};
};

// `base` is http:// or https://; `tls` is required for https:// (null for http://).
boost::asio::awaitable<HttpCallResult> http_call(boost::asio::any_io_executor executor,
                                                 const Url& base,
                                                 std::shared_ptr<const TlsClientConfig> tls,
                                                 HttpCall call);

}  // namespace cdn
