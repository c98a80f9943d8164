#pragma once
// A PurgeStore kept in etcd (v3, through its JSON gateway: /v3/kv/range, /v3/kv/txn, /v3/watch,
// /v3/lease/*, /v3/kv/compaction; keys and values base64), so several purge_api instances share
// one log and one view of the edges. Under the prefix:
//
//   seq                       the last seq, decimal
//   log/<seq, 20 digits>      the record's JSON (PurgeRecord::json)
//   compacted                 {"compacted_through":S,"time_ms":T}: every seq <= S was trimmed
//   idem/<token>/<key>        {"seq":N,"id":"...","fp":"<fingerprint>"} (with a lease: expires)
//   acks/<edge>               "<seq, 20 digits> <ms>": the highest seq the edge acknowledged
//   streams/<edge>/<instance> {"since_ms":T} while that instance holds the edge's stream (with
//                             the instance's lease, so it goes when the instance dies)
//   registry/<id>             the edge's registration and lease times (FleetRegistry::encode),
//                             written at each registration and renewal, deleted when it
//                             deregisters; every instance expires it by its end time
//
// Appends: the store's thread takes every purge queued meanwhile and writes them with one txn:
// if `seq` still holds the last seq this instance has seen and none of the batch's idempotency
// keys exists, put seq + n, the n records and their keys; else read what changed and try again
// (a key found is answered from it: the earlier purge, or key_reused). etcd answers once the
// txn is committed by its Raft quorum: only then do the callbacks run. A purge whose deadline
// passed before it was sent fails as not_applied; a txn whose answer did not come in time fails
// as maybe_applied (it may be in the log: a retry with the same idempotency key is safe).
//
// Reads: every record is mirrored in memory (readers never wait on etcd). One watch on the
// whole prefix, resumed from the last revision seen, brings other instances' records, acks,
// streams and keys within milliseconds of their commit. A record that does not follow the last
// one is never skipped over: the log is read again from the last seq + 1, and a hole that the
// `compacted` key does not explain stops the store (unhealthy, logged) rather than skip it.
// sync() answers whether the shared log holds some seq, with a linearizable read.
//
// Health: a probe (a read of `seq`) runs every second (every 200 ms while unhealthy or while the
// watch is down, when it also reads the log); a failed probe or txn makes the store unhealthy
// (the API answers 503) until a read succeeds. A watch that has not brought a change of `seq`
// by the next probe hangs on a stopped member: the log is read and the watch moved.
//
// Retention: when the log holds more than keep + keep/4 records, one instance trims it to the
// newest `keep` (deletes the keys, records `compacted` in the same txn, guarded so two instances
// do not both do it). Every compact_every, the store compacts etcd's history up to the revision
// it had seen one period earlier, so the `seq` and `acks/` revisions do not pile up.
#include "common/clock.hpp"
#include "common/net.hpp"
#include "purge_api/purge_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
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
    // Each request's deadline (a POST's append, a probe, a sync read): a stalled etcd turns
    // into an error within this, not after retries.
    std::chrono::milliseconds request_timeout{1000};
    std::size_t keep = 100'000;  // records kept by trimming (at least 1)
    std::chrono::milliseconds idempotency_ttl{24 * 3600 * 1000};
    std::chrono::milliseconds compact_every{60'000};
    std::chrono::milliseconds presence_ttl{10'000};  // the instance's lease on its stream keys
};

class EtcdClient;
class EtcdStream;

class EtcdPurgeStore final : public PurgeStore {
  public:
    // Loads the log from etcd; throws std::runtime_error when no endpoint answers or the log
    // does not parse.
    EtcdPurgeStore(EtcdStoreOptions options, const Clock& clock);
    ~EtcdPurgeStore() override;
    EtcdPurgeStore(const EtcdPurgeStore&) = delete;
    EtcdPurgeStore& operator=(const EtcdPurgeStore&) = delete;

    void submit(AppendRequest request, SubmitDone done) override;
    void sync(std::uint64_t seq, std::chrono::milliseconds wait,
              std::function<void(SeqCheck)> done) override;
    LogSlice read_after(std::uint64_t after, std::size_t max) const override;
    PurgeRecordPtr find(std::string_view id) const override;
    std::uint64_t last_seq() const override;
    bool healthy() const override { return healthy_.load() && !stuck_.load(); }
    void on_appended(std::function<void(std::uint64_t)> listener) override;
    void publish_ack(const std::string& edge, std::uint64_t seq, std::int64_t ms) override;
    void publish_stream(const std::string& edge, bool live) override;
    void publish_registration(const std::string& id, std::optional<std::string> value) override;
    void on_edge_event(std::function<void(const EdgeEvent&)> listener) override;

    // Fails what is queued, removes this instance's stream keys, stops the thread; later
    // appends fail. Idempotent.
    void close();

    std::size_t size() const;                                      // records held
    std::uint64_t conflicts() const { return conflicts_.load(); }  // txns lost to another writer
    std::uint64_t trims() const { return trims_.load(); }          // trims this instance did
    std::uint64_t watch_restarts() const { return watch_restarts_.load(); }
    const std::string& instance() const { return instance_; }

  private:
    struct Pending {
        AppendRequest req;
        SubmitDone done;
    };
    struct SyncWait {
        std::uint64_t seq;
        std::chrono::steady_clock::time_point deadline;
        std::function<void(SeqCheck)> done;
    };
    struct KeyUse {
        std::uint64_t seq = 0;
        std::string id;
        std::string fingerprint;
    };
    using Awaitable = boost::asio::awaitable<void>;

    // The coroutines of the store's thread.
    Awaitable writer();
    Awaitable watcher();
    Awaitable prober();
    Awaitable syncer();
    Awaitable publisher();
    Awaitable keeper();

    // Reads everything under the prefix (log from last_seq_ + 1, keys, acks, streams) at one
    // revision and absorbs it; the revision, or nullopt when etcd could not be read.
    boost::asio::awaitable<std::optional<std::int64_t>> load(EtcdClient& c, bool everything);
    // Reads the log from last_seq_ + 1 (and `compacted`) until none is left; false on failure.
    boost::asio::awaitable<bool> catch_up(EtcdClient& c);
    Awaitable commit(EtcdClient& c, std::vector<Pending> batch);
    // Moves queued purges into `batch` while it stays within one txn's limits (queue_mu_ held).
    void take_queued(std::vector<Pending>& batch);
    // Applies one key-value (or its deletion) seen in a range or a watch.
    void absorb_kv(const boost::json::object& kv, bool deleted, std::int64_t revision);
    void absorb_record(std::string_view payload);
    // Records [through+1...] follow a trim at `through`: drops what is below.
    void absorb_compacted(std::uint64_t through, std::int64_t time_ms);
    void absorb_streams(const std::string& edge);
    void set_healthy(bool ok, std::string_view why = {});
    void notify(std::uint64_t last);
    void edge_event(const EdgeEvent& e);
    std::string new_id();
    std::chrono::steady_clock::time_point deadline() const;

    EtcdStoreOptions options_;
    std::vector<Url> urls_;
    const Clock& clock_;
    std::mt19937_64 rng_;
    std::string instance_;  // this process, in streams/ keys
    std::mutex listener_mu_;
    std::function<void(std::uint64_t)> listener_;
    std::function<void(const EdgeEvent&)> edge_listener_;

    boost::asio::io_context io_;
    boost::asio::steady_timer wake_{io_};  // the writer
    boost::asio::steady_timer sync_wake_{io_};
    boost::asio::steady_timer publish_wake_{io_};
    boost::asio::steady_timer stop_{io_};  // cancelled by close()
    std::thread thread_;
    std::shared_ptr<std::atomic<std::size_t>> preferred_;  // the endpoint that answered last

    std::mutex queue_mu_;
    std::vector<Pending> queue_;
    std::vector<SyncWait> syncs_;
    std::map<std::string, std::pair<std::uint64_t, std::int64_t>> acks_out_;  // edge -> (seq, ms)
    std::map<std::string, bool> streams_out_;                                 // edge -> live here
    std::map<std::string, std::optional<std::string>>
        registry_out_;  // id -> entry (nullopt: removed)
    bool stopping_ = false;

    // The store's thread only.
    std::int64_t revision_ = 0;   // of the last state absorbed
    bool need_catch_up_ = false;  // a record arrived out of order
    std::unordered_map<std::string, KeyUse> keys_;
    // edge -> the highest ack seen in etcd (seq, ms)
    std::map<std::string, std::pair<std::uint64_t, std::int64_t>> acks_in_;
    std::map<std::string, std::set<std::string>> streams_in_;  // edge -> instances (not this)
    std::set<std::string> streams_mine_;              // edges whose stream key this instance put
    std::map<std::string, std::string> registry_in_;  // id -> entry, as etcd holds it
    std::int64_t lease_ = 0;                          // presence lease (0: none yet)
    std::int64_t key_lease_ = 0;                      // the idempotency keys' lease
    std::chrono::steady_clock::time_point key_lease_granted_{};
    std::int64_t compacted_rev_ = 0;    // mod_revision of `compacted` (guards trims)
    std::int64_t etcd_compacted_ = 0;   // history compacted up to here
    EtcdStream* watch_ = nullptr;       // the open watch, for the prober to cut
    std::uint64_t hole_logged_at_ = 0;  // the seq a hole was last logged at (0: none)
    bool writer_done_ = false;          // the writer finished the queue after close()
    bool watching_ = false;             // the watch is open and has answered
    std::chrono::steady_clock::time_point down_since_{};  // the watch ended then (none: {})
    std::int64_t suspect_rev_ = 0;
    std::chrono::steady_clock::time_point
        last_foreign_{};  // another instance's record came  // `seq`'s revision the watch had not
                          // brought at a probe

    mutable std::shared_mutex data_mu_;
    std::deque<PurgeRecordPtr> records_;
    std::unordered_map<std::string, PurgeRecordPtr> ids_;
    std::uint64_t last_seq_ = 0;
    std::int64_t last_time_ms_ = 0;
    std::uint64_t compacted_through_ = 0;
    std::int64_t compacted_time_ms_ = 0;

    std::atomic<bool> healthy_{true};
    std::atomic<bool> stuck_{false};  // a hole in the log: no reads past it, no appends
    std::atomic<std::uint64_t> conflicts_{0};
    std::atomic<std::uint64_t> trims_{0};
    std::atomic<std::uint64_t> watch_restarts_{0};
};

}  // namespace cdn::purge_api
