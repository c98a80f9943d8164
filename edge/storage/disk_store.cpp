#include "edge/storage/disk_store.hpp"

#include "common/durable_file.hpp"
#include "common/log.hpp"
#include "edge/storage/record_codec.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cdn::edge::storage {

namespace {

struct SegmentHeader {
    static constexpr std::uint64_t kMagic = 0x0031'4745'534e'4443;  // "CDNSEG1\0"
    std::uint64_t magic = kMagic;
    std::uint64_t generation = 0;
    std::uint32_t segment_bytes = 0;
    std::uint32_t version = 1;
    std::uint8_t reserved[32] = {};
    std::uint64_t sum = 0;  // xxh3 of the bytes before it
};
static_assert(sizeof(SegmentHeader) == SegmentLog::kSegmentHeader);

struct SummaryHeader {
    static constexpr std::uint64_t kMagic = 0x0031'5844'494e'4443;  // "CDNIDX1\0"
    std::uint64_t magic = kMagic;
    std::uint64_t generation = 0;
    std::uint32_t objects = 0;
    std::uint32_t tombstones = 0;
    std::uint32_t end = 0;
    std::uint32_t reserved = 0;
};
struct SummaryObject {
    std::uint64_t hash;
    std::uint32_t offset;
    std::uint32_t size;
    std::uint64_t seq;
    std::int64_t inserted_ms;
};
static_assert(sizeof(SummaryHeader) == 32 && sizeof(SummaryObject) == 32);
static_assert(sizeof(DiskTombstone) == 24);

constexpr std::size_t kFirstRead = 16 * 1024;  // one pread covers most records
constexpr std::size_t kScanBuffer = 1 << 20;   // start-up reads segments in 1 MiB chunks

// Reads exactly n bytes at offset; false on error or end of file.
bool pread_full(int fd, char* out, std::size_t n, std::uint64_t offset) {
    while (n > 0) {
        const ssize_t r = ::pread(fd, out, n, static_cast<off_t>(offset));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;  // short file: treat as an I/O error
            return false;
        }
        out += r;
        n -= static_cast<std::size_t>(r);
        offset += static_cast<std::uint64_t>(r);
    }
    return true;
}

bool pwritev_full(int fd, iovec* iov, int count, std::uint64_t offset) {
    while (count > 0) {
        const ssize_t w = ::pwritev(fd, iov, count, static_cast<off_t>(offset));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        offset += static_cast<std::uint64_t>(w);
        std::size_t left = static_cast<std::size_t>(w);
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    return true;
}

std::optional<std::string> read_small_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    // Summaries run to megabytes: one allocation of the file's size, then reads into it.
    if (struct stat st; ::fstat(fd, &st) == 0 && st.st_size > 0) {
        out.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < out.size()) {
            const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                ::close(fd);
                return std::nullopt;
            }
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
        }
        out.resize(got);
        if (got < static_cast<std::size_t>(st.st_size)) {
            ::close(fd);
            return out;  // shrank while read: the checks on its contents reject it
        }
    }
    char buf[65536];
    for (;;) {
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (r == 0) break;
        out.append(buf, static_cast<std::size_t>(r));
    }
    ::close(fd);
    return out;
}

