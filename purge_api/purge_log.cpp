#include "purge_api/purge_log.hpp"

#include "common/durable_file.hpp"
#include "common/log.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace cdn::purge_api {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "P1 ";
constexpr std::uint64_t kMaxPayload = 256ull << 20;
constexpr std::size_t kMaxLenDigits = 10;

std::uint64_t payload_sum(std::string_view payload) noexcept {
    return XXH3_64bits_withSeed(payload.data(), payload.size(), payload.size());
}

std::string errno_text() {
    return std::strerror(errno);
}

std::string read_file(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return {};
        throw std::runtime_error(fmt::format("{}: cannot open: {}", p.string(), errno_text()));
    }
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const std::string err = errno_text();
            ::close(fd);
            throw std::runtime_error(fmt::format("{}: read failed: {}", p.string(), err));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::int64_t to_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string encode_frame(std::string_view payload) {
    return fmt::format("P1 {} {:016x} {}\n", payload.size(), payload_sum(payload), payload);
}

Frame decode_frame(std::string_view b) noexcept {
    Frame f;
    f.status = FrameStatus::incomplete;
    if (b.size() < kMagic.size()) {
        if (kMagic.substr(0, b.size()) != b) f.status = FrameStatus::corrupt;
        return f;
    }
    if (b.substr(0, kMagic.size()) != kMagic) {
        f.status = FrameStatus::corrupt;
        return f;
    }
    std::size_t i = kMagic.size();
    std::uint64_t len = 0;
    std::size_t digits = 0;
    for (;; ++i, ++digits) {
        if (i >= b.size()) return f;
        const char c = b[i];
        if (c == ' ') break;
        if (c < '0' || c > '9' || digits >= kMaxLenDigits) {
            f.status = FrameStatus::corrupt;
            return f;
        }
        len = len * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (digits == 0 || len > kMaxPayload) {
        f.status = FrameStatus::corrupt;
        return f;
    }
    ++i;  // the space
    std::uint64_t sum = 0;
    for (int k = 0; k < 16; ++k, ++i) {
        if (i >= b.size()) return f;
        const char c = b[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = static_cast<unsigned>(c - 'a' + 10);
        else {
            f.status = FrameStatus::corrupt;
            return f;
        }
        sum = (sum << 4) | d;
    }
    if (i >= b.size()) return f;
    if (b[i] != ' ') {
        f.status = FrameStatus::corrupt;
        return f;
    }
    ++i;
    if (b.size() - i < len + 1) return f;
    const std::string_view payload = b.substr(i, static_cast<std::size_t>(len));
    if (b[i + len] != '\n' || payload_sum(payload) != sum) {
        f.status = FrameStatus::corrupt;
        return f;
    }
    f.status = FrameStatus::ok;
    f.payload = payload;
    f.size = i + static_cast<std::size_t>(len) + 1;
    return f;
}

std::string marker_payload(const CompactionMarker& m) {
    return purge::encode_reset(purge::PurgeReset{m.through, m.time_ms});
}

std::optional<std::variant<PurgeRecordPtr, CompactionMarker>> parse_payload(
    std::string_view payload) {
    // Records first: all lines but the first are records, so one JSON parse for each.
    if (auto e = purge::decode_event(payload, purge::Decode::complete)) {
        auto r = std::make_shared<PurgeRecord>();
        static_cast<purge::PurgeEvent&>(*r) = std::move(*e);
        r->json = std::string(payload);
        return PurgeRecordPtr(std::move(r));
    }
    if (const auto m = purge::decode_reset(payload))
        return CompactionMarker{m->compacted_through, m->time_ms};
    return std::nullopt;
}

FilePurgeLog::FilePurgeLog(PurgeLogOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), rng_(std::random_device{}()) {
    if (options_.keep == 0) options_.keep = 1;
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::runtime_error(fmt::format("{}: cannot create the directory: {}",
                                             options_.dir.string(), ec.message()));
    const fs::path lock = options_.dir / "LOCK";
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
        throw std::runtime_error(fmt::format("{}: cannot open: {}", lock.string(), errno_text()));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        throw std::runtime_error(
            fmt::format("{}: the directory is in use by another purge_api", options_.dir.string()));
    }
    try {
        fs::remove(options_.dir / (std::string(kFileName) + ".tmp"), ec);
        recover();
        const fs::path p = file();
        const bool existed = fs::exists(p);
        fd_ = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw std::runtime_error(fmt::format("{}: cannot open: {}", p.string(), errno_text()));
        if (!existed)
            if (const std::string e = fsync_directory(options_.dir); !e.empty())
                throw std::runtime_error(e);
    } catch (...) {
        if (fd_ >= 0) ::close(fd_);
        ::close(lock_fd_);
        throw;
    }
    writer_ = std::thread([this] { run(); });
}

FilePurgeLog::~FilePurgeLog() {
    close();
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

void FilePurgeLog::recover() {
    const fs::path p = file();
    const std::string data = read_file(p);
    std::size_t off = 0;
    std::uint64_t expect = 0;  // the next seq; 0 until the first record or marker
    std::optional<std::string> bad;
    while (off < data.size()) {
        const Frame f = decode_frame(std::string_view(data).substr(off));
        if (f.status != FrameStatus::ok) {
            bad = f.status == FrameStatus::incomplete ? "an incomplete line" : "a corrupt line";
            break;
        }
        auto parsed = parse_payload(f.payload);
        if (!parsed) {
            bad = "a line that does not parse";
            break;
        }
        if (auto* m = std::get_if<CompactionMarker>(&*parsed)) {
            if (off != 0) {
                bad = "a compaction marker after the start";
                break;
            }
            compacted_ = *m;
            expect = m->through + 1;
        } else {
            PurgeRecordPtr& r = std::get<PurgeRecordPtr>(*parsed);
            if (expect != 0 && r->seq != expect) {
                bad = fmt::format("seq {} where {} was expected", r->seq, expect);
                break;
            }
            expect = r->seq + 1;
            last_time_ms_ = std::max(last_time_ms_, r->time_ms);
            ids_.emplace(r->id, r);
            records_.push_back(std::move(r));
        }
        off += f.size;
    }
    last_seq_ = records_.empty() ? compacted_.through : records_.back()->seq;
    if (!records_.empty() && compacted_.through == 0 && records_.front()->seq != 1 && off > 0) {
        // A log that starts past 1 without a marker: treat the missing part as compacted.
        compacted_.through = records_.front()->seq - 1;
        compacted_.time_ms = records_.front()->time_ms;
    }
    last_time_ms_ = std::max(last_time_ms_, compacted_.time_ms);
    if (bad) {
        // A torn tail is expected after a crash; anything valid after the damage is not.
        for (std::size_t at = data.find(kMagic, off + 1); at != std::string::npos;
             at = data.find(kMagic, at + 1)) {
            const Frame f = decode_frame(std::string_view(data).substr(at));
            if (f.status == FrameStatus::ok && parse_payload(f.payload))
                throw std::runtime_error(fmt::format(
                    "{}: {} at byte {}, followed by valid records at byte {}; refusing to drop "
                    "them (move the file aside or cut it by hand)",
                    p.string(), *bad, off, at));
        }
        const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(off)) != 0 || ::fsync(fd) != 0) {
            const std::string err = errno_text();
            if (fd >= 0) ::close(fd);
            throw std::runtime_error(
                fmt::format("{}: cannot cut the torn tail: {}", p.string(), err));
        }
        ::close(fd);
        recovery_.truncated_bytes = data.size() - off;
        log_warn("purge log {}: {} at byte {}; cut {} bytes of torn tail", p.string(), *bad, off,
                 recovery_.truncated_bytes);
    }
    file_size_ = off;
    recovery_.records = records_.size();
    recovery_.last_seq = last_seq_;
    recovery_.compacted_through = compacted_.through;
}

