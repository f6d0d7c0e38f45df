// Text from the database as relayctl shows it on the admin's terminal (tables, "key: value" blocks).
// Descriptions, notes and customer names are UTF-8 (the schema's utf8mb4) and are shown as they are;
// anything that could drive the terminal or hide what it shows is replaced by '?': C0 and C1 control
// characters (ESC, CSI, ...), DEL, the bidirectional and line-separator format characters, and every
// byte that is not part of valid UTF-8. Widths are counted in terminal columns, not bytes, so tables
// stay aligned. --json and export csv do not go through here: they carry the stored text unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relay::ctl {

// The length (1..4) of the well-formed UTF-8 sequence at text[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) with its code point in *code_point; 0 when it is not one.
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t* code_point);

// Valid UTF-8 kept, unsafe characters and invalid bytes each one '?'; at most max_chars characters,
// then "...".
std::string terminal_text(std::string_view untrusted, std::size_t max_chars = 500);

// The terminal columns text takes (glibc's wcwidth under C.UTF-8: a combining accent 0, a CJK ideograph
// 2; without that locale 1 per character). For text that went through terminal_text().
std::size_t display_width(std::string_view text);

}  // namespace relay::ctl
