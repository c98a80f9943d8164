#include "purge_api/etcd_store.hpp"

#include "common/log.hpp"
#include "purge_api/edge_registry.hpp"
#include "purge_api/purge_log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>

namespace cdn::purge_api {
namespace json = boost::json;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRangeLimit = 100;  // records per range request
constexpr std::size_t kMaxBatch = 100;    // puts per txn: records and keys (etcd allows 128 ops)
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

// ---- One connection to etcd, for unary calls (one coroutine at a time) ----

class EtcdClient {
  public:
    EtcdClient(asio::io_context& io, const std::vector<Url>& urls,
               std::shared_ptr<std::atomic<std::size_t>> preferred)
        : io_(io), urls_(urls), preferred_(std::move(preferred)) {}

    // One call within `deadline`: the parsed JSON answer, or an error. `sent` (if given) is set
    // when the request may have reached etcd (its outcome is then unknown on an error).
    asio::awaitable<Result<json::value>> call(std::string_view path, const json::value& body,
                                              std::chrono::steady_clock::time_point deadline,
                                              bool* sent = nullptr) {
        const std::string payload = json::serialize(body);
        if (sent) *sent = false;
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = conn_.has_value();
            if (!conn_) {
                if (const ErrorCode ec = co_await open(deadline)) co_return ec;
            }
            const Url& url = urls_[index_];
            http::request<http::string_body> req{http::verb::post, std::string(path), 11};
            req.set(http::field::host, url.authority());
            req.set(http::field::content_type, "application/json");
            req.keep_alive(true);
            req.body() = payload;
            req.prepare_payload();
            conn_->expires_at(deadline);
            auto [wec, wn] = co_await http::async_write(*conn_, req, nothrow);
            http::response_parser<http::string_body> parser;
            parser.body_limit(kMaxResponse);
            ErrorCode rec_ec = wec;
            if (!wec) {
                if (sent) *sent = true;
                auto [rec, rn] = co_await http::async_read(*conn_, buffer_, parser, nothrow);
                rec_ec = rec;
            }
            if (rec_ec) {
                log(LogLevel::debug, "etcd: {} on {}: {}", path, url.authority(), rec_ec.message());
                const bool timeout = rec_ec == beast::error::timeout;
                drop();
                // A kept-alive connection etcd had closed: once more, on a new one.
                if (reused && !timeout && std::chrono::steady_clock::now() < deadline) continue;
                co_return make_error_code(timeout ? Errc::origin_timeout
                                                  : Errc::origin_unreachable);
            }
            auto res = parser.release();
            if (!res.keep_alive()) {
                conn_.reset();
                buffer_.clear();
            }
            if (res.result() != http::status::ok) {
                log(LogLevel::debug, "etcd: {} answered {}: {}", path, res.result_int(),
                    res.body().substr(0, 200));
                last_error_ = res.body().substr(0, 300);
                // The gateway's 503 ("no leader", "unavailable"): etcd cannot serve.
                if (res.result() == http::status::service_unavailable) {
                    drop();
                    co_return make_error_code(Errc::origin_unreachable);
                }
                co_return make_error_code(Errc::origin_bad_response);
            }
            ErrorCode pec;
            json::value v = json::parse(res.body(), pec);
            if (pec || !v.is_object()) co_return make_error_code(Errc::origin_bad_response);
            co_return v;
        }
        co_return make_error_code(Errc::origin_unreachable);
    }

    // Drops the connection; the next call uses the next endpoint.
    void drop() {
        conn_.reset();
        buffer_.clear();
        index_ = (index_ + 1) % urls_.size();
        preferred_->store(index_);
    }
    const std::string& last_error() const { return last_error_; }

  private:
    asio::awaitable<ErrorCode> open(std::chrono::steady_clock::time_point deadline) {
        index_ = preferred_->load() % urls_.size();
        const Url& url = urls_[index_];
        tcp::resolver resolver(io_);
        auto [rec, eps] =
            co_await resolver.async_resolve(url.host, std::to_string(url.port), nothrow);
        if (rec) {
            log(LogLevel::debug, "etcd: resolving {}: {}", url.host, rec.message());
            drop();
            co_return make_error_code(Errc::origin_unreachable);
        }
        conn_.emplace(io_);
        conn_->expires_at(deadline);
        auto [cec, ep] = co_await conn_->async_connect(eps, nothrow);
        if (cec) {
            log(LogLevel::debug, "etcd: connecting to {}: {}", url.authority(), cec.message());
            drop();
            co_return make_error_code(cec == beast::error::timeout ? Errc::origin_timeout
                                                                   : Errc::origin_unreachable);
        }
        co_return ErrorCode{};
    }

    asio::io_context& io_;
    const std::vector<Url>& urls_;
    std::shared_ptr<std::atomic<std::size_t>> preferred_;
    std::size_t index_ = 0;
    std::optional<beast::tcp_stream> conn_;
    beast::flat_buffer buffer_;
    std::string last_error_;
};

// A streaming call (/v3/watch, /v3/lease/keepalive): the gateway answers with one JSON object
// per line, in chunks, for as long as the call lasts.
class EtcdStream {
  public:
    explicit EtcdStream(asio::io_context& io) : conn_(io) {}

    asio::awaitable<ErrorCode> open(const Url& url, std::string_view path, const json::value& body,
                                    std::chrono::steady_clock::time_point deadline) {
        tcp::resolver resolver(conn_.get_executor());
        auto [rec, eps] =
            co_await resolver.async_resolve(url.host, std::to_string(url.port), nothrow);
        if (rec) co_return rec;
        conn_.expires_at(deadline);
        auto [cec, ep] = co_await conn_.async_connect(eps, nothrow);
        if (cec) co_return cec;
        http::request<http::string_body> req{http::verb::post, std::string(path), 11};
        req.set(http::field::host, url.authority());
        req.set(http::field::content_type, "application/json");
        req.body() = json::serialize(body);
        req.prepare_payload();
        auto [wec, wn] = co_await http::async_write(conn_, req, nothrow);
        if (wec) co_return wec;
        parser_.body_limit(boost::none);
        on_chunk_ = [this](std::uint64_t, std::string_view data, ErrorCode&) -> std::size_t {
            lines_.append(data);
            return data.size();
        };
        parser_.on_chunk_body(on_chunk_);
        auto [hec, hn] = co_await http::async_read_header(conn_, buffer_, parser_, nothrow);
        if (hec) co_return hec;
        if (parser_.get().result() != http::status::ok || !parser_.chunked())
            co_return make_error_code(Errc::origin_bad_response);
        co_return ErrorCode{};
    }