void FilePurgeLog::on_appended(std::function<void(std::uint64_t)> listener) {
    listener_ = std::move(listener);
}

void FilePurgeLog::submit(AppendRequest request, SubmitDone done) {
    {
        std::lock_guard lk(queue_mu_);
        if (!stopping_) {
            queue_.push_back(Pending{std::move(request), std::move(done)});
            queue_cv_.notify_one();
            return;
        }
    }
    done(AppendResult{AppendStatus::not_applied, nullptr});
}

std::size_t FilePurgeLog::queued() const {
    std::lock_guard lk(queue_mu_);
    return queue_.size();
}

std::size_t FilePurgeLog::size() const {
    std::shared_lock lk(data_mu_);
    return records_.size();
}

void FilePurgeLog::close() {
    {
        std::lock_guard lk(queue_mu_);
        stopping_ = true;
        queue_cv_.notify_one();
    }
    if (writer_.joinable()) writer_.join();
}

void FilePurgeLog::run() {
    std::vector<Pending> batch;
    for (;;) {
        {
            std::unique_lock lk(queue_mu_);
            queue_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            batch.swap(queue_);
        }
        commit(batch);
        batch.clear();
    }
}

std::string FilePurgeLog::new_id() {
    for (;;) {
        std::string id = fmt::format("{:016x}", rng_());
        if (!ids_.contains(id)) return id;  // ids_ only changes on this thread
    }
}

