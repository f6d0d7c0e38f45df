// The decision engine: a pure function of (request, snapshot of rules, clock). No I/O, no locks, no
// side effects; rate limits and the audit trail are applied around it by Policy (policy.hpp).
#pragma once

#include <string>
#include <vector>

#include "core/rules/decision.hpp"
#include "core/rules/model.hpp"
#include "core/rules/request.hpp"

namespace relay {

// One line of "why": which rule ran and what it found. relayctl explain prints these.
struct RuleStep {
    std::string rule;     // "authority", "network", "tls", "sender", "recipient", ...
    bool passed = true;
    std::string detail;   // plain words: "alice@example.com may send from @example.com (own_domain)"
};

struct EngineResult {
    Decision decision;
    std::optional<Account> account;  // the account the rules were applied to, if any
};

// Rules, in order (docs/architecture.md has the full table):
//  1. no SASL login: not ours (cont), unless the client is inside an active auth_mode=ip account's networks
//  2. login not written exactly as an account's login (up to ASCII case) → 5.7.1 no_authority;
//     login without an active, current authority (user/domain/customer active, not suspended/expired) → 5.7.1
//  3. client outside authority_networks → 5.7.1; require_tls without TLS → 5.7.0
//  4. envelope sender not owned (sender_policy + authority_senders; null sender needs allow_null_sender)
//  5. recipient: external relay (also a local domain whose local part routes elsewhere), recipient cap (452 4.5.3 at RCPT, 550 5.5.3 at end of message),
//     size (552 5.3.4)
// trace, when given, receives one step per rule evaluated.
EngineResult decide(const Request& request, const Snapshot& snapshot, TimePoint now,
                    std::vector<RuleStep>* trace = nullptr);

}  // namespace relay
