// The whole verdict → milter mapping, in one place (as OpenDKIM's dkimf_miltercode()): which SMFIS_* status
// a Decision becomes and which reply goes with it. Nothing here ever turns trouble into an accept.
#pragma once

#include <string>

#include "core/rules/decision.hpp"
#include "milter/options.hpp"
#include "milter/seam.hpp"

namespace relay::milter {

struct Outcome {
    Status status = Status::tempfail;
    std::string code;      // "550"; empty when status is cont
    std::string enhanced;  // "5.7.1"
    std::string text;      // printable, no '%', bounded
    bool quarantine = false;  // hold: let the message in, parked in the MTA's hold queue
};

Outcome outcome_of(const Decision& decision, const Options& options);

// How log lines name the reply the MTA gets for d: "\"451 4.3.0 text\"" ("no refusal" when it continues).
std::string reply_name(const Decision& d, const Options& options);

// The answer when something went wrong inside relay-milter itself (an exception): always a temporary
// failure, whatever the configuration says; never an accept.
Outcome internal_error_outcome();

// Sets the reply (if any) through the seam and returns the status to give libmilter. A reply the MTA
// refuses to take (smfi_setreply failed) still leaves the status a refusal.
Status apply(MilterContext& context, const Outcome& outcome);

// Reply text safe for smfi_setreply: printable ASCII, '%' replaced (libmilter treats it as a format
// character), at most max_len characters.
std::string reply_text(const std::string& text, std::size_t max_len = 400);

}  // namespace relay::milter
