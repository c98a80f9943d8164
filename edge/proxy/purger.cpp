#include "edge/proxy/purger.hpp"

#include "common/durable_file.hpp"
#include "common/log.hpp"
#include "common/purge_event.hpp"
#include "edge/proxy/slices.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <fstream>

namespace cdn::edge::proxy {

namespace json = boost::json;
using cache::PurgeKind;
using cache::PurgeRequest;

namespace {

json::object to_json(const PurgeRequest& r, std::uint64_t floor) {
    json::array values;
    for (const auto& v : r.values)
        values.emplace_back(v);
    return json::object{{"seq", r.seq},
                        {"floor", floor},
                        {"kind", purge::to_string(r.kind)},
                        {"values", std::move(values)},
                        {"soft", r.soft},
                        {"time_ms", r.time_ms}};
}

}  // namespace

Purger::Purger(storage::ObjectStore& store, cache::PurgeRules& rules, cache::KeyPolicy key,
               std::filesystem::path journal)
    : store_(store), rules_(rules), key_(std::move(key)), journal_(std::move(journal)) {
    if (!journal_.empty()) {
        load_journal();
        retire();
    }
}

std::uint64_t Purger::last_seq() const {
    std::lock_guard lock(mu_);
    return last_seq_;
}

void Purger::load_journal() {
    std::ifstream in(journal_);
    journal_dir_synced_ = in.is_open();  // an existing journal's name is durable already
    std::string line;
    std::size_t bad = 0;
    while (std::getline(in, line)) {
        ++journal_lines_;
        boost::system::error_code ec;
        const json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) {
            ++bad;  // a torn last line after a crash: its purge was never acknowledged
            continue;
        }
        const json::object& o = v.as_object();
        try {
            // Lines are in the order applied: each one sets the position, even lower (a reset
            // from a purge log that was lost and started again).
            if (const auto* reset = o.if_contains("reset")) {
                rules_.add_time_floor(o.at("time_ms").to_number<std::int64_t>());
                last_seq_ = reset->to_number<std::uint64_t>();
            } else if (const auto* l = o.if_contains("last_seq")) {
                last_seq_ = l->to_number<std::uint64_t>();
            } else {
                PurgeRequest r;
                r.seq = o.at("seq").to_number<std::uint64_t>();
                auto kind = purge::parse_purge_kind(o.at("kind").as_string());
                if (!kind) throw std::invalid_argument("kind");
                r.kind = *kind;
                for (const auto& x : o.at("values").as_array())
                    r.values.emplace_back(x.as_string());
                r.soft = o.at("soft").as_bool();
                rules_.add(r, o.at("floor").to_number<std::uint64_t>());
                if (r.seq != 0) last_seq_ = r.seq;
            }
        } catch (const std::exception&) {
            ++bad;
        }
    }
    if (bad) log_warn("purge journal {}: skipped {} unreadable line(s)", journal_.string(), bad);
    if (journal_lines_)
        log_info("purge journal {}: {} rule(s), last applied sequence {}", journal_.string(),
                 rules_.size(), last_seq_);
}

