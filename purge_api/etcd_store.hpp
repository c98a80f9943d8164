#pragma once
// A PurgeStore kept in etcd (v3, through its JSON gateway: POST /v3/kv/range and /v3/kv/txn,
// keys and values base64), so several purge_api instances share one log.
//
//   <prefix>seq                           the last seq, decimal
//   <prefix>log/<seq, 20 digits, 0-padded> the record's JSON (PurgeRecord::json)
//
// Appends: the store's thread takes every purge queued meanwhile and writes them with one txn:
// if <prefix>seq still holds the last seq this instance has seen, put seq + n and the n records;
// else (another instance appended first) read the new records and try again. etcd answers once
// the txn is committed by its Raft quorum (and in its fsynced WAL): only then do the callbacks
// run. A txn whose answer is lost (timeout, connection cut) is reported as failed, though etcd
// may have applied it; the purge then shows up in the log anyway (purges are idempotent).
//
// Reads: every record is mirrored in memory (readers never wait on etcd). The thread polls
// <prefix>log/ from last_seq + 1 every poll_interval, so records appended by other instances
// become readable (and the on_appended listener runs) within about that much.
//
// etcd down: a failed request marks the store unhealthy (healthy() false: the API answers 503)
// and fails the purges it carried; polling goes on and a successful one makes it healthy again.
//
// Compaction: none; the log grows in etcd and in memory. Keys deleted below some seq by hand
// (etcdctl del) are seen at the next start-up as compacted through the seq before the first key.
#include "common/clock.hpp"
#include "common/net.hpp"
#include "purge_api/purge_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace cdn::purge_api {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);
// "<prefix>log/00000000000000000042"
std::string etcd_log_key(std::string_view prefix, std::uint64_t seq);
// The end of the key range of every key starting with `prefix` (its last byte plus one).
std::string etcd_range_end(std::string_view prefix);

struct EtcdStoreOptions {
    std::vector<std::string> endpoints{"http://127.0.0.1:2379"};  // tried in turn on failure
    std::string prefix = "/cdn/purge/";
    std::chrono::milliseconds poll_interval{20};
    std::chrono::milliseconds request_timeout{2000};
};

class EtcdPurgeStore final : public PurgeStore {
  public:
    // Loads the log from etcd; throws std::runtime_error when no endpoint answers or the log
    // does not parse.
    EtcdPurgeStore(EtcdStoreOptions options, const Clock& clock);
    ~EtcdPurgeStore() override;
    EtcdPurgeStore(const EtcdPurgeStore&) = delete;
    EtcdPurgeStore& operator=(const EtcdPurgeStore&) = delete;

    void append(PurgeDraft draft, AppendDone done) override;
    LogSlice read_after(std::uint64_t after, std::size_t max) const override;
    PurgeRecordPtr find(std::string_view id) const override;
    std::uint64_t last_seq() const override;
    bool healthy() const override { return healthy_.load(); }
    void on_appended(std::function<void(std::uint64_t)> listener) override;

    // Fails what is queued and stops the thread; later appends fail. Idempotent.
    void close();

    std::size_t size() const;                                      // records held
    std::uint64_t conflicts() const { return conflicts_.load(); }  // txns lost to another writer

  private:
    struct Pending {
        PurgeDraft draft;
        AppendDone done;
    };
    using Awaitable = boost::asio::awaitable<void>;

    Awaitable run();
    // Reads records after last_seq_ until none are left; false when etcd could not be read.
    boost::asio::awaitable<bool> catch_up();
    Awaitable commit(std::vector<Pending> batch);
    // One request; the parsed JSON answer, or an error (the connection is then dropped and the
    // next endpoint is used next time).
    boost::asio::awaitable<Result<boost::json::value>> call(std::string_view path,
                                                            const boost::json::value& body);
    // Adds records read from etcd (in key order); false when one does not parse.
    bool absorb(const boost::json::value& range_response, bool& more, std::size_t& added);
    void set_healthy(bool ok);
    void notify(std::uint64_t last);  // runs the on_appended listener
    std::string new_id();

    EtcdStoreOptions options_;
    std::vector<Url> urls_;
    std::size_t url_index_ = 0;
    const Clock& clock_;
    std::mt19937_64 rng_;
    std::mutex listener_mu_;
    std::function<void(std::uint64_t)> listener_;

    boost::asio::io_context io_;
    boost::asio::steady_timer wake_{io_};
    std::optional<boost::beast::tcp_stream> conn_;  // the store's thread only
    boost::beast::flat_buffer buffer_;
    std::thread thread_;

    std::mutex queue_mu_;
    std::vector<Pending> queue_;
    bool stopping_ = false;

    mutable std::shared_mutex data_mu_;
    std::deque<PurgeRecordPtr> records_;
    std::unordered_map<std::string, PurgeRecordPtr> ids_;
    std::uint64_t last_seq_ = 0;
    std::int64_t last_time_ms_ = 0;
    std::uint64_t compacted_through_ = 0;
    std::int64_t compacted_time_ms_ = 0;

    std::atomic<bool> healthy_{true};
    std::atomic<std::uint64_t> conflicts_{0};
};

}  // namespace cdn::purge_api
