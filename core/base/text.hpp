// Small text helpers for values that came from the network or the database and end up in SMTP reply
// texts. (Logging has its own sanitize() in log.hpp; this one exists so the pure core does not depend on
// the logger.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relay {

// Printable ASCII only (every other byte becomes '?'), at most max_len characters (then "...").
// The result never contains CR or LF, so it is safe inside a single SMTP reply line.
std::string printable(std::string_view untrusted, std::size_t max_len = 200);

// ASCII lower-case; bytes >= 0x80 are left alone.
std::string ascii_lower(std::string_view text);

// a == b up to ASCII case (bytes >= 0x80 must match exactly), without building lower-cased copies.
bool equal_ignoring_ascii_case(std::string_view a, std::string_view b);

}  // namespace relay
