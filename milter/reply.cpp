#include "milter/reply.hpp"

#include <algorithm>

#include "core/base/text.hpp"

namespace relay::milter {
namespace {

// A refusal whose code does not match its class is repaired towards the class the verdict asks for, so a
// mistake elsewhere can change the wording of a refusal but never turn it into something else.
Outcome refusal(Status status, const Decision& d) {
    const bool temporary = status == Status::tempfail;
    Outcome o;
    o.status = status;
    const bool code_fits = temporary ? (d.smtp_code >= 400 && d.smtp_code < 500)
                                     : (d.smtp_code >= 500 && d.smtp_code < 600);
    o.code = code_fits ? std::to_string(d.smtp_code) : (temporary ? "451" : "550");
    const char want = temporary ? '4' : '5';
    o.enhanced = d.enhanced.size() >= 5 && d.enhanced[0] == want ? d.enhanced : std::string(1, want) + ".7.1";
    o.text = reply_text(d.text.empty() ? std::string(to_string(d.reason)) : d.text);
    return o;
}

// "451 4.3.0 ..." answered permanently: the same condition, the same wording, class 5.
Outcome made_permanent(const Decision& d) {
    Decision copy = d;
    copy.smtp_code = 550;
    if (copy.enhanced.size() >= 5) copy.enhanced[0] = '5';
    return refusal(Status::reject, copy);
}

}  // namespace

std::string reply_text(const std::string& text, std::size_t max_len) {
    std::string out = printable(text, max_len);
    std::replace(out.begin(), out.end(), '%', '?');
    return out;
}

Outcome outcome_of(const Decision& d, const Options& options) {
    switch (d.verdict) {
        case Verdict::cont:
        case Verdict::permit: {
            Outcome o;
            o.status = Status::cont;
            return o;
        }
        case Verdict::hold: {
            Outcome o;
            o.status = Status::cont;
            o.quarantine = true;
            o.text = reply_text(d.text.empty() ? std::string(to_string(d.reason)) : d.text);
            return o;
        }
        case Verdict::reject:
            return refusal(Status::reject, d);
        case Verdict::defer:
            // [milter] on_rules_unavailable governs only the missing rules: rate limits that cannot be
            // checked and internal errors stay temporary whatever it says.
            if (d.reason == Reason::rules_unavailable && options.on_rules_unavailable == FailureAnswer::reject)
                return made_permanent(d);
            if (d.reason == Reason::rate_limited && options.on_rate_limited == FailureAnswer::reject)
                return made_permanent(d);
            return refusal(Status::tempfail, d);
    }
    return internal_error_outcome();
}

std::string reply_name(const Decision& d, const Options& options) {
    const Outcome o = outcome_of(d, options);
    if (o.code.empty()) return "no refusal";
    return "\"" + o.code + " " + o.enhanced + " " + o.text + "\"";
}

Outcome internal_error_outcome() { return refusal(Status::tempfail, fail_closed(Failure::internal_error)); }

Status apply(MilterContext& context, const Outcome& outcome) {
    if (!outcome.code.empty()) context.set_reply(outcome.code, outcome.enhanced, outcome.text);
    return outcome.status;
}

}  // namespace relay::milter