bool Purger::append(const std::string& line) {
    if (journal_.empty()) return true;
    const int fd = ::open(journal_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    if (ok) {
        const std::string data = line + "\n";
        ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
             ::fdatasync(fd) == 0;
        ::close(fd);
    }
    if (!ok) {
        log_error("purge journal {}: append failed: {}; this purge will not survive a restart",
                  journal_.string(), std::strerror(errno));
        return false;
    }
    if (!journal_dir_synced_) {
        // The append created the journal: its name must survive a power loss too.
        if (const std::string e = fsync_directory(directory_of(journal_)); !e.empty())
            log_error("purge journal {}: {}; this purge may not survive a power loss",
                      journal_.string(), e);
        else
            journal_dir_synced_ = true;
    }
    ++journal_lines_;
    return true;
}

Purger::Result Purger::apply(PurgeRequest r) {
    Result res;
    if (auto err = cache::normalize(r, key_)) {
        res.error = *err;
        return res;
    }
    std::lock_guard lock(mu_);
    if (r.seq != 0 && r.seq <= last_seq_) return res;  // applied before: exactly once
    const std::uint64_t floor = storage::next_object_sequence();
    // Durable first: once the journal has it, a restart keeps the rule and the sequence.
    append(json::serialize(to_json(r, floor)));
    rules_.add(r, floor);
    if (r.kind == PurgeKind::files && !r.soft)
        for (const auto& key : r.values)
            res.removed += remove_with_slices(store_, key) ? 1 : 0;  // a sliced object's slices too
    if (hints_) {
        if (r.kind == PurgeKind::files)
            for (const auto& key : r.values)
                hints_->erase(key);
        else
            hints_->clear();  // tags, prefixes, hosts: cheaper to learn again than to match
    }
    if (r.seq != 0) last_seq_ = r.seq;
    res.applied = true;
    return res;
}

void Purger::reset(std::uint64_t through, std::int64_t time_ms) {
    std::lock_guard lock(mu_);
    append(json::serialize(json::object{{"reset", through}, {"time_ms", time_ms}}));
    rules_.add_time_floor(time_ms);
    // Even backwards: a purge log that lost its entries starts numbering again, and the next
    // purge must not be skipped as already applied.
    last_seq_ = through;
}

std::size_t Purger::retire() {
    const std::uint64_t min_seq = store_.min_seq();
    const std::size_t n = rules_.retire(min_seq);
    std::lock_guard lock(mu_);
    // Rewrite when most journal lines describe rules that are gone.
    if (!journal_.empty() && journal_lines_ > 64 && journal_lines_ > 4 * (rules_.size() + 2))
        rewrite_journal();
    return n;
}

void Purger::rewrite_journal() {
    std::string out;
    std::size_t lines = 0;
    for (const auto& s : rules_.snapshot()) {
        out += json::serialize(to_json(s.request, s.floor)) + "\n";
        ++lines;
    }
    if (const std::int64_t t = rules_.time_floor(); t != 0) {
        out += json::serialize(json::object{{"reset", last_seq_}, {"time_ms", t}}) + "\n";
        ++lines;
    }
    out += json::serialize(json::object{{"last_seq", last_seq_}}) + "\n";
    ++lines;
    // Durable replace (with the directory's fsync, which a rename needs to survive a power
    // loss): on failure the old, longer journal stays and still holds every rule.
    const DurableWrite w = replace_file_durably(journal_, out);
    if (w.replaced) journal_lines_ = lines;
    if (!w.ok()) log_warn("purge journal {}: rewrite failed: {}", journal_.string(), w.error);
}

std::variant<PurgeRequest, std::string> Purger::parse_api_body(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec) return std::string("malformed JSON: ") + ec.message();
    if (!v.is_object()) return std::string("expected a JSON object");
    PurgeRequest r;
    int kinds = 0;
    for (const auto& [name, value] : v.as_object()) {
        if (name == "soft") {
            if (!value.is_bool()) return std::string("\"soft\" must be true or false");
            r.soft = value.as_bool();
        } else if (name == "purge_everything") {
            if (!value.is_bool() || !value.as_bool())
                return std::string("\"purge_everything\" must be true");
            r.kind = PurgeKind::everything;
            ++kinds;
        } else if (name == "files" || name == "prefixes" || name == "tags" || name == "hosts") {
            r.kind = *purge::parse_purge_kind(name);
            ++kinds;
            if (!value.is_array()) return fmt::format("\"{}\" must be a list", std::string(name));
            for (const auto& x : value.as_array()) {
                if (x.is_string())
                    r.values.emplace_back(x.as_string());
                else if (name == "files" && x.is_object() && x.as_object().contains("url") &&
                         x.as_object().at("url").is_string())
                    r.values.emplace_back(x.as_object().at("url").as_string());
                else
                    return fmt::format("\"{}\" must list strings", std::string(name));
            }
        } else {
            return fmt::format("unknown field \"{}\"", std::string(name));
        }
    }
    if (kinds != 1)
        return std::string(
            "expected exactly one of files, prefixes, tags, hosts, purge_everything");
    return r;
}

std::optional<PurgeRequest> Purger::parse_event(std::string_view data) {
    auto e = purge::decode_event(data, purge::Decode::tolerant);
    if (!e) return std::nullopt;
    return PurgeRequest{e->seq, e->kind, std::move(e->values), e->soft, e->time_ms};
}

}  // namespace cdn::edge::proxy
