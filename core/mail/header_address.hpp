// Addresses in RFC 5322 address header fields (From:, Sender:), for relay-milter's From: ownership check.
//
// A pure function over the field value as the MTA hands it to the milter (folded lines included). It reads
// display names, comments (nested), quoted strings, groups ("Team: a@x, b@y;"), RFC 2047 encoded words in
// display names, several addresses, obsolete routes and folding, and hands every addr-spec to
// parse_address() so header addresses are normalised exactly like envelope addresses. Anything it cannot
// read with certainty is an error with a sentence saying why: an ownership check must never pass because
// the parser guessed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/mail/address.hpp"

namespace relay {

// Hard caps: a header field is attacker-controlled input.
struct HeaderParseLimits {
    std::size_t max_field_bytes = 16384;   // whole field value, folding included
    std::size_t max_mailboxes = 100;       // addresses in one field
    std::size_t max_comment_depth = 16;    // "((( )))" nesting
};

struct HeaderMailbox {
    std::string display_name;  // as written, whitespace collapsed; encoded words are not decoded
    std::string addr_spec;     // "local@domain" as written, comments and folding removed
    Address address;           // parse_address(addr_spec), normalised
    std::string group;         // name of the enclosing group, empty outside a group
};

struct HeaderAddressResult {
    bool ok = false;
    std::vector<HeaderMailbox> mailboxes;  // in field order; may be empty for "undisclosed:;" alone
    std::size_t groups = 0;                // number of groups seen
    std::string error;                     // set when !ok: what is wrong, printable, for reply and log
};

HeaderAddressResult parse_header_addresses(std::string_view field_value,
                                           const HeaderParseLimits& limits = HeaderParseLimits{});

}  // namespace relay
