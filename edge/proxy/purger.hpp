#pragma once
// Applies purges on this edge: normalises a request, turns it into a purge rule (cache/
// purge_rules.hpp) that covers every object stored before it, and removes what a hard purge of
// URLs names right away. With a disk tier, every applied purge is first appended (fsync) to a
// journal next to the cache (DIR/purges.log) with the purge log's sequence, so after a restart
// the rules still hold for what is on disk and the edge resumes the purge stream from the last
// sequence it applied. Idempotent by sequence; serialised, so purges apply in order.
#include "edge/cache/cache_key.hpp"
#include "edge/cache/hint_table.hpp"
#include "edge/cache/purge_rules.hpp"
#include "edge/storage/object_store.hpp"

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace cdn::edge::proxy {

class Purger {
  public:
    // journal: empty for an edge without a persistent cache (nothing to protect after restart).
    Purger(storage::ObjectStore& store, cache::PurgeRules& rules, cache::KeyPolicy key,
           std::filesystem::path journal);

    struct Result {
        bool applied = false;     // false: already applied (sequence not newer), or invalid
        std::size_t removed = 0;  // URL keys removed at once (hard purge of files)
        std::string error;        // set when the request is invalid
    };
    Result apply(cache::PurgeRequest r);
    // The purge log was compacted past what this edge applied: every object inserted before
    // time_ms counts as purged, and the edge continues after `through`.
    void reset(std::uint64_t through, std::int64_t time_ms);
    // The last purge-log sequence applied (0: none).
    std::uint64_t last_seq() const;
    // Drops rules no cached object can match, and rewrites the journal when it has shrunk.
    std::size_t retire();
    const cache::PurgeRules& rules() const { return rules_; }
    // Learned Early Hints: a purge of URLs forgets theirs, any other purge all of them.
    void set_hints(cache::HintTable* hints) { hints_ = hints; }

    // A body in Cloudflare's purge_cache shape: exactly one of files, prefixes, tags, hosts,
    // purge_everything; optional soft. The request, or an error message.
    static std::variant<cache::PurgeRequest, std::string> parse_api_body(std::string_view json);
    // One purge event of purge_api's stream (common/purge_event.hpp), as a request.
    static std::optional<cache::PurgeRequest> parse_event(std::string_view json);

  private:
    void load_journal();
    bool append(const std::string& line);
    void rewrite_journal();

    storage::ObjectStore& store_;
    cache::PurgeRules& rules_;
    cache::KeyPolicy key_;
    std::filesystem::path journal_;
    mutable std::mutex mu_;
    std::uint64_t last_seq_ = 0;
    std::size_t journal_lines_ = 0;
    cache::HintTable* hints_ = nullptr;
    bool journal_dir_synced_ = false;  // the journal's directory entry is durable
};

}  // namespace cdn::edge::proxy
