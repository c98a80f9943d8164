#pragma once
// Domain names on the wire: a bounds-checked reader that expands compression pointers safely
// (backward-only, bounded jumps), the canonical text form used by zone.hpp, and a splitter for
// text names being written. Fixed-size buffers, no allocation; all functions are pure and
// thread-safe.
#include "geodns/codec/wire.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace cdn::geodns::codec {

// An uncompressed wire-format name, bytes as received (case preserved).
struct WireName {
    // Only the first `size` bytes are meaningful; the rest is left uninitialized (zeroing 255
    // bytes per parsed name cost more than the parse itself: issue 19).
    std::array<std::uint8_t, max_name_wire> bytes;
    std::uint16_t size = 0;   // bytes used, including the terminating root byte
    std::uint8_t labels = 0;  // not counting the root
    std::span<const std::uint8_t> wire() const { return {bytes.data(), size}; }
};

// Canonical text (zone.hpp): lowercase ASCII, labels joined by '.', no trailing dot, root "".
// A '.' byte inside a label has no text spelling; it becomes '\0' so such a name can never equal
// a zone name (config names hold no NUL) yet still matches zones on label boundaries.
struct NameText {
    std::array<char, max_name_wire> chars;  // the first `size` are meaningful (as WireName)
    std::uint16_t size = 0;
    std::string_view view() const { return {chars.data(), size}; }
};

enum class NameError : std::uint8_t {
    none,
    truncated,            // ran past the end of the message
    bad_label,            // length byte 0x40..0xBF: extended/reserved label types (a 64+ label)
    name_too_long,        // more than 255 bytes expanded
    pointer_not_allowed,  // compression pointer where none is allowed (query QNAME)
    bad_pointer,          // forward, self-referencing, into the header, or too many jumps
};

// Reads the name starting at `offset` in `message`; on success sets `offset` just past the name
// as stored (after the first pointer, if any) and fills `out` when non-null. Pointers are accepted
// only when `allow_pointers` and only if they point strictly before the start of the label run
// that contains them (so every jump goes backward and loops are impossible), and at most 127 times.
NameError read_name(std::span<const std::uint8_t> message, std::size_t& offset, bool allow_pointers,
                    WireName* out);

// The canonical text of `name` (see NameText).
void canonical_text(const WireName& name, NameText& out);

// A text name split into labels (views into the caller's string).
struct TextLabels {
    std::array<std::string_view, 128> labels{};
    std::size_t count = 0;
};

// Splits "www.cdn.example" (one trailing dot tolerated; "" is the root). False when a label is
// empty or longer than 63 bytes or the wire form would exceed 255 bytes.
bool split_text_name(std::string_view text, TextLabels& out);

// ASCII case-insensitive equality of two label byte strings.
bool labels_equal(std::span<const std::uint8_t> a, std::string_view b);

}  // namespace cdn::geodns::codec
