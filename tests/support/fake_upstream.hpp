#pragma once
// Test support: an upstream (edge/upstream/upstream.hpp) whose every answer the test scripts,
// so the edge's request pipeline runs in a unit test without sockets or sleeps: the test moves
// a ManualClock and looks at what the pipeline asked for. Header-only; links with cdn_edge.
#include "common/result.hpp"
#include "edge/upstream/upstream.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cdn::test {

// A body already whole, handed out in pieces of at most `piece` bytes.
class StringBody final : public edge::upstream::ResponseBody {
  public:
    explicit StringBody(std::string body, std::size_t piece = 4096)
        : body_(std::move(body)), piece_(piece) {}
    boost::asio::awaitable<Result<std::size_t>> read_some(char* out, std::size_t n) override {
        const std::size_t k = std::min({n, piece_, body_.size() - at_});
        std::memcpy(out, body_.data() + at_, k);
        at_ += k;
        co_return k;
    }
    void set_deadline(std::chrono::steady_clock::time_point) override {}
    bool done() const override { return at_ == body_.size(); }
    std::optional<std::uint64_t> content_length() const override { return body_.size(); }
    std::size_t buffered() const override { return body_.size() - at_; }

  private:
    std::string body_;
    std::size_t piece_;
    std::size_t at_ = 0;
};

// What the script answers: a response, or an error (no response at all).
struct FakeResponse {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
    std::optional<Errc> error;
    edge::upstream::Hop hop = edge::upstream::Hop::origin;
};

// One request the pipeline sent, as the upstream saw it.
struct FakeCall {
    std::string method;
    std::string target;
    std::string host;
    std::string if_none_match;
    std::string cdn_loop;
    bool to_parents = false;
    std::uint64_t key_hash = 0;
};

class FakeUpstream final : public edge::upstream::Upstream {
  public:
    using Script = std::function<FakeResponse(const FakeCall&)>;
    explicit FakeUpstream(Script script) : script_(std::move(script)) {}

    boost::asio::awaitable<Result<edge::upstream::UpstreamResponse>> fetch(
        const edge::upstream::UpstreamCall& call) override {
        namespace bh = boost::beast::http;
        const auto& req = *call.req;
        FakeCall seen{std::string(req.method_string()),
                      std::string(req.target()),
                      std::string(req[bh::field::host]),
                      std::string(req[bh::field::if_none_match]),
                      std::string(req["CDN-Loop"]),
                      call.parents != nullptr,
                      call.key_hash};
        calls_.push_back(seen);
        // Answer on a later turn of the loop, as a real upstream would.
        co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                                   boost::asio::use_awaitable);
        FakeResponse r = script_(seen);
        if (r.error) co_return *r.error;
        edge::upstream::UpstreamResponse out;
        out.head.result(r.status);
        out.head.version(11);
        for (const auto& [n, v] : r.fields)
            out.head.insert(n, v);
        out.head.set(bh::field::content_length, std::to_string(r.body.size()));
        out.body = std::make_unique<StringBody>(std::move(r.body));
        out.hop = r.hop;
        co_return out;
    }
    void set_settings(const edge::upstream::PoolSettings&) override {}
    const std::string& last_tls_failure() const override { return none_; }

    const std::vector<FakeCall>& calls() const { return calls_; }

  private:
    Script script_;
    std::vector<FakeCall> calls_;
    std::string none_;
};

}  // namespace cdn::test
