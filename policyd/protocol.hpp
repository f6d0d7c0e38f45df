// Postfix SMTP Access Policy Delegation protocol (SMTPD_POLICY_README): the request parser and the
// mapping of a request's attributes to a relay::Request. Both are pure functions: no socket, no clock,
// no logging, so the server, the unit tests and the fuzz target drive exactly the same code.
//
// Wire format: "name=value\n" lines, the request ends with an empty line. We answer "action=...\n\n".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/rules/request.hpp"

namespace relay::policyd {

// Hard caps ([policyd] max_line_length, max_attributes, max_request_bytes). A request that breaks one
// is malformed: Postfix never sends anything close to them.
struct ParseLimits {
    std::size_t max_line_length = 4096;    // bytes of one "name=value" line, without its newline
    std::size_t max_attributes = 64;       // lines in one request, known or not
    std::size_t max_request_bytes = 32768; // the whole request including the empty line
};

// The attributes we use, as views of the caller's input (no copies: the parser runs for every request
// on the hot path). They are valid only while that input is unchanged. Unknown names are accepted and
// dropped (Postfix adds attributes over time); a known name sent twice is malformed (two logins in one
// request must never be resolved by guessing).
struct PolicyAttributes {
    std::string_view request;              // must be "smtpd_access_policy"
    std::string_view protocol_state;       // CONNECT, EHLO, HELO, MAIL, RCPT, VRFY, ETRN, DATA, END-OF-MESSAGE
    std::string_view protocol_name;        // SMTP, ESMTP
    std::string_view client_address;
    std::string_view client_name;
    std::string_view reverse_client_name;
    std::string_view helo_name;
    std::string_view sender;
    std::string_view recipient;
    std::string_view recipient_count;
    std::string_view queue_id;
    std::string_view instance;
    std::string_view size;
    std::string_view sasl_method;
    std::string_view sasl_username;
    std::string_view sasl_sender;
    std::string_view encryption_protocol;
    std::string_view encryption_cipher;
};

enum class ParseStatus { complete, need_more, malformed };

struct ParseResult {
    ParseStatus status = ParseStatus::need_more;
    PolicyAttributes attributes;  // complete only; views into the input
    std::size_t consumed = 0;     // complete only: bytes of this request, including the empty line
    std::string error;            // malformed only: a sentence for the log (no untrusted bytes in it)
};

// Parses the first request at the start of input. Bytes after it (a pipelined next request) are left
// alone: the caller drops `consumed` bytes and calls again. A lone trailing "\r" before "\n" is
// tolerated (hand-typed telnet sessions); other control bytes, NUL and DEL are malformed (bytes >= 0x80
// are passed on unchecked: SMTPUTF8).
ParseResult parse_policy_request(std::string_view input, const ParseLimits& limits);

// The attributes as the engine sees them.
enum class MapStatus {
    ok,       // decide on `request`
    ignore,   // a protocol state Postfix sends that we have no rule for (ETRN): answer DUNNO
    unknown_state,  // a protocol_state Postfix does not send (" RCPT", "FOO"): RequestHandler::
                    // ignored_answer() fails closed for authenticated requests
    invalid,  // unusable values (recipient_count not a number, ...): treat like a malformed request
};

struct MapResult {
    MapStatus status = MapStatus::invalid;
    Request request;
    std::string error;  // invalid/ignore/unknown_state: why, for the log (untrusted bytes: sanitize)
};

MapResult map_policy_request(const PolicyAttributes& attributes);

// The same into an existing Request, whose strings keep their capacity from one request to the next
// (the server reuses one per I/O thread: no allocation per request once warm). `error` is set for
// invalid / ignore / unknown_state only.
MapStatus map_policy_request(const PolicyAttributes& attributes, Request& out, std::string& error);

}  // namespace relay::policyd
