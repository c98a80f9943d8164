#include "geodns/codec/name.hpp"

#include <cstring>

namespace cdn::geodns::codec {

namespace {

constexpr int max_jumps = 127;

constexpr std::uint8_t lower(std::uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
}

// Copies the labels of the name at `pos`, following its pointers. Precondition: read_name
// validated it (bounds, pointer targets, length).
void copy_labels(std::span<const std::uint8_t> message, std::size_t pos, WireName& out) {
    std::size_t total = 0;
    for (;;) {
        const std::uint8_t len = message[pos];
        if ((len & 0xC0) == 0xC0) {
            pos = (std::size_t{len & 0x3Fu} << 8) | message[pos + 1];
            continue;
        }
        if (len == 0) break;
        std::memcpy(out.bytes.data() + total, message.data() + pos, 1 + std::size_t{len});
        total += 1 + std::size_t{len};
        pos += 1 + std::size_t{len};
    }
    out.bytes[total] = 0;
}

}  // namespace

NameError read_name(std::span<const std::uint8_t> message, std::size_t& offset, bool allow_pointers,
                    WireName* out) {
    std::size_t pos = offset;
    std::size_t run_start = offset;  // a pointer must target something before this
    std::size_t resume = 0;          // offset after the first pointer
    bool jumped = false;
    int jumps = 0;
    std::size_t total = 0;  // expanded wire length so far, without the root byte
    std::uint8_t labels = 0;
    for (;;) {
        if (pos >= message.size()) return NameError::truncated;
        const std::uint8_t len = message[pos];
        if ((len & 0xC0) == 0xC0) {
            if (!allow_pointers) return NameError::pointer_not_allowed;
            if (pos + 1 >= message.size()) return NameError::truncated;
            const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | message[pos + 1];
            if (target >= run_start || target < header_size || ++jumps > max_jumps) {
                return NameError::bad_pointer;
            }
            if (!jumped) {
                resume = pos + 2;
                jumped = true;
            }
            pos = target;
            run_start = target;
            continue;
        }
        if ((len & 0xC0) != 0) return NameError::bad_label;
        if (len == 0) break;
        if (message.size() - pos - 1 < len) return NameError::truncated;
        if (total + 1 + len + 1 > max_name_wire) return NameError::name_too_long;
        total += 1 + std::size_t{len};
        ++labels;
        pos += 1 + std::size_t{len};
    }
    if (out != nullptr) {
        if (!jumped) {
            // Contiguous in the message (every QNAME): one copy, root byte included.
            std::memcpy(out->bytes.data(), message.data() + offset, total + 1);
        } else {
            copy_labels(message, offset, *out);
        }
        out->size = static_cast<std::uint16_t>(total + 1);
        out->labels = labels;
    }
    offset = jumped ? resume : pos + 1;
    return NameError::none;
}

namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

// Eight bytes at once: ASCII 'A'-'Z' get bit 5, every other byte stays as it is.
std::uint64_t lower8(std::uint64_t x) {
    const std::uint64_t heptets = x & ~kHigh;
    const std::uint64_t ge_a = heptets + (0x80 - 'A') * kOnes;      // high bit: >= 'A'
    const std::uint64_t gt_z = heptets + (0x80 - 'Z' - 1) * kOnes;  // high bit: > 'Z'
    const std::uint64_t upper = ge_a & ~gt_z & ~x & kHigh;
    return x | (upper >> 2);
}

// Whether any of the eight bytes is `c`.
bool has_byte(std::uint64_t x, std::uint8_t c) {
    const std::uint64_t v = x ^ (c * kOnes);
    return ((v - kOnes) & ~v & kHigh) != 0;
}

}  // namespace

// The text is the wire form without its first length byte and the root byte, lowered eight
// bytes at a time, with the other length bytes turned into '.' (issue 19: a byte at a time
// this cost about 13 instructions per character).
void canonical_text(const WireName& name, NameText& out) {
    if (name.size <= 1) {
        out.size = 0;
        return;
    }
    const std::size_t n = name.size - 2u;
    const std::uint8_t* src = name.bytes.data() + 1;
    char* dst = out.chars.data();
    bool dot = false;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t x;
        std::memcpy(&x, src + i, 8);
        x = lower8(x);
        dot = dot || has_byte(x, '.');
        std::memcpy(dst + i, &x, 8);
    }
    for (; i < n; ++i) {
        const std::uint8_t c = lower(src[i]);
        dot = dot || c == '.';
        dst[i] = static_cast<char>(c);
    }
    if (dot) {  // a '.' inside a label has no text spelling (see NameText); rare
        for (std::size_t j = 0; j < n; ++j)
            if (dst[j] == '.') dst[j] = '\0';
    }
    for (std::size_t p = name.bytes[0]; p < n; p += 1u + src[p])
        dst[p] = '.';
    out.size = static_cast<std::uint16_t>(n);
}

bool split_text_name(std::string_view text, TextLabels& out) {
    out.count = 0;
    if (!text.empty() && text.back() == '.') text.remove_suffix(1);
    if (text.empty()) return true;
    std::size_t wire = 1;  // the root byte
    while (true) {
        const std::size_t dot = text.find('.');
        const std::string_view label = text.substr(0, dot);
        if (label.empty() || label.size() > max_label) return false;
        wire += 1 + label.size();
        if (wire > max_name_wire || out.count == out.labels.size()) return false;
        out.labels[out.count++] = label;
        if (dot == std::string_view::npos) break;
        text.remove_prefix(dot + 1);
    }
    return true;
}

bool labels_equal(std::span<const std::uint8_t> a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(static_cast<std::uint8_t>(b[i]))) return false;
    }
    return true;
}

}  // namespace cdn::geodns::codec
