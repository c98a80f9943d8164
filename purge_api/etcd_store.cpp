#include "purge_api/etcd_store.hpp"

#include "common/log.hpp"
#include "purge_api/purge_log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace cdn::purge_api {
namespace json = boost::json;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRangeLimit = 100;           // records per range request
constexpr std::size_t kMaxBatch = 100;             // records per txn (etcd allows 128 ops)
constexpr std::size_t kMaxBatchBytes = 768 << 10;  // JSON per txn (etcd takes 1.5 MiB requests)
constexpr int kMaxConflicts = 50;
constexpr std::uint64_t kMaxResponse = 256ull << 20;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::int64_t to_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += kB64[n & 63];
    }
    if (const std::size_t rest = in.size() - i; rest > 0) {
        unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
        if (rest == 2) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += rest == 2 ? kB64[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    while (!in.empty() && in.back() == '=')
        in.remove_suffix(1);
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        const int v = val(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

std::string etcd_log_key(std::string_view prefix, std::uint64_t seq) {
    return fmt::format("{}log/{:020}", prefix, seq);
}

std::string etcd_range_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        if (static_cast<unsigned char>(end.back()) < 0xff) {
            end.back() = static_cast<char>(end.back() + 1);
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

EtcdPurgeStore::EtcdPurgeStore(EtcdStoreOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), rng_(std::random_device{}()) {
    if (options_.endpoints.empty()) throw std::runtime_error("etcd: no endpoints");
    for (const std::string& e : options_.endpoints) {
        auto u = parse_url(e);
        if (!u || u->scheme != "http")
            throw std::runtime_error(
                fmt::format("etcd endpoint \"{}\": expected http://HOST:PORT", e));
        urls_.push_back(*u);
    }
    // The initial load, on this thread, before the store's thread exists.
    std::optional<bool> loaded;
    asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<bool> {
            for (std::size_t i = 0; i < urls_.size(); ++i)
                if (co_await catch_up()) co_return true;
            co_return false;
        },
        [&](std::exception_ptr e, bool ok) {
            if (e) std::rethrow_exception(e);
            loaded = ok;
        });
    io_.run();
    if (!loaded || !*loaded)
        throw std::runtime_error(fmt::format("etcd {}: cannot read the purge log under \"{}\"",
                                             fmt::join(options_.endpoints, ", "), options_.prefix));
    io_.restart();
    asio::co_spawn(io_, run(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log_error("etcd store: {}; no more appends", x.what());
        }
    });
    thread_ = std::thread([this] {
        io_.run();
        // The loop ended (close, or an exception): fail whatever is still queued.
        std::vector<Pending> left;
        {
            std::lock_guard lk(queue_mu_);
            stopping_ = true;
            left.swap(queue_);
        }
        healthy_.store(false);
        for (Pending& p : left)
            p.done(make_error_code(Errc::internal));
    });
}

EtcdPurgeStore::~EtcdPurgeStore() {
    close();
}

void EtcdPurgeStore::close() {
    {
        std::lock_guard lk(queue_mu_);
        stopping_ = true;
    }
    asio::post(io_, [this] { wake_.cancel(); });
    if (thread_.joinable()) thread_.join();
}

void EtcdPurgeStore::on_appended(std::function<void(std::uint64_t)> listener) {
    std::lock_guard lk(listener_mu_);  // the thread may already be polling in others' purges
    listener_ = std::move(listener);
}

void EtcdPurgeStore::notify(std::uint64_t last) {
    std::function<void(std::uint64_t)> l;
    {
        std::lock_guard lk(listener_mu_);
        l = listener_;
    }
    if (l) l(last);
}

void EtcdPurgeStore::append(PurgeDraft draft, AppendDone done) {
    {
        std::lock_guard lk(queue_mu_);
        if (!stopping_) {
            queue_.push_back(Pending{std::move(draft), std::move(done)});
            asio::post(io_, [this] { wake_.cancel(); });
            return;
        }
    }
    done(make_error_code(Errc::internal));  // outside the lock: done may append again
}

void EtcdPurgeStore::set_healthy(bool ok) {
    const bool was = healthy_.exchange(ok);
    if (was && !ok) log_warn("etcd store: etcd unreachable; refusing purges until it is back");
    if (!was && ok) log_info("etcd store: etcd reachable again");
}

std::string EtcdPurgeStore::new_id() {
    for (;;) {
        std::string id = fmt::format("{:016x}", rng_());
        if (!ids_.contains(id)) return id;  // ids_ only changes on the store's thread
    }
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::run() {
    for (;;) {
        std::vector<Pending> batch;
        bool stop = false;
        {
            std::lock_guard lk(queue_mu_);
            stop = stopping_;
            std::size_t bytes = 0, n = 0;
            for (; n < queue_.size() && n < kMaxBatch; ++n) {
                for (const auto& v : queue_[n].draft.values)
                    bytes += v.size() + 4;
                if (n > 0 && bytes > kMaxBatchBytes) break;
            }
            batch.assign(std::make_move_iterator(queue_.begin()),
                         std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
            queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        }
        if (!batch.empty()) {
            co_await commit(std::move(batch));
            continue;
        }
        if (stop) co_return;
        const bool ok = co_await catch_up();
        wake_.expires_after(ok ? options_.poll_interval
                               : std::max(options_.poll_interval, std::chrono::milliseconds(200)));
        {
            std::lock_guard lk(queue_mu_);
            if (!queue_.empty() || stopping_) continue;
        }
        // append() and close() post a cancel, which runs after this wait has started.
        co_await wake_.async_wait(nothrow);
    }
}

asio::awaitable<bool> EtcdPurgeStore::catch_up() {
    const std::string end = etcd_range_end(options_.prefix + "log/");
    for (;;) {
        json::object body;
        body["key"] = base64_encode(etcd_log_key(options_.prefix, last_seq_ + 1));
        body["range_end"] = base64_encode(end);
        body["limit"] = kRangeLimit;
        auto r = co_await call("/v3/kv/range", body);
        if (!r) {
            if (r.error() != make_error_code(Errc::origin_bad_response)) set_healthy(false);
            co_return false;
        }
        bool more = false;
        std::size_t added = 0;
        const bool ok = absorb(*r, more, added);
        if (added > 0) notify(last_seq_);
        if (!ok) co_return false;
        set_healthy(true);
        if (!more || added == 0) co_return true;
    }
}

bool EtcdPurgeStore::absorb(const json::value& v, bool& more, std::size_t& added) {
    const json::object* o = v.if_object();
    if (!o) return false;
    if (const json::value* m = o->if_contains("more"); m && m->is_bool()) more = m->get_bool();
    const json::value* kvs = o->if_contains("kvs");
    if (!kvs) return true;
    if (!kvs->is_array()) return false;
    std::vector<PurgeRecordPtr> recs;
    bool bad = false;
    for (const json::value& kv : kvs->get_array()) {
        const json::value* val = kv.is_object() ? kv.get_object().if_contains("value") : nullptr;
        std::optional<std::string> payload;
        if (val && val->is_string()) payload = base64_decode(val->get_string());
        auto parsed = payload ? parse_payload(*payload) : std::nullopt;
        if (!parsed || !std::holds_alternative<PurgeRecordPtr>(*parsed)) {
            log_error("etcd store: a record under {}log/ does not parse; stuck after seq {}",
                      options_.prefix, last_seq_ + recs.size());
            bad = true;
            break;
        }
        recs.push_back(std::get<PurgeRecordPtr>(std::move(*parsed)));
    }
    std::unique_lock lk(data_mu_);
    for (PurgeRecordPtr& r : recs) {
        if (r->seq <= last_seq_) continue;
        if (r->seq != last_seq_ + 1) {
            // Keys below r->seq were deleted: what is missing counts as compacted.
            if (last_seq_ != 0 || !records_.empty())
                log_warn("etcd store: seq {} follows {}; treating the gap as compacted", r->seq,
                         last_seq_);
            records_.clear();
            ids_.clear();
            compacted_through_ = r->seq - 1;
            compacted_time_ms_ = r->time_ms;
        }
        last_seq_ = r->seq;
        last_time_ms_ = std::max(last_time_ms_, r->time_ms);
        ids_.emplace(r->id, r);
        records_.push_back(std::move(r));
        ++added;
    }
    return !bad;
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::commit(std::vector<Pending> batch) {
    auto fail_all = [&] {
        for (Pending& p : batch)
            p.done(make_error_code(Errc::internal));
    };
    const std::string seq_key = base64_encode(options_.prefix + "seq");
    for (int attempt = 0; attempt < kMaxConflicts; ++attempt) {
        const std::uint64_t base = last_seq_;
        const std::int64_t now = std::max(to_ms(clock_.now()), last_time_ms_);
        std::vector<PurgeRecordPtr> recs;
        json::array success;
        json::object put_seq;
        put_seq["key"] = seq_key;
        put_seq["value"] = base64_encode(std::to_string(base + batch.size()));
        success.push_back(json::object{{"request_put", std::move(put_seq)}});
        for (const Pending& p : batch) {
            recs.push_back(make_record(base + recs.size() + 1, new_id(), now, p.draft));
            json::object put;
            put["key"] = base64_encode(etcd_log_key(options_.prefix, recs.back()->seq));
            put["value"] = base64_encode(recs.back()->json);
            success.push_back(json::object{{"request_put", std::move(put)}});
        }
        json::object cmp;
        cmp["key"] = seq_key;
        cmp["result"] = "EQUAL";
        if (base == 0) {
            cmp["target"] = "VERSION";
            cmp["version"] = "0";
        } else {
            cmp["target"] = "VALUE";
            cmp["value"] = base64_encode(std::to_string(base));
        }
        json::object txn;
        txn["compare"] = json::array{cmp};
        txn["success"] = std::move(success);
        auto r = co_await call("/v3/kv/txn", txn);
        if (!r) {
            if (r.error() != make_error_code(Errc::origin_bad_response)) set_healthy(false);
            log_warn("etcd store: txn for {} purge(s) failed: {}", batch.size(),
                     r.error().message());
            fail_all();
            co_return;
        }
        const json::object* o = r->if_object();
        const json::value* ok = o ? o->if_contains("succeeded") : nullptr;
        if (ok && ok->is_bool() && ok->get_bool()) {
            set_healthy(true);
            {
                std::unique_lock lk(data_mu_);
                for (const PurgeRecordPtr& rec : recs) {
                    ids_.emplace(rec->id, rec);
                    records_.push_back(rec);
                }
                last_seq_ = base + recs.size();
                last_time_ms_ = now;
            }
            notify(last_seq_);
            for (std::size_t i = 0; i < batch.size(); ++i)
                batch[i].done(recs[i]);
            co_return;
        }
        // Another instance appended first: read what it wrote and try again.
        conflicts_.fetch_add(1);
        if (!co_await catch_up()) break;
    }
    log_warn("etcd store: gave up on {} purge(s) after conflicts or a failed read", batch.size());
    fail_all();
}

asio::awaitable<Result<json::value>> EtcdPurgeStore::call(std::string_view path,
                                                          const json::value& body) {
    const std::string payload = json::serialize(body);
    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = conn_.has_value();
        const Url& url = urls_[url_index_];
        auto drop = [&] {
            conn_.reset();
            buffer_.clear();
            url_index_ = (url_index_ + 1) % urls_.size();
        };
        if (!conn_) {
            tcp::resolver resolver(io_);
            auto [rec, eps] =
                co_await resolver.async_resolve(url.host, std::to_string(url.port), nothrow);
            if (rec) {
                log(LogLevel::debug, "etcd store: resolving {}: {}", url.host, rec.message());
                drop();
                co_return make_error_code(Errc::origin_unreachable);
            }
            conn_.emplace(io_);
            conn_->expires_after(options_.request_timeout);
            auto [cec, ep] = co_await conn_->async_connect(eps, nothrow);
            if (cec) {
                log(LogLevel::debug, "etcd store: connecting to {}: {}", url.authority(),
                    cec.message());
                drop();
                co_return make_error_code(Errc::origin_unreachable);
            }
        }
        http::request<http::string_body> req{http::verb::post, std::string(path), 11};
        req.set(http::field::host, url.authority());
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = payload;
        req.prepare_payload();
        conn_->expires_after(options_.request_timeout);
        auto [wec, wn] = co_await http::async_write(*conn_, req, nothrow);
        http::response_parser<http::string_body> parser;
        parser.body_limit(kMaxResponse);
        ErrorCode rec_ec = wec;
        if (!wec) {
            auto [rec, rn] = co_await http::async_read(*conn_, buffer_, parser, nothrow);
            rec_ec = rec;
        }
        if (rec_ec) {
            log(LogLevel::debug, "etcd store: {} on {}: {}", path, url.authority(),
                rec_ec.message());
            const bool timeout = rec_ec == beast::error::timeout;
            drop();
            if (reused && !timeout) continue;  // a kept-alive connection etcd had closed
            co_return make_error_code(timeout ? Errc::origin_timeout : Errc::origin_unreachable);
        }
        auto res = parser.release();
        if (!res.keep_alive()) {
            conn_.reset();
            buffer_.clear();
        }
        if (res.result() != http::status::ok) {
            log_warn("etcd store: {} answered {}: {}", path, res.result_int(),
                     res.body().substr(0, 200));
            // The gateway's 503 ("no leader", "unavailable"): etcd cannot serve.
            co_return make_error_code(res.result() == http::status::service_unavailable
                                          ? Errc::origin_unreachable
                                          : Errc::origin_bad_response);
        }
        ErrorCode pec;
        json::value v = json::parse(res.body(), pec);
        if (pec) co_return make_error_code(Errc::origin_bad_response);
        co_return v;
    }
    co_return make_error_code(Errc::origin_unreachable);
}

LogSlice EtcdPurgeStore::read_after(std::uint64_t after, std::size_t max) const {
    std::shared_lock lk(data_mu_);
    return slice_after(records_, after, max, last_seq_, compacted_through_, compacted_time_ms_);
}

PurgeRecordPtr EtcdPurgeStore::find(std::string_view id) const {
    std::shared_lock lk(data_mu_);
    const auto it = ids_.find(std::string(id));
    return it == ids_.end() ? nullptr : it->second;
}

std::uint64_t EtcdPurgeStore::last_seq() const {
    std::shared_lock lk(data_mu_);
    return last_seq_;
}

std::size_t EtcdPurgeStore::size() const {
    std::shared_lock lk(data_mu_);
    return records_.size();
}

}  // namespace cdn::purge_api
