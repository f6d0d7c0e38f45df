// The decision engine: decide() is a pure function of (request, snapshot, now). Semantics, in order:
//
//  Rule 1 (no SASL login): look for active auth_mode=ip authorities whose authority_networks contain the
//    client address. The longest prefix wins; two different accounts at the same best prefix are a
//    configuration error, so we fail closed with 451 4.7.1 ip_authority_ambiguous. When no active one
//    covers the address, the most specific disabled one (smtp_authorities.active = 0) is taken, so that
//    its refusal names it like any other (account_disabled) instead of passing the device on to the MTA's
//    generic "Relay access denied". None at all: not ours (continue, not_ours), inbound mail untouched.
//    The account then goes through rules 2-5, and if it passes, the verdict is permit / ip_authorised
//    (it is our rule that grants relay).
//  Rule 2 (the account): a login that is not written exactly as an account's login (up to ASCII case; the
//    domain as A-label or its exact U-label) or whose account has no authority -> 550 5.7.1 no_authority.
//    Then, first hit wins:
//    authority or user inactive (account_disabled), login domain inactive (domain_disabled), the
//    authority's or the login domain's customer inactive (customer_disabled), valid_until <= now
//    (account_expired), suspended_until > now (account_suspended). A SASL login of an auth_mode=ip account
//    is accepted and treated as sasl_and_ip.
//  Rule 3 (the connection): if the authority has networks the client must be inside one; auth_mode ip and
//    sasl_and_ip without any network can match nothing (550 5.7.1 client_not_allowed). require_tls without
//    TLS -> 530 5.7.0 tls_required; TLS is only checked from MAIL on, as STARTTLS comes after EHLO.
//  Connect/helo stop here: nothing else is known yet, so the answer is continue/not_ours.
//  Rule 4 (envelope sender, from MAIL on when the sender is known): null sender needs allow_null_sender;
//    malformed -> 553 5.1.7; owned when an authority_senders pattern matches or sender_policy allows it.
//  Rule 5 (RCPT): malformed recipient 501 5.1.3, external domain without may_relay_external 550 5.7.1 (a
//    local part that routes elsewhere - '%', '!', a quoted '@' - or a source route counts as external),
//    recipient cap 452 4.5.3 (temporary: the client sends the rest in another transaction), declared SIZE
//    552 5.3.4 (also at MAIL). At end of message: the cap 550 5.5.3 and the real size 552 5.3.4.
//    DATA runs rules 1-4 only.
//  Allowed: continue/ok for a SASL login (the MTA's other restrictions still run), permit/ip_authorised for
//    an IP-authorised account.
//
// Reply texts contain untrusted values only through shown(): printable ASCII, truncated, and without '%'
// (libmilter's smfi_setreply treats a single '%' as a format character).
#include "core/rules/engine.hpp"

#include <algorithm>

#include "core/base/text.hpp"

namespace relay {
namespace {

std::string shown(std::string_view untrusted, std::size_t max_len = 100) {
    std::string s = printable(untrusted, max_len);
    std::replace(s.begin(), s.end(), '%', '?');
    return s;
}

// The account as reply texts name it.
std::string who(const Account& account) { return shown(account.login); }

// sender (local part, domain) written exactly as login, compared without building "local@domain"
bool is_login(std::string_view local, std::string_view domain, std::string_view login) {
    return login.size() == local.size() + 1 + domain.size() && login.substr(0, local.size()) == local &&
           login[local.size()] == '@' && login.substr(local.size() + 1) == domain;
}

// The rules of one decision: the inputs plus one method per rule. Each check returns the refusal, or
// nullopt after recording a passed step.
class Rules {
public:
    Rules(const Request& request, const Snapshot& snapshot, TimePoint when, std::vector<RuleStep>* steps)
        : req(request), snap(snapshot), now(when), trace(steps) {}

