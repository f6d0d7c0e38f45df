#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/rules/decision.hpp"
#include "core/ratelimit/rate_limit_reply.hpp"
#include "core/rules/sent_reply.hpp"
#include "policyd/action.hpp"

using namespace relay;
using namespace relay::policyd;

namespace {

Decision make(Verdict v, Reason r, int code = 0, std::string enhanced = "", std::string text = "") {
    Decision d;
    d.verdict = v;
    d.reason = r;
    d.smtp_code = code;
    d.enhanced = std::move(enhanced);
    d.text = std::move(text);
    return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policyd_action)

BOOST_AUTO_TEST_CASE(verdict_to_action_table) {
    struct Case {
        const char* name;
        Decision decision;
        std::string want;
    };
    const std::vector<Case> cases = {
        {"continue", make(Verdict::cont, Reason::ok), "DUNNO"},
        {"not ours", make(Verdict::cont, Reason::not_ours), "DUNNO"},
        {"permit (IP account)", make(Verdict::permit, Reason::ip_authorised), "OK"},
        {"reject", make(Verdict::reject, Reason::no_authority, 550, "5.7.1", "no authority"), "550 5.7.1 no authority"},
        {"reject 552", make(Verdict::reject, Reason::message_too_large, 552, "5.3.4", "too big"), "552 5.3.4 too big"},
        {"reject 554 5.5.3", make(Verdict::reject, Reason::too_many_recipients, 550, "5.5.3", "too many"),
         "550 5.5.3 too many"},
        {"defer 452", make(Verdict::defer, Reason::too_many_recipients, 452, "4.5.3", "too many recipients"),
         "452 4.5.3 too many recipients"},
        {"defer rate limit", make(Verdict::defer, Reason::rate_limited, 450, "4.7.1", "slow down"), "450 4.7.1 slow down"},
        {"rules unavailable", make(Verdict::defer, Reason::rules_unavailable, 451, "4.3.0", "rules unavailable"),
         "451 4.3.0 rules unavailable"},
        {"rules unavailable, no text", make(Verdict::defer, Reason::rules_unavailable, 451, "4.3.0"),
         "451 4.3.0 Temporary failure, try again later"},
        {"rate limits unavailable", fail_closed(Failure::rate_limits_unavailable),
         "451 4.3.0 Rate limits cannot be checked at the moment, try again later"},
        {"internal error", fail_closed(Failure::internal_error),
         "451 4.3.0 Internal error in the relay authority check, try again later"},
        {"hold", make(Verdict::hold, Reason::rate_limited, 0, "", "held for review"), "HOLD held for review"},
        {"hold, no text", make(Verdict::hold, Reason::rate_limited), "HOLD Message held for review"},
        {"reject without code", make(Verdict::reject, Reason::no_authority, 0, "", "x"), "554 5.7.1 x"},
        {"reject with a 4xx code", make(Verdict::reject, Reason::no_authority, 450, "4.7.1", "x"), "554 5.7.1 x"},
        {"defer with a 5xx code", make(Verdict::defer, Reason::rate_limited, 550, "5.7.1", "x"), "451 4.3.0 x"},
        {"reject with 4.x.x status", make(Verdict::reject, Reason::no_authority, 550, "4.7.1", "x"), "550 5.7.1 x"},
        {"reject with junk status", make(Verdict::reject, Reason::no_authority, 550, "5.7", "x"), "550 5.7.1 x"},
        {"reject with long status part", make(Verdict::reject, Reason::no_authority, 550, "5.7.1234", "x"), "550 5.7.1 x"},
        {"reject with 3-digit parts", make(Verdict::reject, Reason::no_authority, 550, "5.123.456", "x"),
         "550 5.123.456 x"},
        {"reject without text", make(Verdict::reject, Reason::no_authority, 550, "5.7.1"),
         "550 5.7.1 Relaying denied by policy"},
        {"CR LF in text", make(Verdict::reject, Reason::no_authority, 550, "5.7.1", "a\r\naction=OK"),
         "550 5.7.1 a??action=OK"},
        {"8-bit text", make(Verdict::reject, Reason::no_authority, 550, "5.7.1", "b\xc3\xa4r"), "550 5.7.1 b??r"},
    };
    for (const auto& c : cases) {
        const std::string got = policy_action(c.decision);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got \"" << got << "\", want \"" << c.want << "\"");
    }
}

BOOST_AUTO_TEST_CASE(answer_is_one_action_line_and_an_empty_line) {
    BOOST_TEST(policy_answer(make(Verdict::cont, Reason::ok)) == "action=DUNNO\n\n");
    BOOST_TEST(policy_answer(make(Verdict::reject, Reason::no_authority, 550, "5.7.1", "no")) ==
               "action=550 5.7.1 no\n\n");
}

BOOST_AUTO_TEST_CASE(text_is_capped) {
    const std::string answer = policy_action(make(Verdict::reject, Reason::no_authority, 550, "5.7.1", std::string(2000, 'x')));
    BOOST_TEST(answer.size() <= 310u);
    BOOST_TEST(answer.find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(internal_error_fails_closed) {
    const Decision d = internal_error_decision();
    BOOST_TEST(d.refused());
    BOOST_TEST(policy_action(d) == "451 4.3.0 Internal error in the relay authority check, try again later");
}

// The outage log line names the action relay-policyd really sends (issue 11; since issue 14 that is
// "451 4.3.0 ...", which Postfix passes on as it is).
BOOST_AUTO_TEST_CASE(log_lines_name_the_reply_postfix_sends) {
    BOOST_TEST(reply_name(fail_closed(Failure::rules_unavailable)) ==
               "\"451 4.3.0 Relay rules temporarily unavailable, try again later\"");
    BOOST_TEST(reply_name(fail_closed(Failure::rate_limits_unavailable)) ==
               "\"451 4.3.0 Rate limits cannot be checked at the moment, try again later\"");
    BOOST_TEST(reply_name(make(Verdict::reject, Reason::sender_not_owned, 550, "5.7.1", "No")) == "\"550 5.7.1 No\"");
    set_reply_namer(reply_name);
    BOOST_TEST(sent_reply(fail_closed(Failure::rules_unavailable)).find("\"451 4.3.0 ") == 0u);
    set_reply_namer(nullptr);
    BOOST_TEST(sent_reply(fail_closed(Failure::rules_unavailable)) == "451 4.3.0 Relay rules temporarily unavailable, try again later");
}

BOOST_AUTO_TEST_SUITE_END()
