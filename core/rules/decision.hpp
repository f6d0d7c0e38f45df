// The one value the engine returns, whatever the adapter. Each adapter maps it to its transport in one
// function (relay-policyd: action=..., relay-milter: SMFIS_* + smfi_setreply).
#pragma once

#include <cstdint>
#include <string>

namespace relay {

enum class Verdict {
    cont,    // not ours to decide, or allowed: let the MTA's other rules run (Postfix DUNNO)
    permit,  // allowed and relay is granted by us (IP-authorised account: Postfix OK)
    reject,  // permanent refusal (5xx)
    defer,   // temporary refusal (4xx)
    hold,    // accept, but park the message (Postfix HOLD; milter quarantine)
};

// Stable reason codes for logs, metrics and the audit trail. Never renumber or rename: admins grep for them.
enum class Reason {
    ok,                     // allowed
    not_ours,               // unauthenticated and no IP-authorised account: untouched
    ip_authorised,          // allowed through an auth_mode=ip account
    no_authority,           // the login has no SMTP authority (or names no known user)
    account_disabled,       // smtp_authorities.active = 0 or users.active = 0
    domain_disabled,        // domains.active = 0 for the login's domain
    customer_disabled,      // customers.active = 0
    account_suspended,      // suspended_until in the future
    account_expired,        // valid_until in the past
    auth_required,          // auth_mode needs SASL but the session did not authenticate
    client_not_allowed,     // client address outside authority_networks
    ip_authority_ambiguous, // two IP-authorised accounts claim the client address equally
    tls_required,           // require_tls and no TLS
    sender_malformed,
    sender_not_owned,
    null_sender_denied,
    header_from_not_owned,  // milter: From:/Sender: address not owned
    header_from_malformed,  // milter: unparseable or missing From:
    recipient_malformed,
    external_relay_denied,
    too_many_recipients,
    message_too_large,
    rate_limited,
    // Fail-closed temporary failures (451 4.3.0, fail_closed() below). Until issue 14 all three were one
    // reason, store_unavailable (older relay_events rows still carry it).
    rules_unavailable,        // no valid rules: database down longer than [cache] max_stale, or never read
    rate_limits_unavailable,  // the rate-limit counters cannot be read or charged (or the charge timed out)
    internal_error,           // anything unexpected while deciding: a bug, never a database outage
};

const char* to_string(Verdict verdict);
const char* to_string(Reason reason);

struct Decision {
    Verdict verdict = Verdict::cont;
    Reason reason = Reason::not_ours;
    int smtp_code = 0;          // 0 for cont/permit/hold
    std::string enhanced;       // RFC 3463 status, e.g. "5.7.1"; empty for cont/permit/hold
    std::string text;           // human text for the client, printable ASCII, no CR/LF
    std::int64_t authority_id = 0;  // the account the decision was made for, 0 if none
    std::string login;              // its login (local_part@domain), for logs

    bool refused() const { return verdict == Verdict::reject || verdict == Verdict::defer; }
    // "550 5.7.1 text": the reply line an MTA sends
    std::string reply() const;
};

Decision make_refusal(Verdict verdict, Reason reason, int code, std::string enhanced, std::string text);

// What could not be decided. One cause, one reason code, one text.
enum class Failure { rules_unavailable, rate_limits_unavailable, internal_error };

// The one fail-closed Decision: defer, 451 4.3.0, the reason of the same name and its text, e.g.
// "451 4.3.0 Relay rules temporarily unavailable, try again later". Never a permit. Adapters may only
// change the class where a config key says so ([milter] on_rules_unavailable).
Decision fail_closed(Failure failure);

// Whether the MTA may go on with the message: cont and permit. A hold is not an allowance (the message is
// parked for review, and audited like a refusal); reject and defer are refusals.
bool allowed(const Decision& decision);

}  // namespace relay
