#pragma once
// Reading operator TOML files. Every error names the file, the line and the dotted field, e.g.
// "edge.toml:12: cache.memory: expected a size like \"256MiB\"". Start-up only: errors throw
// ConfigError, which main() prints before exiting with status 2.
#include <toml++/toml.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cdn {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A view of one TOML table with its dotted path, for typed reads with good errors.
class ConfigSection {
  public:
    ConfigSection(std::shared_ptr<const toml::table> doc, const toml::table* table,
                  std::string path, std::shared_ptr<const std::string> file);

    // Parses a file (throws ConfigError naming file and line on a syntax error).
    static ConfigSection load_file(const std::string& file);
    static ConfigSection parse(std::string_view text, const std::string& name);

    std::optional<ConfigSection> section(std::string_view key) const;
    std::vector<ConfigSection> sections(std::string_view key) const;  // [[key]] arrays
    std::optional<std::string> string(std::string_view key) const;
    std::optional<std::int64_t> integer(std::string_view key) const;
    std::optional<double> number(std::string_view key) const;
    std::optional<std::vector<double>> numbers(std::string_view key) const;  // [1, 2.5]
    std::optional<bool> boolean(std::string_view key) const;
    // A duration string ("30s", "500ms") or an integer number of seconds.
    std::optional<std::chrono::milliseconds> duration(std::string_view key) const;
    // A size string ("256MiB") or an integer number of bytes.
    std::optional<std::uint64_t> size(std::string_view key) const;
    // An array of strings, or one string taken as a list of one.
    std::optional<std::vector<std::string>> strings(std::string_view key) const;
    // A file or directory path (a non-empty string); a relative one is taken relative to the
    // directory of the config file, so a config means the same wherever it is started from.
    std::optional<std::filesystem::path> file_path(std::string_view key) const;

    // Rejects keys not in the list, so a typo is an error instead of a silent default.
    void allow_only(std::initializer_list<std::string_view> keys) const;
    [[noreturn]] void fail(std::string_view key, std::string_view message) const;
    // The same for one element of an array: "file:line: dotted.key[index]: message", with the
    // element's own line. When `key` is not an array (one value standing for a list of one, as
    // strings() reads it) or is shorter, the same as fail(key, message).
    [[noreturn]] void fail_element(std::string_view key, std::size_t index,
                                   std::string_view message) const;
    // "file:line: dotted.key" (the table's line when the key is absent): for errors found after
    // loading, e.g. when flags and the file together are inconsistent.
    std::string locate(std::string_view key) const;

    const std::string& file() const { return *file_; }
    const std::string& path() const { return path_; }

  private:
    const toml::node* get(std::string_view key) const;
    std::string where(const toml::node* node, std::string_view key) const;

    std::shared_ptr<const toml::table> doc_;
    const toml::table* table_;
    std::string path_;
    std::shared_ptr<const std::string> file_;
};

}  // namespace cdn