template <class T>
void append_pod(std::string& out, const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

DiskStore::DiskStore(DiskSettings settings, const Clock& clock)
    : settings_(std::move(settings)),
      clock_(clock),
      log_(static_cast<std::uint32_t>(std::max<std::uint64_t>(
               2, settings_.capacity_bytes / std::max<std::uint32_t>(settings_.segment_bytes, 1))),
           settings_.segment_bytes),
      data_path_(settings_.path / "cache.dat") {
    if (open_directory()) recover();
    writer_ = std::thread([this] { writer_loop(); });
}

DiskStore::~DiskStore() {
    close();
}

std::filesystem::path DiskStore::segment_path(std::uint32_t segment, const char* ext) const {
    char name[32];
    std::snprintf(name, sizeof name, "seg-%05u.%s", segment, ext);
    return settings_.path / name;
}

std::int64_t DiskStore::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

void DiskStore::fault(const char* what, int err) {
    retry_at_ = clock_.now() + settings_.retry_interval;
    needs_rotation_ = true;
    if (!degraded_.exchange(true))
        log_warn("disk tier {}: {} failed: {}; serving from memory, retrying every {} ms",
                 settings_.path.string(), what, std::strerror(err),
                 settings_.retry_interval.count());
}

bool DiskStore::open_directory() {
    std::error_code ec;
    std::filesystem::create_directories(settings_.path, ec);
    if (ec) {
        fault("creating the directory", ec.value());
        return false;
    }
    if (fd_ >= 0) return true;
    if (lock_fd_ < 0) {
        // One edge per directory: two writing the same segments would destroy each other's
        // records. The lock goes with the process (also on kill -9); the file keeps the pid of
        // the last holder for the message below.
        const std::filesystem::path lock = settings_.path / "LOCK";
        const int lfd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lfd < 0) {
            fault("opening LOCK", errno);
            return false;
        }
        if (::flock(lfd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            char buf[32] = {};
            const ssize_t n = ::pread(lfd, buf, sizeof buf - 1, 0);
            ::close(lfd);
            if (err != EWOULDBLOCK) {
                fault("locking LOCK", err);
                return false;
            }
            std::string holder(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
                holder.pop_back();
            if (settings_.wait_for_lock) {
                if (!degraded_.exchange(true))
                    log_info(
                        "disk tier {}: held by process {}; serving from memory until it exits, "
                        "then taking the directory over",
                        settings_.path.string(), holder.empty() ? "?" : holder);
                retry_at_ = clock_.now() + std::chrono::milliseconds(200);
                needs_rotation_ = true;
                return false;
            }
            throw DirectoryInUse(
                "disk tier " + settings_.path.string() + ": the directory is in use by " +
                (holder.empty() ? std::string("another process") : "process " + holder) +
                " (another edge?); each edge needs a cache directory of its own");
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(lfd, 0) != 0 ||
            ::pwrite(lfd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
            log_warn("disk tier {}: cannot write the pid into LOCK: {}", settings_.path.string(),
                     std::strerror(errno));
        lock_fd_ = lfd;
    }
    const int fd = ::open(data_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fault("opening cache.dat", errno);
        return false;
    }
    fd_.store(fd);
    return true;
}

void DiskStore::recover() {
    recovered_ = true;
    const auto started = std::chrono::steady_clock::now();
    load_state();
    std::vector<std::pair<std::uint64_t, std::uint32_t>> found;  // generation, segment
    for (std::uint32_t i = 0; i < log_.segments(); ++i) {
        SegmentHeader h;
        if (!pread_full(fd_, reinterpret_cast<char*>(&h), sizeof h, base(i))) continue;  // empty
        if (h.magic == 0) continue;  // never written
        if (h.magic != SegmentHeader::kMagic ||
            h.sum != XXH3_64bits(&h, offsetof(SegmentHeader, sum)) || h.generation == 0 ||
            h.segment_bytes != log_.segment_bytes()) {
            ++recovery_.discarded;
            continue;
        }
        found.emplace_back(h.generation, i);
    }
    std::sort(found.begin(), found.end());
    // The index is sized up front from the summaries' file sizes (no rehash as it grows),
    // and a second thread reads and checks the summaries a few segments ahead of this one,
    // which indexes them: the reads and checksums overlap the index inserts.
    {
        std::uint64_t listed = 0, with_summary = 0;
        for (const auto& [generation, segment] : found) {
            std::error_code ec;
            const auto size = std::filesystem::file_size(segment_path(segment, "idx"), ec);
            if (ec || size < sizeof(SummaryHeader) + 8) continue;
            listed += (size - sizeof(SummaryHeader) - 8) / sizeof(SummaryObject);
            ++with_summary;
        }
        if (with_summary > 0)
            log_.reserve(static_cast<std::size_t>(listed + listed / with_summary *
                                                               (found.size() - with_summary)));
    }
    constexpr std::size_t kReadAhead = 4;
    struct Loaded {
        std::optional<std::string> summary;
        std::optional<ScannedSegment> scanned;  // no usable summary: its records, read here
        bool ready = false;
    };
    std::vector<Loaded> loaded(found.size());
    std::mutex loaded_mu;
    std::condition_variable loaded_cv;
    std::size_t consumed = 0;
    bool stop_reading = false;
    std::thread reader([&] {
        for (std::size_t i = 0; i < found.size(); ++i) {
            {
                std::unique_lock lock(loaded_mu);
                loaded_cv.wait(lock, [&] { return stop_reading || i < consumed + kReadAhead; });
                if (stop_reading) return;
            }
            auto summary = read_summary(found[i].second, found[i].first);
            std::optional<ScannedSegment> scanned;
            if (!summary) scanned = scan_segment(found[i].second, found[i].first);
            {
                std::lock_guard lock(loaded_mu);
                loaded[i].summary = std::move(summary);
                loaded[i].scanned = std::move(scanned);
                loaded[i].ready = true;
            }
            loaded_cv.notify_all();
        }
    });
    struct JoinReader {
        std::thread& t;
        std::mutex& mu;
        std::condition_variable& cv;
        bool& stop;
        ~JoinReader() {
            {
                std::lock_guard lock(mu);
                stop = true;
            }
            cv.notify_all();
            t.join();
        }
    } join_reader{reader, loaded_mu, loaded_cv, stop_reading};
    for (std::size_t i = 0; i < found.size(); ++i) {
        const auto [generation, segment] = found[i];
        std::optional<std::string> summary;
        std::optional<ScannedSegment> scanned;
        {
            std::unique_lock lock(loaded_mu);
            loaded_cv.wait(lock, [&] { return loaded[i].ready; });
            summary = std::move(loaded[i].summary);
            scanned = std::move(loaded[i].scanned);
            consumed = i + 1;
        }
        loaded_cv.notify_all();
        if (summary) {
            apply_summary(segment, generation, *summary);
            ++recovery_.from_summary;
        } else if (scanned) {
            for (const ScannedRecord& r : scanned->records)
                if (r.object)
                    log_.restore_object(
                        r.hash, DiskSlot{segment, r.offset, r.size, 0, r.seq, r.inserted_ms});
                else
                    log_.restore_tombstone(segment, DiskTombstone{r.hash, r.seq, r.offset, r.size});
            log_.restore_segment(segment, generation, scanned->end);
            ++recovery_.scanned;
        }
    }
    {
        std::lock_guard lock(state_mu_);
        if (auto floor = state_.find("inserted_floor_ms"); floor != state_.end())
            floor_ms_.store(std::strtoll(floor->second.c_str(), nullptr, 10));
    }
    if (const std::int64_t floor = floor_ms_.load(); floor > 0)
        log_.erase_if([floor](const DiskSlot& s) { return s.inserted_ms < floor; });
    log_.finish_restore();
    // The active segment takes new records again: its summary (from a clean stop) goes stale.
    if (!found.empty()) ::unlink(segment_path(log_.active(), "idx").c_str());
    // Segments beyond the configured ring (the capacity was lowered) only waste space.
    if (::ftruncate(fd_, static_cast<off_t>(log_.capacity())) == 0) {
        for (std::uint32_t i = log_.segments();; ++i) {
            std::error_code ec;
            if (!std::filesystem::remove(segment_path(i, "idx"), ec)) break;
        }
    }
    advance_object_sequence(log_.max_seq() + 1);
    recovery_.objects = log_.objects();
    recovery_.segments = static_cast<std::uint32_t>(found.size());
    recovery_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    recovered_objects_.store(recovery_.objects);
    recovery_ms_.store(recovery_.duration.count());
}

std::optional<std::string> DiskStore::read_summary(std::uint32_t segment,
                                                   std::uint64_t generation) const {
    auto data = read_small_file(segment_path(segment, "idx"));
    if (!data || data->size() < sizeof(SummaryHeader) + 8) return std::nullopt;
    SummaryHeader h;
    std::memcpy(&h, data->data(), sizeof h);
    const std::size_t expect = sizeof h + std::size_t{h.objects} * sizeof(SummaryObject) +
                               std::size_t{h.tombstones} * sizeof(DiskTombstone) + 8;
    if (h.magic != SummaryHeader::kMagic || h.generation != generation || data->size() != expect)
        return std::nullopt;
    std::uint64_t sum;
    std::memcpy(&sum, data->data() + expect - 8, 8);
    if (sum != XXH3_64bits(data->data(), expect - 8)) return std::nullopt;
    if (h.end < SegmentLog::kSegmentHeader || h.end > log_.segment_bytes()) return std::nullopt;
    return data;
}

void DiskStore::apply_summary(std::uint32_t segment, std::uint64_t generation,
                              const std::string& data) {
    SummaryHeader h;
    std::memcpy(&h, data.data(), sizeof h);
    const char* p = data.data() + sizeof h;
    log_.restore_segment(segment, generation, h.end);
    log_.reserve_segment(segment, h.objects);
    for (std::uint32_t i = 0; i < h.objects; ++i, p += sizeof(SummaryObject)) {
        SummaryObject o;
        std::memcpy(&o, p, sizeof o);
        if (o.offset < SegmentLog::kSegmentHeader || std::uint64_t{o.offset} + o.size > h.end)
            continue;
        log_.restore_object(o.hash, DiskSlot{segment, o.offset, o.size, 0, o.seq, o.inserted_ms});
    }
    for (std::uint32_t i = 0; i < h.tombstones; ++i, p += sizeof(DiskTombstone)) {
        DiskTombstone t;
        std::memcpy(&t, p, sizeof t);
        log_.restore_tombstone(segment, t);
    }
}

DiskStore::ScannedSegment DiskStore::scan_segment(std::uint32_t segment,
                                                  std::uint64_t generation) const {
    ScannedSegment out;
    const int fd = fd_;
    const std::uint64_t at = base(segment);
    const std::uint32_t limit = log_.segment_bytes();
    std::string buf;
    std::uint64_t buf_at = 0;
    std::uint32_t off = SegmentLog::kSegmentHeader;
    while (std::uint64_t{off} + sizeof(RecordHeader) <= limit) {
        if (off < buf_at || off + sizeof(RecordHeader) > buf_at + buf.size()) {
            const std::size_t n = std::min<std::size_t>(kScanBuffer, limit - off);
            buf.resize(n);
            const ssize_t r = ::pread(fd, buf.data(), n, static_cast<off_t>(at + off));
            if (r < static_cast<ssize_t>(sizeof(RecordHeader))) break;
            buf.resize(static_cast<std::size_t>(r));
            buf_at = off;
        }
        RecordHeader h;
        if (!read_header(std::string_view(buf).substr(off - buf_at), h) ||
            h.generation != generation || off + h.record_size() > limit)
            break;
        const auto size = static_cast<std::uint32_t>(h.record_size());
        out.records.push_back(ScannedRecord{h.record_kind() == RecordKind::object, h.key_hash,
                                            h.seq, h.inserted_ms, off, size});
        off += size;
    }
    out.end = off;
    return out;
}

void DiskStore::load_state() {
    const auto data = read_small_file(settings_.path / "cache.state");
    if (!data) return;
    const auto sum_at = data->rfind("sum=");
    if (sum_at == std::string::npos || std::strtoull(data->c_str() + sum_at + 4, nullptr, 16) !=
                                           XXH3_64bits(data->data(), sum_at)) {
        log_warn("disk tier {}: cache.state fails its checksum; ignored", settings_.path.string());
        return;
    }
    std::lock_guard lock(state_mu_);
    std::string_view rest(data->data(), sum_at);
    while (!rest.empty()) {
        const auto eol = rest.find('\n');
        const std::string_view line = rest.substr(0, eol);
        if (const auto eq = line.find('='); eq != std::string_view::npos)
            state_[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
        if (eol == std::string_view::npos) break;
        rest.remove_prefix(eol + 1);
    }
}

std::uint64_t DiskStore::drop_inserted_before(std::int64_t ms) {
    if (ms <= floor_ms_.load()) return 0;
    floor_ms_.store(ms);
    // Persisted first: if the edge dies right after, start-up still drops them.
    set_state("inserted_floor_ms", std::to_string(ms));
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(queue_mu_);
        // A queued item whose pending entry is gone is skipped as superseded.
        dropped += boost::unordered::erase_if(pending_, [ms](const auto& kv) {
            return kv.second.object && inserted_ms_of(*kv.second.object) < ms;
        });
    }
    std::unique_lock lock(index_mu_);  // after floor_ms_: the writer checks it under this lock
    return dropped + log_.erase_if([ms](const DiskSlot& s) { return s.inserted_ms < ms; });
}

std::optional<std::string> DiskStore::state(const std::string& name) const {
    std::lock_guard lock(state_mu_);
    auto it = state_.find(name);
    if (it == state_.end()) return std::nullopt;
    return it->second;
}

bool DiskStore::set_state(const std::string& name, const std::string& value) {
    if (name.empty() || name.find_first_of("=\n") != std::string::npos ||
        value.find('\n') != std::string::npos)
        return false;
    std::lock_guard lock(state_mu_);
    state_[name] = value;
    std::string out;
    for (const auto& [k, v] : state_)
        out += k + "=" + v + "\n";
    out += fmt::format("sum={:016x}\n", XXH3_64bits(out.data(), out.size()));
    if (const DurableWrite w = replace_file_durably(settings_.path / "cache.state", out); !w.ok()) {
        log_warn("disk tier {}: writing cache.state failed: {}", settings_.path.string(), w.error);
        return false;
    }
    return true;
}

std::uint64_t DiskStore::objects() const {
    std::shared_lock lock(index_mu_);
    return log_.objects();
}

std::uint64_t DiskStore::live_bytes() const {
    std::shared_lock lock(index_mu_);
    return log_.live_bytes();
}

std::uint64_t DiskStore::reclaimed() const {
    std::shared_lock lock(index_mu_);
    return log_.reclaimed();
}

std::uint64_t DiskStore::min_seq() const {
    std::uint64_t m = UINT64_MAX;
    {
        std::lock_guard lock(queue_mu_);
        for (const auto& [h, p] : pending_)
            if (p.object) m = std::min(m, p.object->seq);
    }
    std::shared_lock lock(index_mu_);
    log_.for_each([&m](std::uint64_t, const DiskSlot& s) { m = std::min(m, s.seq); });
    return m;
}

std::uint64_t DiskStore::max_object_bytes() const {
    // Room for the header, the key and the metadata of a large object.
    return log_.max_record() > 4096 ? log_.max_record() - 4096 : 0;
}

bool DiskStore::insert(ObjectPtr object) {
    if (!object) return false;
    const std::uint64_t bytes = object->charge();
    if (degraded_.load(std::memory_order_relaxed)) {
        touch(key_hash(object->key()));
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        queue_cv_.notify_one();  // the writer retries the disk when its interval is up
        return false;
    }
    if (bytes > max_object_bytes()) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    const std::uint64_t hash = key_hash(object->key());
    touch(hash);
    {
        std::lock_guard lock(queue_mu_);
        if (stop_ || queued_bytes_ + bytes > settings_.write_queue_bytes) {
            stats_.dropped.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        pending_[hash] = Pending{object, object->seq};
        queue_.push_back(Item{hash, object, {}, object->seq, bytes});
        queued_bytes_ += bytes;
    }
    queue_cv_.notify_one();
    return true;
}

bool DiskStore::remove(std::string_view key) {
    const std::uint64_t hash = key_hash(key);
    touch(hash);
    bool had = false;
    {
        std::unique_lock lock(index_mu_);
        had = log_.erase(hash);
    }
    std::lock_guard lock(queue_mu_);
    if (auto it = pending_.find(hash); it != pending_.end() && it->second.object)
        had = had || it->second.object->key() == key;
    if (!had) return false;
    const std::uint64_t seq = next_object_sequence();
    pending_[hash] = Pending{nullptr, seq};
    if (!stop_) {
        const std::uint64_t bytes = sizeof(RecordHeader) + key.size();
        queue_.push_back(Item{hash, nullptr, std::string(key), seq, bytes});
        queued_bytes_ += bytes;
        queue_cv_.notify_one();
    }
    return true;
}

void DiskStore::flush() {
    std::unique_lock lock(queue_mu_);
    idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

bool DiskStore::holds(const CachedObject& obj) const {
    const std::uint64_t hash = key_hash(obj.key());
    {
        std::lock_guard lock(queue_mu_);
        if (auto it = pending_.find(hash); it != pending_.end())
            return it->second.object && it->second.seq == obj.seq;
    }
    std::shared_lock lock(index_mu_);
    const DiskSlot* s = log_.find(hash);
    return s && s->seq == obj.seq;
}

std::optional<std::uint64_t> DiskStore::seq_of(std::string_view key) const {
    const std::uint64_t hash = key_hash(key);
    const_cast<DiskStore*>(this)->touch(hash);  // a version is being stored in front of us
    {
        std::lock_guard lock(queue_mu_);
        if (auto it = pending_.find(hash); it != pending_.end()) {
            if (!it->second.object) return std::nullopt;
            return it->second.seq;
        }
    }
    std::shared_lock lock(index_mu_);
    const DiskSlot* s = log_.find(hash);
    if (!s) return std::nullopt;
    return s->seq;
}

ObjectPtr DiskStore::lookup(std::string_view key) {
    const std::uint64_t hash = key_hash(key);
    {
        std::lock_guard lock(queue_mu_);
        if (auto it = pending_.find(hash); it != pending_.end()) {
            if (it->second.object && it->second.object->key() == key) {
                stats_.hits.fetch_add(1, std::memory_order_relaxed);
                return it->second.object;
            }
            stats_.misses.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
        }
    }
    DiskSlot slot;
    {
        std::shared_lock lock(index_mu_);
        const DiskSlot* s = log_.find(hash);
        if (!s) {
            stats_.misses.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
        }
        slot = *s;
    }
    ObjectPtr obj = read_record(key, hash, slot);
    (obj ? stats_.hits : stats_.misses).fetch_add(1, std::memory_order_relaxed);
    return obj;
}

void DiskStore::drop_slot(std::uint64_t hash, const DiskSlot& slot) {
    std::unique_lock lock(index_mu_);
    const DiskSlot* s = log_.find(hash);
    if (s && s->segment == slot.segment && s->offset == slot.offset && s->seq == slot.seq)
        log_.erase(hash);
}

ObjectPtr DiskStore::read_record(std::string_view key, std::uint64_t hash, const DiskSlot& slot) {
    const int fd = fd_;
    const std::uint64_t at = base(slot.segment) + slot.offset;
    // A record that does not check out is corrupt, unless the writer reclaimed its segment
    // while we read (then it is simply gone).
    auto bad = [&](bool io_error) -> ObjectPtr {
        {
            std::shared_lock lock(index_mu_);
            const DiskSlot* s = log_.find(hash);
            if (!s || s->segment != slot.segment || s->offset != slot.offset) return nullptr;
        }
        if (io_error) {
            if (stats_.read_errors.fetch_add(1, std::memory_order_relaxed) == 0)
                log_warn("disk tier {}: read failed: {} (counted from now on)",
                         settings_.path.string(), std::strerror(errno));
        } else if (stats_.corrupt.fetch_add(1, std::memory_order_relaxed) == 0) {
            log_warn(
                "disk tier {}: a record failed its checksum and was dropped (counted from "
                "now on)",
                settings_.path.string());
        }
        drop_slot(hash, slot);
        return nullptr;
    };
    if (fd < 0) return nullptr;
    std::string buf(std::min<std::size_t>(slot.size, kFirstRead), '\0');
    if (!pread_full(fd, buf.data(), buf.size(), at)) return bad(true);
    RecordHeader h;
    if (!read_header(buf, h) || h.key_hash != hash || h.seq != slot.seq ||
        h.record_size() != slot.size || h.record_kind() != RecordKind::object)
        return bad(false);
    const std::size_t prefix = sizeof(RecordHeader) + h.key_len + h.meta_len + h.head_len;
    if (prefix > buf.size()) {
        const std::size_t had = buf.size();
        buf.resize(prefix);
        if (!pread_full(fd, buf.data() + had, prefix - had, at + had)) return bad(true);
    }
    const std::string_view all(buf);
    const std::string_view k = all.substr(sizeof(RecordHeader), h.key_len);
    if (k != key) return nullptr;  // another key with the same 64-bit hash
    auto body = Body::make_for_overwrite(h.body_len);
    const std::size_t in_buf = std::min<std::size_t>(h.body_len, buf.size() - prefix);
    std::memcpy(body->data(), buf.data() + prefix, in_buf);
    if (in_buf < h.body_len &&
        !pread_full(fd, body->data() + in_buf, h.body_len - in_buf, at + prefix + in_buf))
        return bad(true);
    const std::string_view meta = all.substr(sizeof(RecordHeader) + h.key_len, h.meta_len);
    const std::string_view head =
        all.substr(sizeof(RecordHeader) + h.key_len + h.meta_len, h.head_len);
    const std::string_view parts[] = {k, meta, head, body->view()};
    if (checksum(parts) != h.data_sum) return bad(false);
    ObjectPtr obj = decode_object(h, k, meta, head, std::move(body));
    if (!obj) return bad(false);
    return obj;
}

void DiskStore::writer_loop() {
    std::unique_lock lock(queue_mu_);
    for (;;) {
        if (queue_.empty()) {
            busy_ = false;
            idle_cv_.notify_all();
            if (stop_) return;
            queue_cv_.wait_for(lock, std::chrono::seconds(1));
            if (queue_.empty() && degraded_.load()) {
                lock.unlock();
                try_recover();
                lock.lock();
            }
            continue;
        }
        Item item = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= item.bytes;
        auto it = pending_.find(item.hash);
        if (it == pending_.end() || it->second.seq != item.seq || it->second.object != item.object)
            continue;  // superseded by a newer insert or remove of the key
        busy_ = true;
        lock.unlock();
        if (!degraded_.load() || try_recover())
            write_item(item);
        else
            stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        lock.lock();
        it = pending_.find(item.hash);
        if (it != pending_.end() && it->second.seq == item.seq) pending_.erase(it);
    }
}

void DiskStore::touch(std::uint64_t hash) {
    if (recovered_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(touched_mu_);
    if (touched_overflow_) return;
    touched_.insert(hash);
    if (touched_.size() > kMaxTouched) {
        touched_overflow_ = true;
        touched_.clear();
    }
}

void DiskStore::forget_touched() {
    boost::unordered_flat_set<std::uint64_t> touched;
    {
        std::lock_guard lock(touched_mu_);
        touched.swap(touched_);
    }
    // What recovery found of these keys predates versions the edge stored or dropped while
    // the disk was away: drop it now, and with a tombstone, so it stays dropped.
    std::size_t dropped = 0;
    for (std::uint64_t h : touched) {
        {
            std::unique_lock lock(index_mu_);
            if (!log_.erase(h)) continue;
        }
        ++dropped;
        std::lock_guard lock(queue_mu_);
        if (pending_.contains(h)) continue;  // a newer version is queued: it wins anyway
        const std::uint64_t seq = next_object_sequence();
        pending_[h] = Pending{nullptr, seq};
        queue_.push_back(Item{h, nullptr, {}, seq, sizeof(RecordHeader)});
        queued_bytes_ += sizeof(RecordHeader);
    }
    if (dropped)
        log_info("disk tier {}: dropped {} outdated objects changed while the disk was away",
                 settings_.path.string(), dropped);
}

bool DiskStore::try_recover() {
    if (!degraded_.load()) return true;
    if (clock_.now() < retry_at_) return false;
    retry_at_ = clock_.now() + settings_.retry_interval;
    try {
        if (!open_directory()) return false;
    } catch (const DirectoryInUse&) {
        // Another process took the directory while it was unusable here: stay in memory.
        fault("locking the directory", EWOULDBLOCK);
        return false;
    }
    if (!recovered_) {
        // The directory was unavailable at start-up: take in what it holds before writing,
        // or older segments would later look newer than the ones written from now on.
        {
            std::lock_guard lock(touched_mu_);
            if (touched_overflow_) {
                // Too many keys changed meanwhile to tell old from new: start empty.
                log_warn(
                    "disk tier {}: too much changed while the disk was unusable; its "
                    "old contents are dropped",
                    settings_.path.string());
                if (::ftruncate(fd_, 0) != 0) return false;
                for (std::uint32_t i = 0; i < log_.segments(); ++i)
                    ::unlink(segment_path(i, "idx").c_str());
            }
        }
        {
            std::unique_lock lock(index_mu_);
            recover();
        }
        forget_touched();
        log_info("disk tier {}: recovered {} objects", settings_.path.string(), recovery_.objects);
    }
    // Probe: the disk must take a segment's worth of space before we call it healthy.
    const std::filesystem::path probe = settings_.path / ".probe";
    const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    int err = ::posix_fallocate(fd, 0, log_.segment_bytes());
    if (err == EOPNOTSUPP || err == EINVAL) err = 0;
    ::close(fd);
    ::unlink(probe.c_str());
    if (err != 0) return false;
    if (needs_rotation_) {
        std::unique_lock lock(index_mu_);
        log_.close_active();
        needs_rotation_ = false;
    }
    degraded_.store(false);
    log_info("disk tier {}: writable again", settings_.path.string());
    return true;
}

bool DiskStore::prepare_segment(std::uint32_t segment, std::uint64_t generation) {
    const int fd = fd_;
    if (fd < 0) {
        fault("opening cache.dat", EBADF);
        return false;
    }
    ::unlink(segment_path(segment, "idx").c_str());
    const int err = ::posix_fallocate(fd, static_cast<off_t>(base(segment)), log_.segment_bytes());
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
        fault("allocating a segment", err);
        return false;
    }
    SegmentHeader h;
    h.generation = generation;
    h.segment_bytes = log_.segment_bytes();
    h.sum = XXH3_64bits(&h, offsetof(SegmentHeader, sum));
    iovec iov{&h, sizeof h};
    if (!pwritev_full(fd, &iov, 1, base(segment))) {
        fault("writing a segment header", errno);
        return false;
    }
    return true;
}

bool DiskStore::write_summary(std::uint32_t segment) {
    std::string out;
    {
        std::shared_lock lock(index_mu_);
        const auto objects = log_.objects_in(segment);
        const auto& tombs = log_.tombstones_in(segment);
        SummaryHeader h;
        h.generation = log_.generation_of(segment);
        h.objects = static_cast<std::uint32_t>(objects.size());
        h.tombstones = static_cast<std::uint32_t>(tombs.size());
        h.end = log_.end_of(segment);
        out.reserve(sizeof h + objects.size() * sizeof(SummaryObject) +
                    tombs.size() * sizeof(DiskTombstone) + 8);
        append_pod(out, h);
        for (const auto& [hash, s] : objects)
            append_pod(out, SummaryObject{hash, s.offset, s.size, s.seq, s.inserted_ms});
        for (const DiskTombstone& t : tombs)
            append_pod(out, t);
    }
    append_pod(out, XXH3_64bits(out.data(), out.size()));
    // The records must be on disk before a summary that points at them.
    if (fd_ >= 0) ::fdatasync(fd_);
    if (!replace_file_durably(segment_path(segment, "idx"), out).ok()) {
        // Not fatal: start-up scans a segment without a summary.
        stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void DiskStore::write_item(const Item& item) {
    EncodedRecord rec;
    std::string tomb;
    std::uint64_t size;
    if (item.object) {
        rec = encode_object(*item.object, 0);
        size = rec.header.record_size();
    } else {
        tomb = encode_tombstone(item.key, item.hash, item.seq, now_ms(), 0);
        size = tomb.size();
    }
    std::optional<SegmentLog::Placement> p;
    {
        std::unique_lock lock(index_mu_);
        if (size <= log_.max_record()) p = log_.place(static_cast<std::uint32_t>(size));
    }
    if (!p) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (p->sealed) write_summary(*p->sealed);
    if (p->opened && !prepare_segment(p->segment, p->generation)) {
        stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // The generation is known only now: stamp it and reseal the header.
    RecordHeader* h = item.object ? reinterpret_cast<RecordHeader*>(rec.prefix.data())
                                  : reinterpret_cast<RecordHeader*>(tomb.data());
    h->generation = p->generation;
    seal(*h);
    static const char zeros[8] = {};
    iovec iov[4];
    int n = 0;
    if (item.object) {
        iov[n++] = {rec.prefix.data(), rec.prefix.size()};
        if (!rec.head.empty()) iov[n++] = {const_cast<char*>(rec.head.data()), rec.head.size()};
        if (!rec.body.empty()) iov[n++] = {const_cast<char*>(rec.body.data()), rec.body.size()};
        if (rec.padding) iov[n++] = {const_cast<char*>(zeros), rec.padding};
    } else {
        iov[n++] = {tomb.data(), tomb.size()};
    }
    if (!pwritev_full(fd_, iov, n, base(p->segment) + p->offset)) {
        stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
        fault("writing a record", errno);
        return;
    }
    {
        std::unique_lock lock(index_mu_);
        const auto sz = static_cast<std::uint32_t>(size);
        if (item.object) {
            // drop_inserted_before() ran while this was being written: it stays unindexed.
            if (h->inserted_ms < floor_ms_.load()) return;
            log_.commit(item.hash, *p, sz, item.seq, h->inserted_ms);
        } else {
            log_.commit_tombstone(item.hash, *p, sz, item.seq);
        }
    }
    stats_.writes.fetch_add(1, std::memory_order_relaxed);
    stats_.write_bytes.fetch_add(size, std::memory_order_relaxed);
}

void DiskStore::close() {
    {
        std::lock_guard lock(queue_mu_);
        if (closed_) return;
        closed_ = true;
        stop_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (!degraded_.load() && log_.generation_of(log_.active()) != 0 && !needs_rotation_)
        write_summary(log_.active());
    if (const int fd = fd_.exchange(-1); fd >= 0) {
        ::fdatasync(fd);
        ::close(fd);
    }
    if (lock_fd_ >= 0) {
        ::close(lock_fd_);  // releases the flock
        lock_fd_ = -1;
    }
}

}  // namespace cdn::edge::storage