    // The next message; an error when the stream ends, fails or passes `deadline`.
    asio::awaitable<Result<json::value>> next(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            if (const auto nl = lines_.find('\n'); nl != std::string::npos) {
                ErrorCode pec;
                json::value v = json::parse(std::string_view(lines_).substr(0, nl), pec);
                lines_.erase(0, nl + 1);
                if (pec || !v.is_object()) co_return make_error_code(Errc::origin_bad_response);
                co_return v;
            }
            if (lines_.size() > kMaxResponse || parser_.is_done())
                co_return make_error_code(Errc::origin_closed);
            if (deadline == std::chrono::steady_clock::time_point::max())
                conn_.expires_never();
            else
                conn_.expires_at(deadline);
            auto [ec, n] = co_await http::async_read_some(conn_, buffer_, parser_, nothrow);
            if (ec) co_return ec;
        }
    }

    void close() {
        ErrorCode ignored;
        conn_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        conn_.socket().close(ignored);
    }

  private:
    beast::tcp_stream conn_;
    beast::flat_buffer buffer_;
    http::response_parser<http::empty_body> parser_;
    std::function<std::size_t(std::uint64_t, std::string_view, ErrorCode&)> on_chunk_;
    std::string lines_;
};

namespace {

json::object range_op(std::string_view key, std::string_view range_end = {},
                      std::size_t limit = 0) {
    json::object r;
    r["key"] = base64_encode(key);
    if (!range_end.empty()) r["range_end"] = base64_encode(range_end);
    if (limit) r["limit"] = limit;
    return json::object{{"request_range", std::move(r)}};
}

json::object put_op(std::string_view key, std::string_view value, std::int64_t lease = 0) {
    json::object p;
    p["key"] = base64_encode(key);
    p["value"] = base64_encode(value);
    if (lease) p["lease"] = std::to_string(lease);
    return json::object{{"request_put", std::move(p)}};
}

json::object compare_version(std::string_view key, std::int64_t version) {
    json::object c;
    c["key"] = base64_encode(key);
    c["target"] = "VERSION";
    c["result"] = "EQUAL";
    c["version"] = std::to_string(version);
    return c;
}

// A JSON number that the gateway may send as a string ("42") or a number.
std::int64_t int_field(const json::object& o, std::string_view name) {
    const json::value* v = o.if_contains(name);
    if (!v) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
    if (v->is_string()) {
        std::int64_t n = 0;
        const std::string_view s = v->get_string();
        std::from_chars(s.data(), s.data() + s.size(), n);
        return n;
    }
    return 0;
}

std::int64_t header_revision(const json::object& o) {
    const json::value* h = o.if_contains("header");
    return h && h->is_object() ? int_field(h->get_object(), "revision") : 0;
}

// The responses[i].response_range of a txn answer (empty when absent).
const json::object& txn_range(const json::object& txn, std::size_t i) {
    static const json::object kEmpty;
    const json::value* rs = txn.if_contains("responses");
    if (!rs || !rs->is_array() || i >= rs->get_array().size()) return kEmpty;
    const json::value& r = rs->get_array()[i];
    const json::value* rr = r.is_object() ? r.get_object().if_contains("response_range") : nullptr;
    return rr && rr->is_object() ? rr->get_object() : kEmpty;
}

const json::array& kvs_of(const json::object& range) {
    static const json::array kEmpty;
    const json::value* k = range.if_contains("kvs");
    return k && k->is_array() ? k->get_array() : kEmpty;
}

std::optional<std::string> kv_bytes(const json::object& kv, std::string_view field) {
    const json::value* v = kv.if_contains(field);
    if (!v) return std::string();  // proto3 omits empty values
    if (!v->is_string()) return std::nullopt;
    return base64_decode(v->get_string());
}

// The `seq` key as a range answer (or a txn's range) holds it: its value and revision (0, 0
// when it is absent).
struct SeqKey {
    std::uint64_t value = 0;
    std::int64_t mod_revision = 0;
};
SeqKey seq_key_of(const json::object& range) {
    SeqKey k;
    const json::array& kvs = kvs_of(range);
    if (kvs.empty() || !kvs[0].is_object()) return k;
    k.mod_revision = int_field(kvs[0].get_object(), "mod_revision");
    if (auto v = kv_bytes(kvs[0].get_object(), "value"))
        std::from_chars(v->data(), v->data() + v->size(), k.value);
    return k;
}

json::object seq_range(std::string_view prefix) {
    json::object body;
    body["key"] = base64_encode(std::string(prefix) + "seq");
    return body;
}

// A linearizable read of `seq`; nullopt when etcd could not be read.
asio::awaitable<std::optional<SeqKey>> read_seq(EtcdClient& c, std::string_view prefix,
                                                std::chrono::steady_clock::time_point deadline) {
    auto r = co_await c.call("/v3/kv/range", seq_range(prefix), deadline);
    if (!r) co_return std::nullopt;
    co_return seq_key_of(r->get_object());
}

// A new lease of `ttl` (whole seconds, at least 1); 0 when etcd did not grant one.
asio::awaitable<std::int64_t> grant_lease(EtcdClient& c, std::chrono::milliseconds ttl,
                                          std::chrono::steady_clock::time_point deadline) {
    json::object g;
    g["TTL"] = std::to_string(
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(ttl).count()));
    auto r = co_await c.call("/v3/lease/grant", g, deadline);
    co_return r ? int_field(r->get_object(), "ID") : 0;
}

std::string ack_value(std::uint64_t seq, std::int64_t ms) {
    return fmt::format("{:020} {}", seq, ms);
}

std::optional<std::pair<std::uint64_t, std::int64_t>> parse_ack_value(std::string_view v) {
    std::uint64_t seq = 0;
    std::int64_t ms = 0;
    const auto sp = v.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto [p1, e1] = std::from_chars(v.data(), v.data() + sp, seq);
    auto [p2, e2] = std::from_chars(v.data() + sp + 1, v.data() + v.size(), ms);
    if (e1 != std::errc{} || e2 != std::errc{} || p1 != v.data() + sp || p2 != v.data() + v.size())
        return std::nullopt;
    return std::pair{seq, ms};
}

}  // namespace

// ---- The store ----

