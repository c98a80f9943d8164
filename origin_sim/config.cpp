#include "origin_sim/config.hpp"

#include "common/http_util.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace cdn::origin_sim {
namespace {

// The raw toml++ table of a section, to list the keys of a [headers] table (ConfigSection
// cannot enumerate keys).
const toml::table* raw_table(const toml::table& root, std::string_view section_path) {
    // section_path is "defaults" or "object[3]".
    if (section_path == "defaults") {
        const toml::node* n = root.get("defaults");
        return n ? n->as_table() : nullptr;
    }
    const auto open = section_path.find('[');
    if (open == std::string_view::npos) return nullptr;
    const std::size_t index = std::stoul(std::string(section_path.substr(open + 1)));
    const toml::node* n = root.get("object");
    const toml::array* a = n ? n->as_array() : nullptr;
    if (!a || index >= a->size()) return nullptr;
    return (*a)[index].as_table();
}

ObjectSpec read_spec(const ConfigSection& s, const toml::table* raw, bool is_rule) {
    if (!is_rule && s.string("path")) s.fail("path", "[defaults] cannot have a path");
    if (!is_rule && s.string("prefix")) s.fail("prefix", "[defaults] cannot have a prefix");
    s.allow_only({"path", "prefix", "size", "status", "cache_control", "expires",
                  "last_modified_ago", "etag", "vary", "tags", "set_cookie", "age", "date_offset",
                  "delay", "chunked", "content_type", "fault", "slow_ms", "headers"});
    ObjectSpec o;
    o.size = s.size("size");
    if (o.size && *o.size > kMaxSize) s.fail("size", "at most 1PiB");
    auto seconds = [&](std::string_view key) {
        auto v = s.integer(key);
        if (v && (*v > kMaxSeconds || *v < -kMaxSeconds))
            s.fail(key, "out of range (at most about 95 years either way)");
        return v;
    };
    if (auto st = s.integer("status")) {
        if (*st < 200 || *st > 599) s.fail("status", "expected an HTTP status from 200 to 599");
        o.status = static_cast<unsigned>(*st);
    }
    auto checked = [&](std::string_view key) {
        auto v = s.string(key);
        if (v && !is_safe_value(*v)) s.fail(key, "control characters are not allowed");
        return v;
    };
    o.cache_control = checked("cache_control");
    if (auto e = seconds("expires")) o.expires = ExpiresSpec{*e, false};
    if (auto lm = seconds("last_modified_ago")) o.last_modified = LastModifiedSpec{false, *lm};
    if (raw && raw->get("etag") && raw->get("etag")->is_string()) {
        const auto v = *s.string("etag");
        if (v == "weak")
            o.etag = EtagMode::weak;
        else if (v == "strong")
            o.etag = EtagMode::strong;
        else if (v == "none")
            o.etag = EtagMode::none;
        else
            s.fail("etag", "expected true, false, \"strong\", \"weak\" or \"none\"");
    } else if (auto b = s.boolean("etag")) {
        o.etag = *b ? EtagMode::strong : EtagMode::none;
    }
    o.vary = checked("vary");
    if (auto t = s.strings("tags")) {
        for (const auto& tag : *t)
            if (tag.empty() || !is_token(tag))
                s.fail("tags", fmt::format("tag '{}' must be a non-empty token", tag));
        o.tags = std::move(*t);
    }
    o.set_cookie = checked("set_cookie");
    o.age = checked("age");
    o.date_offset = seconds("date_offset");
    o.delay = s.duration("delay");
    if (o.delay && *o.delay > kMaxDelay) s.fail("delay", "at most 1h");
    o.chunked = s.boolean("chunked");
    o.content_type = checked("content_type");
    if (auto f = s.string("fault")) {
        o.fault = parse_fault(*f);
        if (!o.fault)
            s.fail("fault",
                   "expected one of \"none\", \"reset\", \"close\", \"hang\", \"slow\", "
                   "\"truncate\", \"500\"");
    }
    if (auto ms = s.integer("slow_ms")) {
        if (*ms < 0 || *ms > kMaxDelay.count())
            s.fail("slow_ms", "expected milliseconds from 0 to 3600000");
        o.slow_interval = std::chrono::milliseconds(*ms);
    }
    if (auto h = s.section("headers")) {
        const toml::node* hn = raw ? raw->get("headers") : nullptr;
        if (const toml::table* ht = hn ? hn->as_table() : nullptr) {
            for (const auto& [k, v] : *ht) {
                const std::string name(k.str());
                if (!is_token(name)) h->fail(name, "not a valid header name");
                if (is_framing_header(name)) h->fail(name, "framing headers cannot be set");
                auto value = h->string(name);
                if (!is_safe_value(*value)) h->fail(name, "control characters are not allowed");
                o.headers.emplace_back(name, std::move(*value));
            }
        }
    }
    return o;
}

SimConfig build(const ConfigSection& root, const toml::table& raw) {
    root.allow_only({"defaults", "object"});
    SimConfig c;
    if (auto d = root.section("defaults"))
        c.defaults = read_spec(*d, raw_table(raw, "defaults"), false);
    for (const ConfigSection& s : root.sections("object")) {
        ObjectRule r;
        const toml::table* rt = raw_table(raw, s.path());
        r.spec = read_spec(s, rt, true);
        auto path = s.string("path");
        auto prefix = s.string("prefix");
        if (path && prefix) s.fail("prefix", "give either path or prefix, not both");
        if (!path && !prefix) s.fail("path", "each [[object]] needs a path or a prefix");
        if (path) {
            if (path->empty() || path->front() != '/') s.fail("path", "must start with '/'");
            r.path = std::move(*path);
        } else {
            if (prefix->empty() || prefix->front() != '/') s.fail("prefix", "must start with '/'");
            r.prefix = std::move(*prefix);
        }
        c.objects.push_back(std::move(r));
    }
    return c;
}

}  // namespace

