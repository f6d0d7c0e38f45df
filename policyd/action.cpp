#include "policyd/action.hpp"

#include <algorithm>
#include <cctype>

namespace relay::policyd {

namespace {

// Postfix puts our text into its own reply line ("550 5.7.1 <rcpt>: Recipient address rejected: text"),
// which must stay under SMTP's 512 bytes and must not contain CR/LF: keep it short and printable.
constexpr std::size_t kMaxText = 300;

std::string clean_text(const std::string& text, const char* fallback) {
    std::string out;
    out.reserve(std::min(text.size(), kMaxText));
    for (unsigned char c : text) {
        if (out.size() >= kMaxText) break;
        out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out.empty() ? std::string(fallback) : out;
}

// "d.ddd.ddd" whose class digit equals the first digit of the SMTP code (RFC 3463).
bool enhanced_fits(const std::string& enhanced, int code) {
    if (enhanced.size() < 5 || enhanced[0] != static_cast<char>('0' + code / 100) || enhanced[1] != '.')
        return false;
    std::size_t digits = 0, dots = 0;
    for (std::size_t i = 2; i < enhanced.size(); ++i) {
        const char c = enhanced[i];
        if (c == '.') {
            if (digits == 0 || ++dots > 1) return false;
            digits = 0;
        } else if (std::isdigit(static_cast<unsigned char>(c)) && ++digits <= 3) {
            continue;
        } else {
            return false;
        }
    }
    return dots == 1 && digits > 0;
}

std::string refusal(const Decision& d, int low, int default_code, const char* default_enhanced,
                    const char* default_text) {
    int code = d.smtp_code;
    std::string enhanced = d.enhanced;
    if (code < low || code > low + 99) {
        code = default_code;
        enhanced = default_enhanced;
    } else if (!enhanced_fits(enhanced, code)) {
        enhanced = default_enhanced;
    }
    return std::to_string(code) + " " + enhanced + " " + clean_text(d.text, default_text);
}

}  // namespace

std::string policy_action(const Decision& d) {
    switch (d.verdict) {
        case Verdict::cont: return "DUNNO";
        case Verdict::permit: return "OK";
        case Verdict::reject:
            return refusal(d, 500, 554, "5.7.1", "Relaying denied by policy");
        case Verdict::defer:
            // Every temporary failure as the decision says, rules_unavailable, rate_limits_unavailable
            // and internal_error included ("451 4.3.0 text", docs/architecture.md section 5): a gate that
            // cannot decide defers whatever later restrictions would say (not DEFER_IF_PERMIT).
            return refusal(d, 400, 451, "4.3.0", "Temporary failure, try again later");
        case Verdict::hold: return "HOLD " + clean_text(d.text, "Message held for review");
    }
    return "451 4.3.0 Relay policy temporarily unavailable";  // unreachable: fail closed
}

std::string reply_name(const Decision& d) {
    const std::string action = policy_action(d);
    if (action.rfind("DEFER_IF_PERMIT ", 0) == 0) return "\"" + action + "\" (Postfix replies 450 4.7.1)";
    return "\"" + action + "\"";
}

std::string policy_answer(const Decision& decision) {
    return "action=" + policy_action(decision) + "\n\n";
}

Decision internal_error_decision() { return fail_closed(Failure::internal_error); }

}  // namespace relay::policyd
