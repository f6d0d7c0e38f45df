// The one place where an engine Decision becomes a Postfix policy answer (access(5) actions).
#pragma once

#include <string>

#include "core/rules/decision.hpp"

namespace relay::policyd {

// The action text without "action=":
//   cont   -> "DUNNO"  (Postfix's later restrictions, e.g. permit_sasl_authenticated, still run)
//   permit -> "OK"     (an IP-authorised relay account: we grant relay ourselves)
//   reject -> "550 5.7.1 text"  (the decision's 5xx code and enhanced status)
//   defer  -> "450 4.7.1 text"  (the decision's 4xx code); fail-closed failures (rules or rate limits
//             unavailable, internal error) "451 4.3.0 text": deferred whatever a later restriction says
//   hold   -> "HOLD text"
// A code or enhanced status that does not fit the verdict is replaced by the class default
// (reject: 554 5.7.1, defer: 451 4.3.0), so a bad rule can never turn a refusal into something else.
std::string policy_action(const Decision& decision);

// How log lines name what Postfix gets for decision: "\"DEFER_IF_PERMIT text\" (Postfix replies 450 4.7.1)",
// "\"550 5.7.1 text\"" (set_reply_namer() in core/sent_reply.hpp).
std::string reply_name(const Decision& decision);

// "action=<policy_action>\n\n": the bytes sent back for one request.
std::string policy_answer(const Decision& decision);

// The answer when a request cannot be decided (an exception left the engine): fail closed.
Decision internal_error_decision();

}  // namespace relay::policyd
