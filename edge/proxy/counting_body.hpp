#pragma once
// An origin response body that counts the bytes read from it (cdn_edge_origin_body_bytes_total):
// wrapped around every body the pipeline fetches, so the metric shows what the origins sent,
// whoever reads it (a fill, a relay, a slice).
#include "common/metrics.hpp"
#include "edge/upstream/origin_pool.hpp"

#include <memory>

namespace cdn::edge::proxy {

class CountingBody final : public upstream::ResponseBody {
  public:
    CountingBody(std::unique_ptr<upstream::ResponseBody> body, Counter& bytes)
        : body_(std::move(body)), bytes_(bytes) {}
    boost::asio::awaitable<Result<std::size_t>> read_some(char* out, std::size_t n) override {
        auto got = co_await body_->read_some(out, n);
        if (got && *got) bytes_.inc(*got);
        co_return got;
    }
    void set_deadline(std::chrono::steady_clock::time_point deadline) override {
        body_->set_deadline(deadline);
    }
    bool done() const override { return body_->done(); }
    std::optional<std::uint64_t> content_length() const override { return body_->content_length(); }
    std::size_t buffered() const override { return body_->buffered(); }

  private:
    std::unique_ptr<upstream::ResponseBody> body_;
    Counter& bytes_;
};

}  // namespace cdn::edge::proxy
