#include "core/rules/decision.hpp"

#include <utility>

namespace relay {

const char* to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::cont: return "continue";
        case Verdict::permit: return "permit";
        case Verdict::reject: return "reject";
        case Verdict::defer: return "defer";
        case Verdict::hold: return "hold";
    }
    return "?";
}

const char* to_string(Reason reason) {
    switch (reason) {
        case Reason::ok: return "ok";
        case Reason::not_ours: return "not_ours";
        case Reason::ip_authorised: return "ip_authorised";
        case Reason::no_authority: return "no_authority";
        case Reason::account_disabled: return "account_disabled";
        case Reason::domain_disabled: return "domain_disabled";
        case Reason::customer_disabled: return "customer_disabled";
        case Reason::account_suspended: return "account_suspended";
        case Reason::account_expired: return "account_expired";
        case Reason::auth_required: return "auth_required";
        case Reason::client_not_allowed: return "client_not_allowed";
        case Reason::ip_authority_ambiguous: return "ip_authority_ambiguous";
        case Reason::tls_required: return "tls_required";
        case Reason::sender_malformed: return "sender_malformed";
        case Reason::sender_not_owned: return "sender_not_owned";
        case Reason::null_sender_denied: return "null_sender_denied";
        case Reason::header_from_not_owned: return "header_from_not_owned";
        case Reason::header_from_malformed: return "header_from_malformed";
        case Reason::recipient_malformed: return "recipient_malformed";
        case Reason::external_relay_denied: return "external_relay_denied";
        case Reason::too_many_recipients: return "too_many_recipients";
        case Reason::message_too_large: return "message_too_large";
        case Reason::rate_limited: return "rate_limited";
        case Reason::rules_unavailable: return "rules_unavailable";
        case Reason::rate_limits_unavailable: return "rate_limits_unavailable";
        case Reason::internal_error: return "internal_error";
    }
    return "?";
}

std::string Decision::reply() const {
    if (smtp_code == 0) return {};
    std::string out = std::to_string(smtp_code);
    if (!enhanced.empty()) out += " " + enhanced;
    if (!text.empty()) out += " " + text;
    return out;
}

Decision make_refusal(Verdict verdict, Reason reason, int code, std::string enhanced, std::string text) {
    Decision d;
    d.verdict = verdict;
    d.reason = reason;
    d.smtp_code = code;
    d.enhanced = std::move(enhanced);
    d.text = std::move(text);
    return d;
}

Decision fail_closed(Failure failure) {
    switch (failure) {
        case Failure::rules_unavailable:
            return make_refusal(Verdict::defer, Reason::rules_unavailable, 451, "4.3.0",
                                "Relay rules temporarily unavailable, try again later");
        case Failure::rate_limits_unavailable:
            return make_refusal(Verdict::defer, Reason::rate_limits_unavailable, 451, "4.3.0",
                                "Rate limits cannot be checked at the moment, try again later");
        case Failure::internal_error:
            return make_refusal(Verdict::defer, Reason::internal_error, 451, "4.3.0",
                                "Internal error in the relay authority check, try again later");
    }
    return make_refusal(Verdict::defer, Reason::internal_error, 451, "4.3.0", "Temporary failure, try again later");
}

bool allowed(const Decision& decision) {
    switch (decision.verdict) {
        case Verdict::cont:
        case Verdict::permit: return true;
        case Verdict::reject:
        case Verdict::defer:
        case Verdict::hold: return false;
    }
    return false;
}

}  // namespace relay