EtcdPurgeStore::EtcdPurgeStore(EtcdStoreOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      rng_(std::random_device{}()),
      preferred_(std::make_shared<std::atomic<std::size_t>>(0)) {
    if (options_.endpoints.empty()) throw std::runtime_error("etcd: no endpoints");
    if (options_.keep == 0) options_.keep = 1;
    for (const std::string& e : options_.endpoints) {
        auto u = parse_url(e);
        if (!u || u->scheme != "http")
            throw std::runtime_error(
                fmt::format("etcd endpoint \"{}\": expected http://HOST:PORT", e));
        urls_.push_back(*u);
    }
    instance_ = fmt::format("{:016x}", rng_());
    // The initial load, on this thread, before the store's thread exists.
    std::optional<bool> loaded;
    asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<bool> {
            EtcdClient c(io_, urls_, preferred_);
            for (std::size_t i = 0; i < urls_.size(); ++i)
                if (co_await load(c, true)) co_return true;
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
    if (stuck_.load())
        throw std::runtime_error(fmt::format(
            "etcd {}: the purge log under \"{}\" has a hole after seq {} (see the log above)",
            fmt::join(options_.endpoints, ", "), options_.prefix, last_seq_));
    io_.restart();
    auto spawn = [this](Awaitable a, const char* what) {
        asio::co_spawn(io_, std::move(a), [what](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log_error("etcd store: {}: {}", what, x.what());
            }
        });
    };
    spawn(writer(), "writer");
    spawn(watcher(), "watch");
    spawn(prober(), "probe");
    spawn(syncer(), "sync");
    spawn(publisher(), "publisher");
    spawn(keeper(), "keeper");
    thread_ = std::thread([this] {
        io_.run();
        // The loop ended (close): fail whatever is still queued.
        std::vector<Pending> left;
        std::vector<SyncWait> syncs;
        {
            std::lock_guard lk(queue_mu_);
            stopping_ = true;
            left.swap(queue_);
            syncs.swap(syncs_);
        }
        healthy_.store(false);
        for (Pending& p : left)
            p.done(AppendResult{AppendStatus::not_applied, nullptr});
        for (SyncWait& s : syncs)
            s.done(SeqCheck::unknown);
    });
}

EtcdPurgeStore::~EtcdPurgeStore() {
    close();
}

void EtcdPurgeStore::close() {
    {
        std::lock_guard lk(queue_mu_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    // Revoke the presence lease (other instances see this one's streams end at once), then stop.
    asio::post(io_, [this] {
        wake_.cancel();
        asio::co_spawn(
            io_,
            [this]() -> Awaitable {
                // Queued purges are finished first (each within its own deadline).
                asio::steady_timer t(io_);
                for (int i = 0; i < 300 && !writer_done_; ++i) {
                    t.expires_after(std::chrono::milliseconds(10));
                    co_await t.async_wait(nothrow);
                }
                if (lease_ != 0) {
                    EtcdClient c(io_, urls_, preferred_);
                    json::object body;
                    body["ID"] = std::to_string(lease_);
                    co_await c.call(
                        "/v3/lease/revoke", body,
                        std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
                }
                io_.stop();
            },
            asio::detached);
    });
    if (thread_.joinable()) thread_.join();
}

void EtcdPurgeStore::on_appended(std::function<void(std::uint64_t)> listener) {
    std::lock_guard lk(listener_mu_);  // the thread may already be absorbing others' purges
    listener_ = std::move(listener);
}

void EtcdPurgeStore::on_edge_event(std::function<void(const EdgeEvent&)> listener) {
    {
        std::lock_guard lk(listener_mu_);
        edge_listener_ = std::move(listener);
    }
    // What was loaded before there was a listener.
    asio::post(io_, [this] {
        for (const auto& [edge, a] : acks_in_)
            edge_event(EdgeEvent{EdgeEvent::Kind::ack, edge, a.first, a.second, 0, {}});
        for (const auto& [edge, insts] : streams_in_)
            edge_event(EdgeEvent{EdgeEvent::Kind::streams, edge, 0, 0, insts.size(), {}});
        for (const auto& [id, value] : registry_in_)
            edge_event(EdgeEvent{EdgeEvent::Kind::registration, id, 0, 0, 0, value});
    });
}

void EtcdPurgeStore::notify(std::uint64_t last) {
    std::function<void(std::uint64_t)> l;
    {
        std::lock_guard lk(listener_mu_);
        l = listener_;
    }
    if (l) l(last);
}

void EtcdPurgeStore::edge_event(const EdgeEvent& e) {
    std::function<void(const EdgeEvent&)> l;
    {
        std::lock_guard lk(listener_mu_);
        l = edge_listener_;
    }
    if (l) l(e);
}

std::chrono::steady_clock::time_point EtcdPurgeStore::deadline() const {
    return std::chrono::steady_clock::now() + options_.request_timeout;
}

void EtcdPurgeStore::submit(AppendRequest request, SubmitDone done) {
    {
        std::lock_guard lk(queue_mu_);
        if (!stopping_) {
            queue_.push_back(Pending{std::move(request), std::move(done)});
            asio::post(io_, [this] { wake_.cancel(); });
            return;
        }
    }
    done(AppendResult{AppendStatus::not_applied, nullptr});  // outside the lock
}

void EtcdPurgeStore::sync(std::uint64_t seq, std::chrono::milliseconds wait,
                          std::function<void(SeqCheck)> done) {
    if (seq != 0 && last_seq() >= seq) {
        done(SeqCheck::have);
        return;
    }
    {
        std::lock_guard lk(queue_mu_);
        if (!stopping_) {
            syncs_.push_back(
                SyncWait{seq, std::chrono::steady_clock::now() + wait, std::move(done)});
            asio::post(io_, [this] { sync_wake_.cancel(); });
            return;
        }
    }
    done(SeqCheck::unknown);
}

void EtcdPurgeStore::publish_ack(const std::string& edge, std::uint64_t seq, std::int64_t ms) {
    std::lock_guard lk(queue_mu_);
    if (stopping_) return;
    auto& slot = acks_out_[edge];
    if (seq <= slot.first) return;
    slot = {seq, ms};
    asio::post(io_, [this] { publish_wake_.cancel(); });
}

void EtcdPurgeStore::publish_stream(const std::string& edge, bool live) {
    std::lock_guard lk(queue_mu_);
    if (stopping_) return;
    streams_out_[edge] = live;
    asio::post(io_, [this] { publish_wake_.cancel(); });
}

void EtcdPurgeStore::publish_registration(const std::string& id, std::optional<std::string> value) {
    std::lock_guard lk(queue_mu_);
    if (stopping_) return;
    registry_out_[id] = std::move(value);
    asio::post(io_, [this] { publish_wake_.cancel(); });
}

void EtcdPurgeStore::set_healthy(bool ok, std::string_view why) {
    const bool was = healthy_.exchange(ok);
    if (was && !ok)
        log_warn("etcd store: etcd unreachable{}{}; refusing purges until it is back",
                 why.empty() ? "" : ": ", why);
    if (!was && ok) log_info("etcd store: etcd reachable again");
}

std::string EtcdPurgeStore::new_id() {
    for (;;) {
        std::string id = fmt::format("{:016x}", rng_());
        if (!ids_.contains(id)) return id;  // ids_ only changes on the store's thread
    }
}

// ---- Absorbing what etcd holds ----

void EtcdPurgeStore::absorb_record(std::string_view payload) {
    auto parsed = parse_payload(payload);
    if (!parsed || !std::holds_alternative<PurgeRecordPtr>(*parsed)) {
        stuck_.store(true);
        if (std::exchange(hole_logged_at_, last_seq_ + 1) != last_seq_ + 1)
            log_error(
                "etcd store: the record after seq {} under {}log/ does not parse; not "
                "reading past it (purges are refused until it is repaired)",
                last_seq_, options_.prefix);
        return;
    }
    PurgeRecordPtr r = std::get<PurgeRecordPtr>(std::move(*parsed));
    if (r->seq <= last_seq_ || stuck_.load()) return;
    if (r->seq != last_seq_ + 1) {
        need_catch_up_ = true;  // never skip: read the log again from last_seq_ + 1
        return;
    }
    std::unique_lock lk(data_mu_);
    last_seq_ = r->seq;
    last_time_ms_ = std::max(last_time_ms_, r->time_ms);
    ids_.emplace(r->id, r);
    records_.push_back(std::move(r));
    last_foreign_ = std::chrono::steady_clock::now();  // (this instance's own go through commit)
}

void EtcdPurgeStore::absorb_compacted(std::uint64_t through, std::int64_t time_ms) {
    if (through <= compacted_through_) return;
    std::unique_lock lk(data_mu_);
    compacted_through_ = through;
    compacted_time_ms_ = time_ms;
    while (!records_.empty() && records_.front()->seq <= through) {
        ids_.erase(records_.front()->id);
        records_.pop_front();
    }
    if (last_seq_ < through) {
        // Trimmed before this instance read them: the reset tells lagging edges.
        last_seq_ = through;
        last_time_ms_ = std::max(last_time_ms_, time_ms);
    }
}

void EtcdPurgeStore::absorb_streams(const std::string& edge) {
    EdgeEvent e;
    e.kind = EdgeEvent::Kind::streams;
    e.edge = edge;
    const auto it = streams_in_.find(edge);
    e.remote_streams = it == streams_in_.end() ? 0 : it->second.size();
    if (it != streams_in_.end() && it->second.empty()) streams_in_.erase(it);
    edge_event(e);
}

void EtcdPurgeStore::absorb_kv(const json::object& kv, bool deleted, std::int64_t) {
    const auto key = kv_bytes(kv, "key");
    if (!key || !key->starts_with(options_.prefix)) return;
    const std::string_view rest = std::string_view(*key).substr(options_.prefix.size());
    std::optional<std::string> value;
    if (!deleted) {
        value = kv_bytes(kv, "value");
        if (!value) return;
    }
    if (rest == "compacted") {
        if (deleted) return;
        const auto m = purge::decode_reset(*value);
        if (!m) {
            log_error("etcd store: {}compacted does not parse; ignored", options_.prefix);
            return;
        }
        compacted_rev_ = int_field(kv, "mod_revision");
        absorb_compacted(m->compacted_through, m->time_ms);
    } else if (rest.starts_with("log/")) {
        if (!deleted) absorb_record(*value);
    } else if (rest.starts_with("idem/")) {
        const std::string k(rest.substr(5));
        if (deleted) {
            keys_.erase(k);
            return;
        }
        boost::system::error_code ec;
        const json::value v = json::parse(*value, ec);
        const json::object* o = !ec ? v.if_object() : nullptr;
        if (!o) return;
        KeyUse use;
        use.seq = static_cast<std::uint64_t>(int_field(*o, "seq"));
        if (const auto* id = o->if_contains("id"); id && id->is_string())
            use.id = std::string(id->get_string());
        if (const auto* fp = o->if_contains("fp"); fp && fp->is_string())
            use.fingerprint = std::string(fp->get_string());
        keys_[k] = std::move(use);
    } else if (rest.starts_with("acks/")) {
        if (deleted) return;
        const std::string edge(rest.substr(5));
        const auto a = parse_ack_value(*value);
        if (!a || !valid_edge_id(edge)) return;
        auto& seen = acks_in_[edge];
        if (a->first <= seen.first) return;
        seen = *a;
        edge_event(EdgeEvent{EdgeEvent::Kind::ack, edge, a->first, a->second, 0, {}});
    } else if (rest.starts_with("registry/")) {
        const std::string id(rest.substr(9));
        EdgeEvent e;
        e.kind = EdgeEvent::Kind::registration;
        e.edge = id;
        if (deleted) {
            if (registry_in_.erase(id) == 0) return;
        } else {
            auto& have = registry_in_[id];
            if (have == *value) return;
            have = *value;
            e.registration = *value;
        }
        edge_event(e);
    } else if (rest.starts_with("streams/")) {
        const std::string_view r = rest.substr(8);
        const auto slash = r.find('/');
        if (slash == std::string_view::npos) return;
        const std::string edge(r.substr(0, slash));
        const std::string inst(r.substr(slash + 1));
        if (inst == instance_ || !valid_edge_id(edge)) return;
        auto& set = streams_in_[edge];
        const bool changed = deleted ? set.erase(inst) > 0 : set.insert(inst).second;
        if (changed)
            absorb_streams(edge);
        else if (set.empty())
            streams_in_.erase(edge);
    }
}

asio::awaitable<std::optional<std::int64_t>> EtcdPurgeStore::load(EtcdClient& c, bool everything) {
    const std::string& p = options_.prefix;
    json::array ops;
    ops.push_back(range_op(p + "seq"));
    ops.push_back(range_op(p + "compacted"));
    ops.push_back(
        range_op(etcd_log_key(p, last_seq_ + 1), etcd_range_end(p + "log/"), kRangeLimit));
    if (everything) {
        ops.push_back(range_op(p + "idem/", etcd_range_end(p + "idem/")));
        ops.push_back(range_op(p + "acks/", etcd_range_end(p + "acks/")));
        ops.push_back(range_op(p + "streams/", etcd_range_end(p + "streams/")));
        ops.push_back(range_op(p + "registry/", etcd_range_end(p + "registry/")));
    }
    json::object txn;
    txn["success"] = std::move(ops);
    auto r = co_await c.call("/v3/kv/txn", txn, deadline());
    if (!r) co_return std::nullopt;
    const json::object& o = r->get_object();
    const std::int64_t rev = header_revision(o);
    const bool first_load = last_seq_ == 0 && records_.empty() && compacted_through_ == 0;

    const std::uint64_t etcd_seq = seq_key_of(txn_range(o, 0)).value;
    const json::array& compacted = kvs_of(txn_range(o, 1));
    for (const json::value& kv : compacted)
        if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
    const json::array& log_kvs = kvs_of(txn_range(o, 2));
    if (first_load && compacted.empty() && !log_kvs.empty() && log_kvs[0].is_object()) {
        // A log whose first keys were deleted by hand (etcdctl del), with no `compacted` key:
        // what is missing below the first key counts as compacted.
        if (const auto v = kv_bytes(log_kvs[0].get_object(), "value")) {
            auto parsed = parse_payload(*v);
            if (parsed && std::holds_alternative<PurgeRecordPtr>(*parsed)) {
                const PurgeRecordPtr& r0 = std::get<PurgeRecordPtr>(*parsed);
                if (r0->seq > 1) {
                    log_warn(
                        "etcd store: the log under {}log/ starts at seq {}; treating what "
                        "is below as compacted",
                        p, r0->seq);
                    absorb_compacted(r0->seq - 1, r0->time_ms);
                }
            }
        }
    }
    for (const json::value& kv : log_kvs)
        if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
    const json::value* more = txn_range(o, 2).if_contains("more");
    if (everything) {
        std::unordered_map<std::string, KeyUse> keys;
        keys_.swap(keys);
        for (const json::value& kv : kvs_of(txn_range(o, 3)))
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        for (const json::value& kv : kvs_of(txn_range(o, 4)))
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        auto before = std::move(streams_in_);
        streams_in_.clear();
        for (const json::value& kv : kvs_of(txn_range(o, 5)))
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        for (auto& [edge, insts] : before)
            if (!streams_in_.contains(edge)) absorb_streams(edge);  // ended meanwhile
        auto registered = std::move(registry_in_);
        registry_in_.clear();
        for (const json::value& kv : kvs_of(txn_range(o, 6)))
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        for (auto& [id, value] : registered)
            if (!registry_in_.contains(id))  // deregistered meanwhile
                edge_event(EdgeEvent{EdgeEvent::Kind::registration, id, 0, 0, 0, std::nullopt});
    }
    revision_ = std::max(revision_, rev);
    if (need_catch_up_ || (more && more->is_bool() && more->get_bool())) {
        need_catch_up_ = false;
        if (!co_await catch_up(c))
            co_return stuck_.load() ? std::optional<std::int64_t>(rev) : std::nullopt;
    }
    if (etcd_seq > last_seq_ && !stuck_.load()) {
        if (first_load && records_.empty()) {
            // `seq` says more purges were logged than there are keys: the keys were deleted by
            // hand. Continue after them (edges further behind get a reset).
            log_warn(
                "etcd store: {}seq is {} but no record is left under {}log/; treating the "
                "log as compacted through {}",
                p, etcd_seq, p, etcd_seq);
            absorb_compacted(etcd_seq, to_ms(clock_.now()));
        }
        // Else: appended after this read began (the watch brings them), or records at the top
        // were deleted (the first append finds it and stops the store).
    }
    if (last_seq_ > 0) notify(last_seq_);
    co_return rev;
}

asio::awaitable<bool> EtcdPurgeStore::catch_up(EtcdClient& c) {
    const std::string& p = options_.prefix;
    const std::string end = etcd_range_end(p + "log/");
    for (;;) {
        json::array ops;
        ops.push_back(range_op(p + "compacted"));
        ops.push_back(range_op(etcd_log_key(p, last_seq_ + 1), end, kRangeLimit));
        json::object txn;
        txn["success"] = std::move(ops);
        auto r = co_await c.call("/v3/kv/txn", txn, deadline());
        if (!r) {
            if (r.error() != make_error_code(Errc::origin_bad_response))
                set_healthy(false, r.error().message());
            co_return false;
        }
        const json::object& o = r->get_object();
        const std::int64_t rev = header_revision(o);
        for (const json::value& kv : kvs_of(txn_range(o, 0)))
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        const std::uint64_t before = last_seq_;
        const json::array& kvs = kvs_of(txn_range(o, 1));
        need_catch_up_ = false;
        for (const json::value& kv : kvs)
            if (kv.is_object()) absorb_kv(kv.get_object(), false, rev);
        if (last_seq_ > before) notify(last_seq_);
        if (stuck_.load()) co_return false;
        if (need_catch_up_) {
            // The first key left is not last_seq_ + 1, and `compacted` does not cover the
            // difference: a hole in the log. Never skip purges: stop here.
            stuck_.store(true);
            if (std::exchange(hole_logged_at_, last_seq_ + 1) != last_seq_ + 1)
                log_error(
                    "etcd store: the log under {}log/ has a hole after seq {} (the next "
                    "key is not {}, and {}compacted does not cover it); purges after it "
                    "are not read and new ones are refused until it is repaired",
                    p, last_seq_, last_seq_ + 1, p);
            co_return false;
        }
        const json::value* more = txn_range(o, 1).if_contains("more");
        if (!(more && more->is_bool() && more->get_bool())) co_return true;
    }
}

// ---- Appends ----

void EtcdPurgeStore::take_queued(std::vector<Pending>& batch) {
    std::size_t bytes = 0, ops = 0;
    auto add = [&](const Pending& x) {
        ops += x.req.idempotency_key.empty() ? 1 : 2;
        for (const auto& v : x.req.draft.values)
            bytes += v.size() + 4;
    };
    for (const Pending& x : batch)
        add(x);
    std::size_t n = 0;
    for (; n < queue_.size(); ++n) {
        add(queue_[n]);
        if ((n > 0 || !batch.empty()) && (bytes > kMaxBatchBytes || ops > kMaxBatch)) break;
    }
    batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::writer() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer pause(io_);
    for (;;) {
        std::vector<Pending> batch;
        bool stop = false;
        {
            std::lock_guard lk(queue_mu_);
            stop = stopping_;
            take_queued(batch);
        }
        if (!batch.empty()) {
            co_await commit(c, std::move(batch));
            // Another instance is appending too: give its retry a head start, so neither loses
            // the race many times in a row (and the next batch here grows meanwhile).
            if (std::chrono::steady_clock::now() - last_foreign_ < std::chrono::milliseconds(10)) {
                pause.expires_after(std::chrono::milliseconds(2));
                co_await pause.async_wait(nothrow);
            }
            continue;
        }
        if (stop) {
            writer_done_ = true;
            co_return;
        }
        wake_.expires_after(std::chrono::hours(1));
        {
            std::lock_guard lk(queue_mu_);
            if (!queue_.empty() || stopping_) continue;
        }
        // submit() and close() post a cancel, which runs after this wait has started.
        co_await wake_.async_wait(nothrow);
    }
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::commit(EtcdClient& c, std::vector<Pending> batch) {
    const std::string& p = options_.prefix;
    auto finish = [&](AppendStatus st) {
        for (Pending& x : batch)
            x.done(AppendResult{st, nullptr});
        batch.clear();
    };
    for (int attempt = 0; attempt < kMaxConflicts; ++attempt) {
        // Keys already used are answered from etcd's record of them; a key twice in this
        // batch waits for the first; purges past their deadline are not sent.
        std::vector<Pending> fresh;
        std::vector<std::string> batch_keys;
        const auto now_steady = std::chrono::steady_clock::now();
        for (Pending& x : batch) {
            const std::string& key = x.req.idempotency_key;
            if (!key.empty()) {
                if (const auto it = keys_.find(key); it != keys_.end()) {
                    if (it->second.fingerprint != x.req.fingerprint) {
                        x.done(AppendResult{AppendStatus::key_reused, nullptr});
                        continue;
                    }
                    PurgeRecordPtr rec = find(it->second.id);
                    if (!rec) {
                        // Trimmed from the log since: answer with what the key recorded.
                        auto stub = std::make_shared<PurgeRecord>();
                        stub->seq = it->second.seq;
                        stub->id = it->second.id;
                        stub->kind = x.req.draft.kind;
                        stub->values = x.req.draft.values;
                        stub->soft = x.req.draft.soft;
                        rec = std::move(stub);
                    }
                    x.done(AppendResult{AppendStatus::replayed, std::move(rec)});
                    continue;
                }
                if (std::find(batch_keys.begin(), batch_keys.end(), key) != batch_keys.end()) {
                    std::lock_guard lk(queue_mu_);
                    queue_.insert(queue_.begin(), std::move(x));
                    continue;
                }
                batch_keys.push_back(key);
            }
            if (now_steady >= x.req.deadline) {
                x.done(AppendResult{AppendStatus::not_applied, nullptr});
                continue;
            }
            fresh.push_back(std::move(x));
        }
        batch.swap(fresh);
        if (batch.empty()) co_return;
        if (stuck_.load()) {
            finish(AppendStatus::not_applied);
            co_return;
        }
        auto call_deadline = deadline();
        for (const Pending& x : batch)
            call_deadline = std::min(call_deadline, x.req.deadline);

        if (!batch_keys.empty() &&
            (key_lease_ == 0 || now_steady - key_lease_granted_ > options_.idempotency_ttl / 24)) {
            key_lease_ = co_await grant_lease(
                c, options_.idempotency_ttl + options_.idempotency_ttl / 24, call_deadline);
            if (key_lease_ == 0) {
                set_healthy(false, "a lease grant failed");
                finish(AppendStatus::not_applied);
                co_return;
            }
            key_lease_granted_ = now_steady;
        }

        const std::uint64_t base = last_seq_;
        const std::int64_t now = std::max(to_ms(clock_.now()), last_time_ms_);
        std::vector<PurgeRecordPtr> recs;
        json::array success, compare;
        success.push_back(put_op(p + "seq", std::to_string(base + batch.size())));
        for (const Pending& x : batch) {
            recs.push_back(make_record(base + recs.size() + 1, new_id(), now, x.req.draft));
            success.push_back(put_op(etcd_log_key(p, recs.back()->seq), recs.back()->json));
            if (!x.req.idempotency_key.empty()) {
                json::object use;
                use["seq"] = recs.back()->seq;
                use["id"] = recs.back()->id;
                use["fp"] = x.req.fingerprint;
                success.push_back(
                    put_op(p + "idem/" + x.req.idempotency_key, json::serialize(use), key_lease_));
                compare.push_back(compare_version(p + "idem/" + x.req.idempotency_key, 0));
            }
        }
        if (base == 0) {
            compare.push_back(compare_version(p + "seq", 0));
        } else {
            json::object cmp;
            cmp["key"] = base64_encode(p + "seq");
            cmp["target"] = "VALUE";
            cmp["result"] = "EQUAL";
            cmp["value"] = base64_encode(std::to_string(base));
            compare.push_back(std::move(cmp));
        }
        // If it fails, the same round trip brings what changed: the trim point, the records
        // after base and the batch's keys (no separate read before the next try).
        json::array failure;
        failure.push_back(range_op(p + "compacted"));
        failure.push_back(
            range_op(etcd_log_key(p, base + 1), etcd_range_end(p + "log/"), kRangeLimit));
        failure.push_back(range_op(p + "seq"));
        for (const std::string& k : batch_keys)
            failure.push_back(range_op(p + "idem/" + k));
        json::object txn;
        txn["compare"] = std::move(compare);
        txn["success"] = std::move(success);
        txn["failure"] = std::move(failure);
        bool sent = false;
        auto r = co_await c.call("/v3/kv/txn", txn, call_deadline, &sent);
        if (!r) {
            if (r.error() != make_error_code(Errc::origin_bad_response))
                set_healthy(false, r.error().message());
            log_warn("etcd store: txn for {} purge(s) failed ({}): {}", batch.size(),
                     sent ? "it may still be applied" : "not applied", r.error().message());
            finish(sent ? AppendStatus::maybe_applied : AppendStatus::not_applied);
            co_return;
        }
        const json::object& o = r->get_object();
        const json::value* ok = o.if_contains("succeeded");
        if (ok && ok->is_bool() && ok->get_bool()) {
            set_healthy(true);
            // The watch may have brought them already; else they follow last_seq_ == base.
            {
                std::unique_lock lk(data_mu_);
                for (const PurgeRecordPtr& rec : recs) {
                    if (rec->seq != last_seq_ + 1) continue;
                    ids_.emplace(rec->id, rec);
                    records_.push_back(rec);
                    last_seq_ = rec->seq;
                    last_time_ms_ = std::max(last_time_ms_, now);
                }
            }
            for (std::size_t i = 0; i < batch.size(); ++i)
                if (!batch[i].req.idempotency_key.empty())
                    keys_[batch[i].req.idempotency_key] =
                        KeyUse{recs[i]->seq, recs[i]->id, batch[i].req.fingerprint};
            notify(last_seq_);
            for (std::size_t i = 0; i < batch.size(); ++i)
                batch[i].done(AppendResult{AppendStatus::appended, recs[i]});
            co_return;
        }
        // Another instance appended first, or a key is taken: take in what changed (the
        // failure branch read it), and try again, with what was queued meanwhile (under
        // contention, bigger batches mean fewer races).
        conflicts_.fetch_add(1);
        {
            std::lock_guard lk(queue_mu_);
            take_queued(batch);
        }
        const std::uint64_t before = last_seq_;
        need_catch_up_ = false;
        for (std::size_t i = 0; i < 3 + batch_keys.size(); ++i)
            if (i != 2)
                for (const json::value& kv : kvs_of(txn_range(o, i)))
                    if (kv.is_object()) absorb_kv(kv.get_object(), false, 0);
        if (last_seq_ > before) notify(last_seq_);
        const json::value* more = txn_range(o, 1).if_contains("more");
        const std::uint64_t etcd_seq = seq_key_of(txn_range(o, 2)).value;
        if (etcd_seq > last_seq_ && kvs_of(txn_range(o, 1)).empty() && !need_catch_up_) {
            // `seq` is ahead of the last record there is: records at the top of the log were
            // deleted. Appending after them would put a hole in the log: stop.
            stuck_.store(true);
            if (std::exchange(hole_logged_at_, last_seq_ + 1) != last_seq_ + 1)
                log_error(
                    "etcd store: {}seq is {} but the log under {}log/ ends at {}; not "
                    "appending (purges are refused until it is repaired)",
                    p, etcd_seq, p, last_seq_);
            break;
        }
        // More than one page behind, or a record out of order: read the rest the usual way.
        if ((need_catch_up_ || (more && more->is_bool() && more->get_bool()) || stuck_.load()) &&
            !co_await catch_up(c))
            break;
    }
    log_warn("etcd store: gave up on {} purge(s) after conflicts or a failed read", batch.size());
    finish(AppendStatus::not_applied);
}

// ---- Following the log ----

EtcdPurgeStore::Awaitable EtcdPurgeStore::watcher() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer pause(io_);
    bool resync = false;  // the watch fell behind a compaction: read everything again
    std::size_t index = preferred_->load();
    for (;;) {
        if (resync) {
            if (!co_await load(c, true)) {
                pause.expires_after(std::chrono::milliseconds(200));
                co_await pause.async_wait(nothrow);
                continue;
            }
            resync = false;
        }
        index = preferred_->load() % urls_.size();
        EtcdStream w(io_);
        watch_ = &w;
        json::object create;
        create["key"] = base64_encode(options_.prefix);
        create["range_end"] = base64_encode(etcd_range_end(options_.prefix));
        create["start_revision"] = std::to_string(revision_ + 1);
        create["progress_notify"] = true;
        json::object body;
        body["create_request"] = std::move(create);
        ErrorCode ec = co_await w.open(urls_[index], "/v3/watch", body, deadline());
        const auto far = std::chrono::steady_clock::time_point::max();
        while (!ec) {
            auto m = co_await w.next(far);
            if (!m) {
                ec = m.error();
                break;
            }
            const json::value* res = m->get_object().if_contains("result");
            if (!res || !res->is_object()) {
                ec = make_error_code(Errc::origin_bad_response);
                break;
            }
            const json::object& ro = res->get_object();
            if (const json::value* cv = ro.if_contains("canceled");
                cv && cv->is_bool() && cv->get_bool()) {
                if (int_field(ro, "compact_revision") > 0) {
                    log_info(
                        "etcd store: the watch fell behind etcd's compaction (revision "
                        "{}); reading the state again",
                        int_field(ro, "compact_revision"));
                    resync = true;
                }
                ec = make_error_code(Errc::origin_closed);
                break;
            }
            const std::uint64_t before = last_seq_;
            if (const json::value* evs = ro.if_contains("events"); evs && evs->is_array())
                for (const json::value& e : evs->get_array()) {
                    if (!e.is_object()) continue;
                    const json::object& eo = e.get_object();
                    const json::value* kv = eo.if_contains("kv");
                    const json::value* type = eo.if_contains("type");
                    const bool del = type && type->is_string() && type->get_string() == "DELETE";
                    if (kv && kv->is_object()) absorb_kv(kv->get_object(), del, 0);
                }
            revision_ = std::max(revision_, header_revision(ro));
            if (!watching_) {
                watching_ = true;
                if (down_since_ != std::chrono::steady_clock::time_point{} &&
                    std::chrono::steady_clock::now() - down_since_ > std::chrono::seconds(1))
                    log_info("etcd store: watching {} again", urls_[index].authority());
                down_since_ = {};
            }
            if (need_catch_up_ && !stuck_.load()) co_await catch_up(c);
            if (last_seq_ > before) notify(last_seq_);
        }
        watch_ = nullptr;
        if (watching_ || down_since_ == std::chrono::steady_clock::time_point{})
            down_since_ = std::chrono::steady_clock::now();
        watching_ = false;
        {
            std::lock_guard lk(queue_mu_);
            if (stopping_) co_return;
        }
        watch_restarts_.fetch_add(1);
        log(LogLevel::debug, "etcd store: watch on {} ended: {}", urls_[index].authority(),
            ec.message());
        if (!resync) {
            preferred_->store((index + 1) % urls_.size());
            // Catch up on what the watch missed while it reconnects (a read is cheap).
            co_await catch_up(c);
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(nothrow);
        }
    }
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::prober() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer t(io_);
    for (;;) {
        // Every second; every 200 ms while etcd fails or the watch is down (the probe then
        // also reads the log, so other instances' purges still arrive).
        t.expires_after(healthy_.load() && watching_ ? std::chrono::milliseconds(1000)
                                                     : std::chrono::milliseconds(200));
        co_await t.async_wait(nothrow);
        {
            std::lock_guard lk(queue_mu_);
            if (stopping_) co_return;
        }
        if (stuck_.load()) {
            // A hole (or a record that does not parse) stops the log here until someone
            // repairs it: look again; catch_up() sets stuck_ again if it is still there.
            stuck_.store(false);
            bool whole = co_await catch_up(c);
            if (whole) {
                // Records deleted at the top: `seq` is still ahead of the last one.
                const auto k = co_await read_seq(c, options_.prefix, deadline());
                whole = k && k->value <= last_seq_;
                if (!whole) stuck_.store(true);
            }
            if (whole) {
                log_info("etcd store: the log under {}log/ is whole again (through seq {})",
                         options_.prefix, last_seq_);
                hole_logged_at_ = 0;
            }
            continue;
        }
        auto r = co_await c.call("/v3/kv/range", seq_range(options_.prefix), deadline());
        if (r) {
            set_healthy(true);
            // `seq` ahead of this instance at two probes in a row (a healthy watch brings a
            // change within milliseconds): the watch hangs on a member that stopped (SIGSTOP,
            // a partition) while the others went on. Read the log, and move the watch.
            const auto [etcd_seq, mod] = seq_key_of(r->get_object());
            if (etcd_seq <= last_seq_) {
                suspect_rev_ = 0;
            } else if (!watching_) {
                co_await catch_up(c);
            } else if (suspect_rev_ == mod) {
                log_warn(
                    "etcd store: the watch is behind etcd (seq {} there, {} here); reading "
                    "the log and moving the watch to another member",
                    etcd_seq, last_seq_);
                co_await catch_up(c);
                if (watch_) watch_->close();
                suspect_rev_ = 0;
            } else {
                suspect_rev_ = mod;
            }
            continue;
        }
        if (r.error() == make_error_code(Errc::origin_bad_response)) continue;
        set_healthy(false, r.error().message());
        // The watch may hang on the same stalled member: make it move on.
        if (watch_) watch_->close();
    }
}

EtcdPurgeStore::Awaitable EtcdPurgeStore::syncer() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer pause(io_);
    for (;;) {
        std::vector<SyncWait> waits;
        {
            std::lock_guard lk(queue_mu_);
            if (stopping_) co_return;
            waits.swap(syncs_);
        }
        if (waits.empty()) {
            sync_wake_.expires_after(std::chrono::hours(1));
            {
                std::lock_guard lk(queue_mu_);
                if (!syncs_.empty() || stopping_) continue;
            }
            co_await sync_wake_.async_wait(nothrow);
            continue;
        }
        for (;;) {
            // A linearizable read of the log and of `seq`: what etcd holds now.
            const bool ok = co_await catch_up(c);
            std::optional<SeqKey> k;
            if (ok) k = co_await read_seq(c, options_.prefix, deadline());
            const bool seq_ok = k.has_value();
            const std::uint64_t etcd_seq = k ? k->value : 0;
            if (last_seq_ > 0) notify(last_seq_);
            const auto now = std::chrono::steady_clock::now();
            std::vector<SyncWait> left;
            for (SyncWait& s : waits) {
                if (ok && (s.seq == 0 || s.seq <= last_seq_))
                    s.done(SeqCheck::have);
                else if (seq_ok && s.seq > etcd_seq && s.seq > last_seq_)
                    s.done(SeqCheck::beyond_log);
                else if (now >= s.deadline)
                    s.done(SeqCheck::unknown);
                else
                    left.push_back(std::move(s));
            }
            if (left.empty()) break;
            waits.swap(left);
            pause.expires_after(std::chrono::milliseconds(50));
            co_await pause.async_wait(nothrow);
        }
    }
}

// ---- Edge state shared with the other instances ----

EtcdPurgeStore::Awaitable EtcdPurgeStore::publisher() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer pause(io_);
    const std::string& p = options_.prefix;
    for (;;) {
        std::map<std::string, std::pair<std::uint64_t, std::int64_t>> acks;
        std::map<std::string, bool> streams;
        std::map<std::string, std::optional<std::string>> registry;
        {
            std::lock_guard lk(queue_mu_);
            if (stopping_) co_return;
            acks.swap(acks_out_);
            streams.swap(streams_out_);
            registry.swap(registry_out_);
        }
        if (acks.empty() && streams.empty() && registry.empty()) {
            publish_wake_.expires_after(std::chrono::hours(1));
            {
                std::lock_guard lk(queue_mu_);
                if (!acks_out_.empty() || !streams_out_.empty() || !registry_out_.empty() ||
                    stopping_)
                    continue;
            }
            co_await publish_wake_.async_wait(nothrow);
            continue;
        }
        bool ok = true;
        if (lease_ == 0 && !streams.empty()) {
            lease_ = co_await grant_lease(c, options_.presence_ttl, deadline());
            ok = lease_ != 0;
        }
        json::array ops;
        for (const auto& [edge, a] : acks) {
            if (const auto it = acks_in_.find(edge);
                it != acks_in_.end() && it->second.first >= a.first)
                continue;
            // Only ever raised: put if the stored value is lower (values sort as numbers), or
            // if there is none.
            const std::string key = p + "acks/" + edge, value = ack_value(a.first, a.second);
            json::object less;
            less["key"] = base64_encode(key);
            less["target"] = "VALUE";
            less["result"] = "LESS";
            less["value"] = base64_encode(value);
            json::object absent;
            absent["compare"] = json::array{compare_version(key, 0)};
            absent["success"] = json::array{put_op(key, value)};
            json::object t;
            t["compare"] = json::array{std::move(less)};
            t["success"] = json::array{put_op(key, value)};
            t["failure"] = json::array{json::object{{"request_txn", std::move(absent)}}};
            ops.push_back(json::object{{"request_txn", std::move(t)}});
        }
        for (const auto& [edge, live] : streams) {
            const std::string key = p + "streams/" + edge + "/" + instance_;
            if (live) {
                if (lease_ == 0) continue;
                ops.push_back(
                    put_op(key, fmt::format("{{\"since_ms\":{}}}", to_ms(clock_.now())), lease_));
                streams_mine_.insert(edge);
            } else {
                json::object d;
                d["key"] = base64_encode(key);
                ops.push_back(json::object{{"request_delete_range", std::move(d)}});
                streams_mine_.erase(edge);
            }
        }
        for (const auto& [id, value] : registry) {
            const std::string key = p + "registry/" + id;
            if (value) {
                ops.push_back(put_op(key, *value));
            } else {
                json::object d;
                d["key"] = base64_encode(key);
                ops.push_back(json::object{{"request_delete_range", std::move(d)}});
            }
        }
        for (std::size_t at = 0; ok && at < ops.size(); at += 100) {
            json::array part(
                ops.begin() + static_cast<std::ptrdiff_t>(at),
                ops.begin() + static_cast<std::ptrdiff_t>(std::min(at + 100, ops.size())));
            json::object txn;
            txn["success"] = std::move(part);
            auto r = co_await c.call("/v3/kv/txn", txn, deadline());
            if (!r) ok = false;
        }
        if (!ok) {
            // Put back what is not superseded, and try again shortly.
            {
                std::lock_guard lk(queue_mu_);
                for (auto& [edge, a] : acks) {
                    auto& slot = acks_out_[edge];
                    if (a.first > slot.first) slot = a;
                }
                for (auto& [edge, live] : streams)
                    streams_out_.try_emplace(edge, live);
                for (auto& [id, value] : registry)
                    registry_out_.try_emplace(id, std::move(value));
            }
            pause.expires_after(std::chrono::milliseconds(200));
            co_await pause.async_wait(nothrow);
        }
    }
}

// ---- Leases, trimming, compaction ----

EtcdPurgeStore::Awaitable EtcdPurgeStore::keeper() {
    EtcdClient c(io_, urls_, preferred_);
    asio::steady_timer t(io_);
    const std::string& p = options_.prefix;
    auto next_keepalive = std::chrono::steady_clock::now();
    auto next_compaction = std::chrono::steady_clock::now() + options_.compact_every;
    std::int64_t compact_candidate = revision_;
    for (;;) {
        t.expires_after(std::chrono::milliseconds(250));
        co_await t.async_wait(nothrow);
        {
            std::lock_guard lk(queue_mu_);
            if (stopping_) co_return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (lease_ != 0 && now >= next_keepalive) {
            next_keepalive = now + options_.presence_ttl / 4;
            EtcdStream ka(io_);
            json::object body;
            body["ID"] = std::to_string(lease_);
            ErrorCode ec = co_await ka.open(urls_[preferred_->load() % urls_.size()],
                                            "/v3/lease/keepalive", body, deadline());
            if (!ec) {
                auto m = co_await ka.next(deadline());
                if (m) {
                    const json::value* res = m->get_object().if_contains("result");
                    if (res && res->is_object() && int_field(res->get_object(), "TTL") <= 0) {
                        // The lease lapsed (this instance or etcd was stopped too long): the
                        // stream keys went with it. Put them again under a new lease.
                        log_warn(
                            "etcd store: the presence lease lapsed; registering this "
                            "instance's {} stream(s) again",
                            streams_mine_.size());
                        lease_ = 0;
                        std::lock_guard lk(queue_mu_);
                        for (const std::string& e : streams_mine_)
                            streams_out_.try_emplace(e, true);
                        asio::post(io_, [this] { publish_wake_.cancel(); });
                    }
                }
            }
            ka.close();
        }
        // Trim: the newest `keep` records stay.
        const std::size_t keep = options_.keep;
        if (healthy() && last_seq_ > compacted_through_ &&
            last_seq_ - compacted_through_ > keep + keep / 4 && !records_.empty()) {
            const std::uint64_t through = last_seq_ - keep;
            std::int64_t time_ms = 0;
            {
                std::shared_lock lk(data_mu_);
                const std::uint64_t first = records_.front()->seq;
                if (through >= first) time_ms = records_[through - first]->time_ms;
            }
            json::object del;
            del["key"] = base64_encode(p + "log/");
            del["range_end"] = base64_encode(etcd_log_key(p, through + 1));
            json::object guard;
            guard["key"] = base64_encode(p + "compacted");
            guard["target"] = "MOD";
            guard["result"] = "EQUAL";
            guard["mod_revision"] = std::to_string(compacted_rev_);
            json::object txn;
            txn["compare"] = json::array{std::move(guard)};
            txn["success"] = json::array{
                json::object{{"request_delete_range", std::move(del)}},
                put_op(p + "compacted", purge::encode_reset(purge::PurgeReset{through, time_ms}))};
            auto r = co_await c.call("/v3/kv/txn", txn, deadline());
            if (r) {
                const json::value* ok = r->get_object().if_contains("succeeded");
                if (ok && ok->is_bool() && ok->get_bool()) {
                    trims_.fetch_add(1);
                    compacted_rev_ = header_revision(r->get_object());
                    absorb_compacted(through, time_ms);
                    log_info("etcd store: trimmed the log through seq {} (keep {})", through, keep);
                }
            }
        }
        // History: compact up to the revision seen one period ago, so a watch that is a little
        // behind is not cut off, and `seq` / `acks/` revisions do not pile up.
        if (now >= next_compaction) {
            next_compaction = now + options_.compact_every;
            if (compact_candidate > etcd_compacted_) {
                json::object body;
                body["revision"] = std::to_string(compact_candidate);
                auto r = co_await c.call("/v3/kv/compaction", body, deadline());
                if (r || c.last_error().find("compacted") != std::string::npos)
                    etcd_compacted_ = compact_candidate;
                if (r)
                    log(LogLevel::debug, "etcd store: compacted etcd's history to revision {}",
                        compact_candidate);
            }
            compact_candidate = revision_;
        }
    }
}

// ---- Reads ----

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