void FilePurgeLog::commit(std::vector<Pending>& batch) {
    // Retries of a key already used are answered without writing; the rest are written.
    std::vector<Pending> fresh;
    fresh.reserve(batch.size());
    std::vector<std::string> new_keys;
    const auto steady_now = std::chrono::steady_clock::now();
    for (Pending& p : batch) {
        const std::string& key = p.req.idempotency_key;
        if (!key.empty()) {
            if (const auto it = keys_.find(key); it != keys_.end()) {
                const bool same = it->second.fingerprint == p.req.fingerprint;
                p.done(AppendResult{same ? AppendStatus::replayed : AppendStatus::key_reused,
                                    same ? it->second.record : nullptr});
                continue;
            }
            if (std::find(new_keys.begin(), new_keys.end(), key) != new_keys.end()) {
                // The same key twice in one batch: the second waits for the first.
                std::lock_guard lk(queue_mu_);
                queue_.insert(queue_.begin(), std::move(p));
                continue;
            }
            new_keys.push_back(key);
        }
        if (steady_now > p.req.deadline) {
            p.done(AppendResult{AppendStatus::not_applied, nullptr});
            continue;
        }
        fresh.push_back(std::move(p));
    }
    batch.swap(fresh);
    if (batch.empty()) return;
    auto fail_all = [&] {
        for (Pending& p : batch)
            p.done(AppendResult{AppendStatus::not_applied, nullptr});
    };
    if (broken_.load()) {
        fail_all();
        return;
    }
    std::vector<PurgeRecordPtr> recs;
    recs.reserve(batch.size());
    std::string buf;
    std::uint64_t seq = last_seq_;
    const std::int64_t now = std::max(to_ms(clock_.now()), last_time_ms_);
    for (Pending& p : batch) {
        recs.push_back(make_record(++seq, new_id(), now, p.req.draft));
        buf += encode_frame(recs.back()->json);
    }
    if (!write_all(fd_, buf)) {
        log_error("purge log {}: write failed: {}", file().string(), errno_text());
        // Leave no partial line behind for the next batch to follow.
        if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) broken_.store(true);
        fail_all();
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (options_.before_sync) options_.before_sync();
    if (::fdatasync(fd_) != 0) {
        log_error("purge log {}: fdatasync failed: {}; no more appends", file().string(),
                  errno_text());
        broken_.store(true);
        // The lines were written: they may survive in the page cache and be read at the next
        // start, so the outcome is unknown.
        for (Pending& p : batch)
            p.done(AppendResult{AppendStatus::maybe_applied, nullptr});
        return;
    }
    if (options_.fsync_seconds)
        options_.fsync_seconds->observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (options_.batch_size) options_.batch_size->observe(static_cast<double>(batch.size()));
    fsyncs_.fetch_add(1);
    file_size_ += buf.size();
    {
        std::unique_lock lk(data_mu_);
        for (const PurgeRecordPtr& r : recs) {
            ids_.emplace(r->id, r);
            records_.push_back(r);
        }
        last_seq_ = seq;
        last_time_ms_ = now;
    }
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (const std::string& key = batch[i].req.idempotency_key; !key.empty()) {
            keys_[key] = KeyUse{batch[i].req.fingerprint, recs[i]};
            key_of_seq_[recs[i]->seq] = key;
        }
    if (listener_) listener_(seq);
    for (std::size_t i = 0; i < batch.size(); ++i)
        batch[i].done(AppendResult{AppendStatus::appended, recs[i]});
    maybe_compact();
}

void FilePurgeLog::maybe_compact() {
    const std::size_t keep = options_.keep;
    // records_ only changes on this thread: reading its size without the lock is safe here.
    if (records_.size() <= keep + keep / 4) return;
    const std::size_t drop = records_.size() - keep;
    const CompactionMarker marker{records_[drop - 1]->seq, records_[drop - 1]->time_ms};
    std::string buf = encode_frame(marker_payload(marker));
    for (std::size_t i = drop; i < records_.size(); ++i)
        buf += encode_frame(records_[i]->json);

    // The new file replaces the log and is appended to from now on.
    const DurableWrite w = replace_file_durably(file(), buf, DurableOptions{.keep_open = true});
    if (!w.replaced) {
        log_error("purge log {}: compaction failed: {}", file().string(), w.error);
        return;
    }
    if (!w.ok()) {
        log_error("purge log: {}; no more appends", w.error);
        broken_.store(true);
    }
    ::close(fd_);
    fd_ = w.fd;
    file_size_ = buf.size();
    {
        std::unique_lock lk(data_mu_);
        for (std::size_t i = 0; i < drop; ++i) {
            ids_.erase(records_.front()->id);
            if (const auto k = key_of_seq_.find(records_.front()->seq); k != key_of_seq_.end()) {
                keys_.erase(k->second);
                key_of_seq_.erase(k);
            }
            records_.pop_front();
        }
        compacted_ = marker;
    }
    compactions_.fetch_add(1);
}

LogSlice FilePurgeLog::read_after(std::uint64_t after, std::size_t max) const {
    std::shared_lock lk(data_mu_);
    return slice_after(records_, after, max, last_seq_, compacted_.through, compacted_.time_ms);
}

PurgeRecordPtr FilePurgeLog::find(std::string_view id) const {
    std::shared_lock lk(data_mu_);
    const auto it = ids_.find(std::string(id));
    return it == ids_.end() ? nullptr : it->second;
}

std::uint64_t FilePurgeLog::last_seq() const {
    std::shared_lock lk(data_mu_);
    return last_seq_;
}

}  // namespace cdn::purge_api
