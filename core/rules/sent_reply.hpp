// What a daemon answers while the database cannot be reached, and how log lines name that answer: in
// the words of the MTA protocol the daemon speaks, so that an admin who greps the MTA's log finds the
// same reply (relay-policyd: the policy action it sends, "451 4.3.0 ..."; relay-milter: the SMTP reply
// it gives, "451 4.3.0 ..." or, with [milter] on_rules_unavailable = reject, a 5xx).
#pragma once

#include <functional>
#include <string>

#include "core/rules/decision.hpp"

namespace relay {

// How this process names the reply it sends for a decision. Each daemon installs its own at start,
// before its threads start; until then (tools, tests) the decision's SMTP code, status and text.
using ReplyNamer = std::function<std::string(const Decision&)>;
void set_reply_namer(ReplyNamer namer);
std::string sent_reply(const Decision& decision);

}  // namespace relay
