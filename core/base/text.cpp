#include "core/base/text.hpp"

namespace relay {

std::string printable(std::string_view untrusted, std::size_t max_len) {
    std::string out;
    const bool truncate = untrusted.size() > max_len;
    const std::size_t keep = truncate ? max_len : untrusted.size();
    out.reserve(keep + 3);
    for (std::size_t i = 0; i < keep; ++i) {
        const unsigned char c = static_cast<unsigned char>(untrusted[i]);
        out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    if (truncate) out += "...";
    return out;
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

}  // namespace relay