    std::optional<Decision> account_status(const Account& account) const;
    std::optional<Decision> connection(const Account& account) const;
    std::optional<Decision> tls(const Account& account) const;
    std::optional<Decision> sender(const Account& account) const;
    std::optional<Decision> recipient(const Account& account) const;
    std::optional<Decision> declared_size(const Account& account) const;
    std::optional<Decision> end_of_message(const Account& account) const;

    // Records a step for relayctl explain. The detail is a callable that builds the text: only a trace
    // needs it, and on the daemons' path (no trace) building it would cost allocations per request.
    template <class Detail>
    void step(const char* rule, bool passed, Detail&& detail) const {
        if (trace) trace->push_back(RuleStep{rule, passed, detail()});
    }
    // Records a failed step and returns the refusal.
    Decision refuse(const char* rule, Verdict verdict, Reason reason, int code, const char* enhanced,
                    std::string text) const {
        if (trace) trace->push_back(RuleStep{rule, false, std::string(to_string(reason)) + ": " + text});
        return make_refusal(verdict, reason, code, enhanced, std::move(text));
    }

    const Request& req;
    const Snapshot& snap;
    const TimePoint now;
    std::vector<RuleStep>* const trace;

private:
    bool sender_owned(const Account& account, const Address& sender) const;
};

Decision allowed(Verdict verdict, Reason reason) {
    Decision d;
    d.verdict = verdict;
    d.reason = reason;
    return d;
}

std::optional<Decision> Rules::account_status(const Account& account) const {
    const Authority& a = *account.authority;
    bool domain_customer_active = false;
    if (account.domain_customer) {
        domain_customer_active = account.domain_customer->active;
    } else {
        auto customer_of_domain = snap.customers.find(account.domain->customer_id);
        domain_customer_active = customer_of_domain != snap.customers.end() && customer_of_domain->second.active;
    }
    if (!a.active || !account.user->active)
        return refuse("authority", Verdict::reject, Reason::account_disabled, 550, "5.7.1",
                      "Relay access for " + who(account) + " is disabled");
    if (!account.domain->active)
        return refuse("authority", Verdict::reject, Reason::domain_disabled, 550, "5.7.1",
                      "Relay access for the domain " + shown(account.domain->name) + " is disabled");
    if (!account.customer->active || !domain_customer_active)
        return refuse("authority", Verdict::reject, Reason::customer_disabled, 550, "5.7.1",
                      "Relay access for " + who(account) + " is disabled (customer account inactive)");
    if (a.valid_until && *a.valid_until <= now)
        return refuse("authority", Verdict::reject, Reason::account_expired, 550, "5.7.1",
                      "Relay access for " + who(account) + " has expired");
    if (a.suspended_until && *a.suspended_until > now) {
        std::string text = "Relay access for " + who(account) + " is suspended";
        if (!a.suspend_reason.empty()) text += ": " + shown(a.suspend_reason);
        return refuse("authority", Verdict::reject, Reason::account_suspended, 550, "5.7.1", std::move(text));
    }
    step("authority", true, [&] {
        return who(account) + " has an active SMTP authority (id " + std::to_string(a.id) + ", auth_mode " +
               to_string(a.auth_mode) + ", sender_policy " + to_string(a.sender_policy) + ")";
    });
    return std::nullopt;
}

std::optional<Decision> Rules::connection(const Account& account) const {
    const Authority& a = *account.authority;
    const auto client = [&] { return req.client_address.empty() ? std::string("unknown") : shown(req.client_address, 64); };
    if (a.networks.empty()) {
        if (a.auth_mode == AuthMode::sasl) {
            step("network", true, [&] { return "no client networks configured: any client address may use " + who(account); });
            return std::nullopt;
        }
        return refuse("network", Verdict::reject, Reason::client_not_allowed, 550, "5.7.1",
                      who(account) + " may not send mail from client address " + client() +
                          " (no client networks are configured for it)");
    }
    if (auto ip = IpAddress::parse(req.client_address)) {
        for (const Cidr& net : a.networks) {
            if (net.contains(*ip)) {
                step("network", true, [&] { return "client " + ip->str() + " is inside " + net.str(); });
                return std::nullopt;
            }
        }
    }
    return refuse("network", Verdict::reject, Reason::client_not_allowed, 550, "5.7.1",
                  who(account) + " may not send mail from client address " + client());
}

std::optional<Decision> Rules::tls(const Account& account) const {
    if (!account.authority->require_tls) {
        step("tls", true, [] { return std::string("TLS not required"); });
        return std::nullopt;
    }
    if (!req.tls())
        return refuse("tls", Verdict::reject, Reason::tls_required, 530, "5.7.0",
                      "Must issue a STARTTLS command first (" + who(account) + " requires TLS)");
    step("tls", true, [&] { return "TLS required and in use (" + shown(req.tls_protocol, 32) + ")"; });
    return std::nullopt;
}

bool Rules::sender_owned(const Account& account, const Address& sender) const {
    const Authority& a = *account.authority;
    for (const SenderPattern& p : a.senders) {
        if (p.matches(sender)) {
            step("sender", true,
                 [&] { return account.login + " may send as " + sender.str() + " (authority_senders " + p.str() + ")"; });
            return true;
        }
    }
    bool owned = false;
    switch (a.sender_policy) {
        case SenderPolicy::own_address:
            owned = is_login(sender.local_part, sender.domain, account.login) ||
                    is_login(sender.base_local_part(), sender.domain, account.login);
            break;
        case SenderPolicy::own_domain:
            owned = sender.domain == account.domain->name;
            break;
        case SenderPolicy::customer_domains: {
            const Domain* d = snap.find_domain(sender.domain);
            owned = d != nullptr && d->active && d->customer_id == a.customer_id;
            break;
        }
        case SenderPolicy::listed_only:
            owned = false;
            break;
    }
    if (owned)
        step("sender", true,
             [&] { return account.login + " may send as " + sender.str() + " (" + to_string(a.sender_policy) + ")"; });
    return owned;
}

std::optional<Decision> Rules::sender(const Account& account) const {
    if (!req.sender_known) {
        step("sender", true, [] { return std::string("envelope sender not known yet"); });
        return std::nullopt;
    }
    const AddressResult s = parse_address(req.sender);
    if (s.null_sender) {
        if (!account.authority->allow_null_sender)
            return refuse("sender", Verdict::reject, Reason::null_sender_denied, 550, "5.7.1",
                          who(account) + " may not use the null sender <>");
        step("sender", true, [] { return std::string("null sender <> allowed (allow_null_sender)"); });
        return std::nullopt;
    }
    if (!s.ok)
        return refuse("sender", Verdict::reject, Reason::sender_malformed, 553, "5.1.7",
                      "Sender address <" + shown(req.sender) + "> is malformed: " + s.error);
    if (sender_owned(account, s.address)) return std::nullopt;
    return refuse("sender", Verdict::reject, Reason::sender_not_owned, 550, "5.7.1",
                  who(account) + " may not send as <" + shown(s.address.str()) + ">");
}

// RFC 5321 lets a client write RCPT TO:<postmaster> without a domain; it always means this server.
bool is_bare_postmaster(std::string_view recipient) {
    if (recipient.size() >= 2 && recipient.front() == '<' && recipient.back() == '>')
        recipient = recipient.substr(1, recipient.size() - 2);
    return equal_ignoring_ascii_case(recipient, "postmaster");
}

std::optional<Decision> Rules::recipient(const Account& account) const {
    const Authority& a = *account.authority;
    if (is_bare_postmaster(req.recipient)) {
        step("recipient", true, [] { return std::string("<postmaster> is always local"); });
    } else {
        const AddressResult r = parse_address(req.recipient);
        if (!r.ok)
            return refuse("recipient", Verdict::reject, Reason::recipient_malformed, 501, "5.1.3",
                          "Recipient address <" + shown(req.recipient) + "> is malformed: " + r.error);
        const bool local = snap.is_local_domain(r.address.domain);
        if (!local && !a.may_relay_external)
            return refuse("recipient", Verdict::reject, Reason::external_relay_denied, 550, "5.7.1",
                          who(account) + " may not relay to <" + shown(r.address.str()) +
                              ">: only domains hosted here are allowed");
        // A routed local part can make the MTA deliver to another domain although this one is local
        // (Postfix's percent hack and bang paths are on by default), so it counts as external.
        if (r.routed() && !a.may_relay_external)
            return refuse("recipient", Verdict::reject, Reason::external_relay_denied, 550, "5.7.1",
                          who(account) + " may not relay to <" + shown(r.address.str()) + ">: " + r.routing +
                              " can route it to another domain; only domains hosted here are allowed");
        step("recipient", true, [&] {
            return r.address.domain + (local ? " is a local domain" : " is external; may_relay_external") +
                   (r.routed() ? " (" + r.routing + " may route it elsewhere; may_relay_external)" : "");
        });
    }
    if (a.max_recipients_per_message) {
        const std::uint64_t count = std::uint64_t{req.recipient_count} + 1;
        const auto cap = [&] { return std::to_string(*a.max_recipients_per_message); };
        if (count > *a.max_recipients_per_message)
            return refuse("recipients", Verdict::defer, Reason::too_many_recipients, 452, "4.5.3",
                          "Too many recipients: " + who(account) + " may send to at most " + cap() + " per message");
        step("recipients", true, [&] { return "recipient " + std::to_string(count) + " of at most " + cap(); });
    }
    return std::nullopt;
}

std::optional<Decision> Rules::declared_size(const Account& account) const {
    const auto& max = account.authority->max_message_bytes;
    if (req.size == 0 || !max) return std::nullopt;
    if (req.size > *max)
        return refuse("size", Verdict::reject, Reason::message_too_large, 552, "5.3.4",
                      "Message size " + std::to_string(req.size) + " exceeds the limit of " + std::to_string(*max) +
                          " bytes for " + who(account));
    step("size", true,
         [&] { return "declared size " + std::to_string(req.size) + " within " + std::to_string(*max) + " bytes"; });
    return std::nullopt;
}

std::optional<Decision> Rules::end_of_message(const Account& account) const {
    const Authority& a = *account.authority;
    if (a.max_recipients_per_message && req.recipient_count > *a.max_recipients_per_message)
        return refuse("recipients", Verdict::reject, Reason::too_many_recipients, 550, "5.5.3",
                      "Too many recipients: " + std::to_string(req.recipient_count) + ", " + who(account) +
                          " may send to at most " + std::to_string(*a.max_recipients_per_message) + " per message");
    return declared_size(account);
}

// Rules 2-5 for an account that rule 1 (IP) or the SASL login found.
Decision apply_account_rules(const Rules& rules, const Account& account, bool ip_authorised) {
    if (auto refusal = rules.account_status(account)) return *refusal;
    if (auto refusal = rules.connection(account)) return *refusal;
    const Stage stage = rules.req.stage;
    if (stage == Stage::connect || stage == Stage::helo) {
        rules.step("stage", true, [&] { return std::string("nothing more to check at ") + to_string(stage); });
        return allowed(Verdict::cont, Reason::not_ours);
    }
    if (auto refusal = rules.tls(account)) return *refusal;
    if (auto refusal = rules.sender(account)) return *refusal;
    std::optional<Decision> refusal;
    switch (stage) {
        case Stage::connect:
        case Stage::helo:
        case Stage::data:
            break;
        case Stage::mail:
            refusal = rules.declared_size(account);
            break;
        case Stage::rcpt:
            refusal = rules.recipient(account);
            if (!refusal) refusal = rules.declared_size(account);
            break;
        case Stage::end_of_message:
            refusal = rules.end_of_message(account);
            break;
    }
    if (refusal) return *refusal;
    return ip_authorised ? allowed(Verdict::permit, Reason::ip_authorised) : allowed(Verdict::cont, Reason::ok);
}

// Rule 1. Returns the account to apply, or the final decision (not ours / ambiguous) in `decision`.
std::optional<Account> find_ip_account(const Rules& rules, Decision& decision) {
    decision = allowed(Verdict::cont, Reason::not_ours);
    const auto client = IpAddress::parse(rules.req.client_address);
    if (!client) {
        rules.step("ip_account", true, [&] {
            return "no SASL login and client address '" + shown(rules.req.client_address, 64) +
                   "' is not an IP address: not ours";
        });
        return std::nullopt;
    }
    // An active account decides; a disabled one only when no active one covers the address (disabling an
    // old, more specific account must not take the address away from a broader active one).
    auto candidates = rules.snap.ip_accounts_for(*client);
    if (candidates.empty()) {
        candidates = rules.snap.disabled_ip_accounts_for(*client);
        if (candidates.size() > 1) candidates.resize(1);  // both refused: the most specific one is named
    }
    if (candidates.empty()) {
        rules.step("ip_account", true,
                   [&] { return "no SASL login and no IP-authorised account for " + client->str() + ": not ours"; });
        return std::nullopt;
    }
    if (candidates.size() > 1 && candidates[0].second == candidates[1].second) {
        decision = rules.refuse("ip_account", Verdict::defer, Reason::ip_authority_ambiguous, 451, "4.7.1",
                                "Client address " + client->str() +
                                    " matches more than one IP-authorised account; try again later");
        return std::nullopt;
    }
    auto account = rules.snap.account_by_authority(candidates[0].first->id);
    if (account)
        rules.step("ip_account", true, [&] {
            return "client " + client->str() + " belongs to the IP-authorised account " + account->login + " (/" +
                   std::to_string(candidates[0].second) + ")" +
                   (candidates[0].first->active ? "" : ", whose SMTP authority is disabled");
        });
    return account;
}

// Rule 2's look-up: the account whose login the SASL login is, written exactly (up to ASCII case). A login
// that only maps onto an account ("<bob@example.com>", "\"bob\"@example.com", blanks, fullwidth letters) is
// another identity and finds none. Records the failed step, with the why for relayctl explain.
std::optional<Account> find_login_account(const Rules& rules) {
    const std::string& login = rules.req.sasl_login;
    std::string why;
    const auto key = canonical_login(login, &why);
    std::optional<Account> account;
    if (key) account = rules.snap.find_account_by_key(*key);
    if (account) return account;
    if (key) why = "no account with an SMTP authority has this login";
    rules.step("authority", false, [&] {
        return std::string(to_string(Reason::no_authority)) + ": '" + shown(login) + "' is not an account's login: " + why;
    });
    return std::nullopt;
}

}  // namespace

EngineResult decide(const Request& request, const Snapshot& snapshot, TimePoint now, std::vector<RuleStep>* trace) {
    const Rules rules(request, snapshot, now, trace);
    EngineResult result;
    std::optional<Account> account;
    const bool ip_authorised = !request.authenticated();
    if (ip_authorised) {
        account = find_ip_account(rules, result.decision);
        if (!account) return result;
    } else {
        account = find_login_account(rules);
        if (!account) {
            result.decision = make_refusal(Verdict::reject, Reason::no_authority, 550, "5.7.1",
                                           shown(request.sasl_login) + " is not allowed to send mail through this server");
            return result;
        }
    }
    result.decision = apply_account_rules(rules, *account, ip_authorised);
    result.decision.authority_id = account->authority->id;
    result.decision.login = account->login;
    result.account = std::move(account);
    return result;
}

}  // namespace relay
