#include "edge/cache/structured_fields.hpp"

#include <algorithm>

namespace cdn::edge::cache::sf {
namespace {

bool is_lcalpha(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_alpha(char c) {
    return is_lcalpha(c) || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_tchar(char c) {
    return is_alpha(c) || is_digit(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_base64(char c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=';
}

class Parser {
  public:
    explicit Parser(std::string_view in) : in_(in) {}

    std::optional<Dictionary> dictionary() {
        Dictionary out;
        skip_sp();
        while (!at_end()) {
            auto key = parse_key();
            if (!key) return std::nullopt;
            Item item;
            if (peek() == '=') {
                ++pos_;
                auto v = item_or_inner_list();
                if (!v) return std::nullopt;
                item = std::move(*v);
            } else {
                item.type = ItemType::boolean;
                item.integer = 1;
                if (!parameters()) return std::nullopt;
            }
            auto same = std::find_if(out.begin(), out.end(),
                                     [&](const auto& m) { return m.first == *key; });
            if (same != out.end())
                same->second = std::move(item);
            else
                out.emplace_back(std::move(*key), std::move(item));
            skip_ows();
            if (at_end()) return out;
            if (peek() != ',') return std::nullopt;
            ++pos_;
            skip_ows();
            if (at_end()) return std::nullopt;  // trailing comma
        }
        return out;
    }

  private:
    bool at_end() const { return pos_ >= in_.size(); }
    char peek() const { return at_end() ? '\0' : in_[pos_]; }
    void skip_sp() {
        while (peek() == ' ')
            ++pos_;
    }
    void skip_ows() {
        while (peek() == ' ' || peek() == '\t')
            ++pos_;
    }

    std::optional<std::string> parse_key() {
        const char c = peek();
        if (!is_lcalpha(c) && c != '*') return std::nullopt;
        const std::size_t start = pos_;
        while (!at_end()) {
            const char k = in_[pos_];
            if (!is_lcalpha(k) && !is_digit(k) && k != '_' && k != '-' && k != '.' && k != '*')
                break;
            ++pos_;
        }
        return std::string(in_.substr(start, pos_ - start));
    }

    bool parameters() {
        while (peek() == ';') {
            ++pos_;
            skip_sp();
            if (!parse_key()) return false;
            if (peek() == '=') {
                ++pos_;
                if (!bare_item()) return false;
            }
        }
        return true;
    }

    std::optional<Item> item_or_inner_list() {
        if (peek() == '(') {
            ++pos_;
            for (;;) {
                skip_sp();
                if (peek() == ')') {
                    ++pos_;
                    break;
                }
                if (!bare_item() || !parameters()) return std::nullopt;
                if (peek() != ' ' && peek() != ')') return std::nullopt;
            }
            if (!parameters()) return std::nullopt;
            Item item;
            item.type = ItemType::inner_list;
            return item;
        }
        auto item = bare_item();
        if (!item || !parameters()) return std::nullopt;
        return item;
    }

    std::optional<Item> bare_item() {
        const char c = peek();
        if (c == '-' || is_digit(c)) return number();
        if (c == '"') return string();
        if (c == '*' || is_alpha(c)) return token();
        if (c == ':') return bytes();
        if (c == '?') return boolean();
        return std::nullopt;
    }

    std::optional<Item> number() {
        Item item;
        item.type = ItemType::integer;
        bool negative = false;
        if (peek() == '-') {
            negative = true;
            ++pos_;
        }
        if (!is_digit(peek())) return std::nullopt;
        const std::size_t start = pos_;
        std::size_t dot = std::string_view::npos;
        while (!at_end()) {
            const char d = in_[pos_];
            if (is_digit(d)) {
                ++pos_;
            } else if (d == '.' && dot == std::string_view::npos) {
                if (pos_ - start > 12) return std::nullopt;
                dot = pos_;
                item.type = ItemType::decimal;
                ++pos_;
            } else {
                break;
            }
            if (item.type == ItemType::integer && pos_ - start > 15) return std::nullopt;
            if (item.type == ItemType::decimal && pos_ - start > 16) return std::nullopt;
        }
        const std::string_view digits = in_.substr(start, pos_ - start);
        if (item.type == ItemType::integer) {
            std::int64_t n = 0;
            for (char d : digits)
                n = n * 10 + (d - '0');
            item.integer = negative ? -n : n;
            return item;
        }
        if (digits.back() == '.' || digits.size() - (dot - start) - 1 > 3) return std::nullopt;
        double v = 0, scale = 1;
        bool frac = false;
        for (char d : digits) {
            if (d == '.') {
                frac = true;
                continue;
            }
            if (frac) {
                scale /= 10;
                v += (d - '0') * scale;
            } else {
                v = v * 10 + (d - '0');
            }
        }
        item.decimal = negative ? -v : v;
        return item;
    }

    std::optional<Item> string() {
        Item item;
        item.type = ItemType::string;
        ++pos_;  // opening quote
        while (!at_end()) {
            const char c = in_[pos_++];
            if (c == '\\') {
                if (at_end()) return std::nullopt;
                const char e = in_[pos_++];
                if (e != '"' && e != '\\') return std::nullopt;
                item.text.push_back(e);
            } else if (c == '"') {
                return item;
            } else if (c < 0x20 || c > 0x7e) {
                return std::nullopt;
            } else {
                item.text.push_back(c);
            }
        }
        return std::nullopt;  // unterminated
    }

    std::optional<Item> token() {
        Item item;
        item.type = ItemType::token;
        const std::size_t start = pos_++;
        while (!at_end() && (is_tchar(in_[pos_]) || in_[pos_] == ':' || in_[pos_] == '/'))
            ++pos_;
        item.text = std::string(in_.substr(start, pos_ - start));
        return item;
    }

    std::optional<Item> bytes() {
        Item item;
        item.type = ItemType::bytes;
        ++pos_;
        const std::size_t start = pos_;
        while (!at_end() && in_[pos_] != ':') {
            if (!is_base64(in_[pos_])) return std::nullopt;
            ++pos_;
        }
        if (at_end()) return std::nullopt;
        item.text = std::string(in_.substr(start, pos_ - start));
        ++pos_;
        return item;
    }

    std::optional<Item> boolean() {
        ++pos_;
        const char c = peek();
        if (c != '0' && c != '1') return std::nullopt;
        ++pos_;
        Item item;
        item.type = ItemType::boolean;
        item.integer = c == '1';
        return item;
    }

    std::string_view in_;
    std::size_t pos_ = 0;
};

}  // namespace

std::optional<Dictionary> parse_dictionary(std::string_view input) {
    // Leading and trailing SP are discarded (section 4.2); anything else out of place fails.
    while (!input.empty() && input.back() == ' ')
        input.remove_suffix(1);
    return Parser(input).dictionary();
}

}  // namespace cdn::edge::cache::sf
