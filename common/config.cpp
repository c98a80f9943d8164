#include "common/config.hpp"

#include "common/units.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>

namespace cdn {

ConfigSection::ConfigSection(std::shared_ptr<const toml::table> doc, const toml::table* table,
                             std::string path, std::shared_ptr<const std::string> file)
    : doc_(std::move(doc)), table_(table), path_(std::move(path)), file_(std::move(file)) {}

namespace {

// toml++ as packaged by Debian reports syntax errors by throwing toml::parse_error.
ConfigSection from_parse(const std::string& name, const std::function<toml::table()>& parse) {
    try {
        auto doc = std::make_shared<const toml::table>(parse());
        const toml::table* root = doc.get();
        return ConfigSection(std::move(doc), root, "", std::make_shared<const std::string>(name));
    } catch (const toml::parse_error& err) {
        if (err.source().begin.line == 0)
            throw ConfigError(fmt::format("{}: {}", name, err.description()));
        throw ConfigError(fmt::format("{}:{}:{}: {}", name, err.source().begin.line,
                                      err.source().begin.column, err.description()));
    }
}

}  // namespace

ConfigSection ConfigSection::parse(std::string_view text, const std::string& name) {
    return from_parse(name, [&] { return toml::parse(text, name); });
}

ConfigSection ConfigSection::load_file(const std::string& file) {
    return from_parse(file, [&] { return toml::parse_file(file); });
}

const toml::node* ConfigSection::get(std::string_view key) const {
    return table_->get(key);
}

std::string ConfigSection::where(const toml::node* node, std::string_view key) const {
    const std::string field = path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
    const auto line = node ? node->source().begin.line : table_->source().begin.line;
    if (line == 0) return fmt::format("{}: {}", *file_, field);
    return fmt::format("{}:{}: {}", *file_, line, field);
}

void ConfigSection::fail(std::string_view key, std::string_view message) const {
    throw ConfigError(fmt::format("{}: {}", where(get(key), key), message));
}

void ConfigSection::fail_element(std::string_view key, std::size_t index,
                                 std::string_view message) const {
    const toml::node* n = get(key);
    const toml::array* a = n ? n->as_array() : nullptr;
    if (!a || index >= a->size()) fail(key, message);
    const std::string element = fmt::format("{}[{}]", key, index);
    throw ConfigError(fmt::format("{}: {}", where(&(*a)[index], element), message));
}

std::string ConfigSection::locate(std::string_view key) const {
    return where(get(key), key);
}

std::optional<ConfigSection> ConfigSection::section(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const toml::table* t = n->as_table();
    if (!t) fail(key, "expected a table");
    return ConfigSection(doc_, t, path_.empty() ? std::string(key) : path_ + "." + std::string(key),
                         file_);
}

std::vector<ConfigSection> ConfigSection::sections(std::string_view key) const {
    std::vector<ConfigSection> out;
    const toml::node* n = get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(key, fmt::format("expected an array of tables ([[{}]])", key));
    for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::table* t = (*a)[i].as_table();
        const std::string p = fmt::format("{}{}[{}]", path_.empty() ? "" : path_ + ".", key, i);
        if (!t) throw ConfigError(fmt::format("{}: expected a table", where(&(*a)[i], p)));
        out.emplace_back(doc_, t, p, file_);
    }
    return out;
}

std::optional<std::string> ConfigSection::string(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
    fail(key, "expected a string");
}

std::optional<std::int64_t> ConfigSection::integer(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_integer()) return n->as_integer()->get();
    fail(key, "expected an integer");
}

std::optional<double> ConfigSection::number(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_floating_point()) return n->as_floating_point()->get();
    if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
    fail(key, "expected a number");
}

std::optional<std::vector<double>> ConfigSection::numbers(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (const toml::array* a = n->as_array()) {
        std::vector<double> out;
        for (const toml::node& e : *a) {
            if (e.is_floating_point())
                out.push_back(e.as_floating_point()->get());
            else if (e.is_integer())
                out.push_back(static_cast<double>(e.as_integer()->get()));
            else
                fail(key, "expected an array of numbers");
        }
        return out;
    }
    fail(key, "expected an array of numbers");
}

std::optional<bool> ConfigSection::boolean(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_boolean()) return n->as_boolean()->get();
    fail(key, "expected true or false");
}

std::optional<std::chrono::milliseconds> ConfigSection::duration(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_integer() && n->as_integer()->get() >= 0)
        return std::chrono::seconds(n->as_integer()->get());
    if (n->is_string())
        if (auto d = parse_duration(n->as_string()->get())) return *d;
    fail(key, "expected a duration like \"30s\", \"500ms\" or \"1h\" (or whole seconds)");
}

std::optional<std::uint64_t> ConfigSection::size(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_integer() && n->as_integer()->get() >= 0)
        return static_cast<std::uint64_t>(n->as_integer()->get());
    if (n->is_string())
        if (auto s = parse_size(n->as_string()->get())) return *s;
    fail(key, "expected a size like \"256MiB\" or \"64KiB\" (or a number of bytes)");
}

std::optional<std::vector<std::string>> ConfigSection::strings(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_string()) return std::vector<std::string>{n->as_string()->get()};
    if (const toml::array* a = n->as_array()) {
        std::vector<std::string> out;
        for (const toml::node& e : *a) {
            if (!e.is_string()) fail(key, "expected an array of strings");
            out.push_back(e.as_string()->get());
        }
        return out;
    }
    fail(key, "expected a string or an array of strings");
}

std::optional<std::filesystem::path> ConfigSection::file_path(std::string_view key) const {
    auto v = string(key);
    if (!v) return std::nullopt;
    if (v->empty()) fail(key, "expected a path, not \"\"");
    std::filesystem::path p(*v);
    // Not normalised: with a symlinked config directory, "../x" means what the kernel says.
    if (p.is_relative()) p = std::filesystem::path(*file_).parent_path() / p;
    return p;
}

void ConfigSection::allow_only(std::initializer_list<std::string_view> keys) const {
    for (const auto& [k, v] : *table_) {
        if (std::find(keys.begin(), keys.end(), k.str()) == keys.end()) {
            std::string known;
            for (std::string_view s : keys)
                known += (known.empty() ? "" : ", ") + std::string(s);
            throw ConfigError(
                fmt::format("{}: unknown key (known: {})", where(&v, k.str()), known));
        }
    }
}

}  // namespace cdn
