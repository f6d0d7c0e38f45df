// The verdict → milter mapping (milter/reply.cpp): every Verdict, the per-class answers, repairs.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/rules/decision.hpp"
#include "core/rules/sent_reply.hpp"
#include "milter/reply.hpp"

using namespace relay;
using relay::milter::FailureAnswer;
using relay::milter::Options;
using relay::milter::Outcome;
using relay::milter::Status;

namespace {

std::string show(const Outcome& o) {
    std::string s = milter::to_string(o.status);
    if (!o.code.empty()) s += " " + o.code + " " + o.enhanced + " " + o.text;
    if (o.quarantine) s += " [quarantine: " + o.text + "]";
    return s;
}

Decision decision(Verdict v, Reason r, int code = 0, const char* enhanced = "", const char* text = "") {
    Decision d;
    d.verdict = v;
    d.reason = r;
    d.smtp_code = code;
    d.enhanced = enhanced;
    d.text = text;
    return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(milter_reply)

BOOST_AUTO_TEST_CASE(table) {
    Options defaults;
    Options rejecting;
    rejecting.on_rules_unavailable = FailureAnswer::reject;
    rejecting.on_rate_limited = FailureAnswer::reject;
    struct Case {
        const char* name;
        Decision d;
        const Options* options;
        std::string want;
    };
    const std::vector<Case> table = {
        {"continue", decision(Verdict::cont, Reason::ok), &defaults, "continue"},
        {"not ours", decision(Verdict::cont, Reason::not_ours), &defaults, "continue"},
        {"permit (IP account): the milter cannot grant relay, it continues",
         decision(Verdict::permit, Reason::ip_authorised), &defaults, "continue"},
        {"reject", decision(Verdict::reject, Reason::sender_not_owned, 550, "5.7.1", "no"), &defaults,
         "reject 550 5.7.1 no"},
        {"defer", decision(Verdict::defer, Reason::too_many_recipients, 452, "4.5.3", "later"), &defaults,
         "tempfail 452 4.5.3 later"},
        {"rules unavailable, default", decision(Verdict::defer, Reason::rules_unavailable, 451, "4.3.0", "down"),
         &defaults, "tempfail 451 4.3.0 down"},
        {"rules unavailable, reject configured",
         decision(Verdict::defer, Reason::rules_unavailable, 451, "4.3.0", "down"), &rejecting,
         "reject 550 5.3.0 down"},
        // on_rules_unavailable governs the missing rules only (before issue 14 it also turned these into 550)
        {"rate limits unavailable stay temporary with on_rules_unavailable = reject",
         fail_closed(Failure::rate_limits_unavailable), &rejecting,
         "tempfail 451 4.3.0 Rate limits cannot be checked at the moment, try again later"},
        {"an internal error stays temporary with on_rules_unavailable = reject", fail_closed(Failure::internal_error),
         &rejecting, "tempfail 451 4.3.0 Internal error in the relay authority check, try again later"},
        {"rate limited, default", decision(Verdict::defer, Reason::rate_limited, 451, "4.7.1", "slow"), &defaults,
         "tempfail 451 4.7.1 slow"},
        {"rate limited, reject configured", decision(Verdict::defer, Reason::rate_limited, 451, "4.7.1", "slow"),
         &rejecting, "reject 550 5.7.1 slow"},
        {"other defers stay temporary with reject configured",
         decision(Verdict::defer, Reason::too_many_recipients, 452, "4.5.3", "later"), &rejecting,
         "tempfail 452 4.5.3 later"},
        {"hold becomes quarantine", decision(Verdict::hold, Reason::rate_limited, 0, "", "held"), &defaults,
         "continue [quarantine: held]"},
        {"reject with a 4xx code is repaired to 5xx",
         decision(Verdict::reject, Reason::no_authority, 450, "4.7.1", "x"), &defaults, "reject 550 5.7.1 x"},
        {"defer with a 5xx code is repaired to 4xx",
         decision(Verdict::defer, Reason::rate_limited, 550, "5.7.1", "x"), &defaults, "tempfail 451 4.7.1 x"},
        {"reject without code or text", decision(Verdict::reject, Reason::no_authority), &defaults,
         "reject 550 5.7.1 no_authority"},
        {"percent and CR/LF never reach smfi_setreply",
         decision(Verdict::reject, Reason::sender_not_owned, 550, "5.7.1", "100% bad\r\nline"), &defaults,
         "reject 550 5.7.1 100? bad??line"},
    };
    for (const auto& c : table) {
        const std::string got = show(milter::outcome_of(c.d, *c.options));
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(internal_error_is_a_tempfail) {
    const Outcome o = milter::internal_error_outcome();
    BOOST_TEST(show(o).rfind("tempfail 451 4.3.0", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(reply_text_is_bounded) {
    const std::string long_text(1000, 'a');
    BOOST_TEST(milter::reply_text(long_text).size() <= 403u);
}

// The outage log line names the reply the MTA gets, as [milter] on_rules_unavailable makes it.
BOOST_AUTO_TEST_CASE(log_lines_name_the_reply_sent) {
    Options defaults;
    Options rejecting;
    rejecting.on_rules_unavailable = FailureAnswer::reject;
    BOOST_TEST(milter::reply_name(fail_closed(Failure::rules_unavailable), defaults) ==
               "\"451 4.3.0 Relay rules temporarily unavailable, try again later\"");
    const std::string made_permanent = milter::reply_name(fail_closed(Failure::rules_unavailable), rejecting);
    BOOST_TEST(made_permanent.rfind("\"5", 0) == 0u, made_permanent);
    BOOST_TEST(milter::reply_name(decision(Verdict::cont, Reason::ok), defaults) == "no refusal");
}

BOOST_AUTO_TEST_SUITE_END()
