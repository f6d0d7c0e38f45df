// From:/Sender: ownership: every address in From: (and in Sender:, when present) must be one the account
// may use as envelope sender. Decided by the engine itself (a MAIL-stage request per header address, run
// against the connection's snapshot), so the header rule can never drift from the envelope rule.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/model.hpp"
#include "core/rules/request.hpp"
#include "milter/options.hpp"

namespace relay::milter {

// The raw values of the header fields that matter, as collected in xxfi_header (folding kept).
struct HeaderFields {
    std::vector<std::string> from;
    std::vector<std::string> sender;
    bool too_many = false;  // more fields than we keep (a hostile message): refused as malformed
};

struct HeaderCheck {
    std::optional<Decision> refusal;       // nullopt: the headers are fine (or the check is off)
    std::vector<std::string> addresses;    // the normalised From:/Sender: addresses, for Request::header_from
};

// request: the message's MAIL-stage request (login, client, TLS); its sender is replaced per address.
HeaderCheck check_header_from(const Request& request, const HeaderFields& fields, const Snapshot& snapshot,
                              TimePoint now, HeaderFromAction action);

}  // namespace relay::milter
