#include "tools/relayctl/terminal_text.hpp"

#include <locale.h>
#include <wchar.h>

namespace relay::ctl {

namespace {

bool continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Characters a terminal acts on or that change how the rest of the line reads (Trojan Source,
// CVE-2021-42574): controls, DEL, C1 controls, bidi embeddings/overrides/isolates, line and paragraph
// separators.
bool unsafe(char32_t c) {
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

// C.UTF-8 ships with glibc (Debian's libc-bin); the admin's own locale may be anything, and relayctl
// never calls setlocale, so the widths do not depend on it.
locale_t utf8_locale() {
    static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    return loc;
}

std::size_t columns(char32_t c) {
    const locale_t loc = utf8_locale();
    if (!loc) return 1;
    const locale_t previous = uselocale(loc);
    const int w = wcwidth(static_cast<wchar_t>(c));
    uselocale(previous);
    return w < 0 ? 1 : static_cast<std::size_t>(w);  // unassigned in this glibc: one column
}

}  // namespace

std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t* code_point) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        *code_point = b;
        return 1;
    }
    std::size_t len = 0;
    char32_t c = 0, min = 0;
    if (b >= 0xC2 && b <= 0xDF) len = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, c = b & 0x07, min = 0x10000;
    else return 0;
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto next = static_cast<unsigned char>(s[i + k]);
        if (!continuation(next)) return 0;
        c = (c << 6) | (next & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *code_point = c;
    return len;
}

std::string terminal_text(std::string_view untrusted, std::size_t max_chars) {
    std::string out;
    out.reserve(untrusted.size());
    std::size_t chars = 0, i = 0;
    for (; i < untrusted.size() && chars < max_chars; ++chars) {
        char32_t c = 0;
        const std::size_t len = utf8_sequence(untrusted, i, &c);
        if (len == 0 || unsafe(c)) out += '?';
        else out.append(untrusted, i, len);
        i += len == 0 ? 1 : len;
    }
    if (i < untrusted.size()) out += "...";
    return out;
}

std::size_t display_width(std::string_view text) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t c = 0;
        const std::size_t len = utf8_sequence(text, i, &c);
        width += len == 0 ? 1 : columns(c);
        i += len == 0 ? 1 : len;
    }
    return width;
}

}  // namespace relay::ctl