std::optional<Fault> parse_fault(std::string_view s) noexcept {
    if (s == "none" || s.empty()) return Fault::none;
    if (s == "reset") return Fault::reset;
    if (s == "close") return Fault::close;
    if (s == "hang") return Fault::hang;
    if (s == "slow") return Fault::slow;
    if (s == "truncate") return Fault::truncate;
    if (s == "500") return Fault::error500;
    return std::nullopt;
}

std::string_view to_string(Fault f) noexcept {
    switch (f) {
        case Fault::none: return "none";
        case Fault::reset: return "reset";
        case Fault::close: return "close";
        case Fault::hang: return "hang";
        case Fault::slow: return "slow";
        case Fault::truncate: return "truncate";
        case Fault::error500: return "500";
    }
    return "none";
}

void ObjectSpec::overlay(const ObjectSpec& o) {
    auto take = [](auto& dst, const auto& src) {
        if (src) dst = src;
    };
    take(size, o.size);
    take(status, o.status);
    take(cache_control, o.cache_control);
    take(expires, o.expires);
    take(last_modified, o.last_modified);
    take(etag, o.etag);
    take(vary, o.vary);
    take(tags, o.tags);
    take(set_cookie, o.set_cookie);
    take(age, o.age);
    take(date_offset, o.date_offset);
    take(delay, o.delay);
    take(chunked, o.chunked);
    take(content_type, o.content_type);
    take(fault, o.fault);
    take(slow_interval, o.slow_interval);
    headers.insert(headers.end(), o.headers.begin(), o.headers.end());
}

const ObjectRule* SimConfig::match(std::string_view path) const noexcept {
    for (const ObjectRule& r : objects)
        if (!r.path.empty() && r.path == path) return &r;
    const ObjectRule* best = nullptr;
    for (const ObjectRule& r : objects) {
        if (r.prefix.empty() || !path.starts_with(r.prefix)) continue;
        if (!best || r.prefix.size() > best->prefix.size()) best = &r;
    }
    return best;
}

SimConfig parse_config(std::string_view text, const std::string& name) {
    const ConfigSection root = ConfigSection::parse(text, name);
    // Parsed a second time with toml++ directly only to list the keys of [headers] tables.
    const toml::table raw = toml::parse(text, name);
    return build(root, raw);
}

SimConfig load_config(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: cannot read the file", file));
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str(), file);
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') ||
                        std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

bool is_framing_header(std::string_view name) noexcept {
    using http_util::iequals;
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
           iequals(name, "connection");
}

bool is_safe_value(std::string_view s) noexcept {
    for (const char c : s)
        if (c == '\r' || c == '\n' || c == '\0') return false;
    return true;
}

}  // namespace cdn::origin_sim
