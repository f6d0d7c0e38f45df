#include <boost/test/unit_test.hpp>

#include <string>

#include "tests/bench/policy-bench/answer.hpp"

using namespace relay::bench;

BOOST_AUTO_TEST_SUITE(policy_bench_answer)

BOOST_AUTO_TEST_CASE(scan_answer_table) {
    struct Case {
        const char* name;
        std::string input;
        AnswerScan want;
        const char* want_action;  // when complete
        std::size_t want_consumed;
    } const cases[] = {
        {"dunno", "action=DUNNO\n\n", AnswerScan::complete, "DUNNO", 14},
        {"reply_text", "action=550 5.7.1 no\n\n", AnswerScan::complete, "550 5.7.1 no", 21},
        {"crlf", "action=OK\r\n\r\n", AnswerScan::complete, "OK", 13},
        {"extra_attribute_first", "x=1\naction=DUNNO\n\n", AnswerScan::complete, "DUNNO", 18},
        {"first_action_wins", "action=OK\naction=REJECT\n\n", AnswerScan::complete, "OK", 25},
        {"next_answer_not_consumed", "action=OK\n\naction=DUNNO\n\n", AnswerScan::complete, "OK", 11},
        {"partial_line", "action=DUN", AnswerScan::need_more, "", 0},
        {"no_empty_line_yet", "action=DUNNO\n", AnswerScan::need_more, "", 0},
        {"empty_buffer", "", AnswerScan::need_more, "", 0},
        {"no_action", "foo=bar\n\n", AnswerScan::malformed, "", 0},
        {"empty_line_first", "\n", AnswerScan::malformed, "", 0},
    };
    for (const auto& c : cases) {
        std::string action;
        std::size_t consumed = 0;
        const AnswerScan got = scan_answer(c.input, &action, &consumed);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got scan " << static_cast<int>(got) << ", want "
                                                   << static_cast<int>(c.want));
        if (got == AnswerScan::complete && c.want == AnswerScan::complete) {
            BOOST_CHECK_MESSAGE(action == c.want_action, "case " << c.name << ": got action '" << action
                                                                 << "', want '" << c.want_action << "'");
            BOOST_CHECK_MESSAGE(consumed == c.want_consumed,
                                "case " << c.name << ": got consumed " << consumed << ", want " << c.want_consumed);
        }
    }
}

BOOST_AUTO_TEST_CASE(scan_answer_size_cap) {
    const std::string huge(70000, 'x');
    std::string action;
    std::size_t consumed = 0;
    BOOST_CHECK(scan_answer(huge, &action, &consumed) == AnswerScan::malformed);
}

BOOST_AUTO_TEST_CASE(classify_and_key_table) {
    struct Case {
        const char* action;
        Outcome want_outcome;
        const char* want_key;
    } const cases[] = {
        {"DUNNO", Outcome::accepted, "DUNNO"},
        {"dunno", Outcome::accepted, "DUNNO"},
        {"OK", Outcome::accepted, "OK"},
        {"PREPEND X-Foo: bar", Outcome::accepted, "PREPEND"},
        {"WARN something", Outcome::accepted, "WARN"},
        {"HOLD rate limit", Outcome::held, "HOLD"},
        {"REJECT no", Outcome::refused, "REJECT"},
        {"DEFER_IF_PERMIT Rate limit reach, retry later", Outcome::refused, "DEFER_IF_PERMIT"},
        {"defer_if_permit later", Outcome::refused, "DEFER_IF_PERMIT"},
        {"DEFER later", Outcome::refused, "DEFER"},
        {"450 4.7.1 rate limit exceeded", Outcome::refused, "450 4.7.1"},
        {"550 5.7.1 user1@x may not send as <y@z>", Outcome::refused, "550 5.7.1"},
        {"554 no enhanced code", Outcome::refused, "554"},
        {"451 4.3.5 Relay policy service unavailable", Outcome::refused, "451 4.3.5"},
        {"250 odd but accepted", Outcome::accepted, "250"},
        {"", Outcome::accepted, "(empty)"},
    };
    for (const auto& c : cases) {
        const Outcome got = classify_action(c.action);
        BOOST_CHECK_MESSAGE(got == c.want_outcome, "case '" << c.action << "': got outcome " << static_cast<int>(got)
                                                            << ", want " << static_cast<int>(c.want_outcome));
        const std::string key = action_key(c.action);
        BOOST_CHECK_MESSAGE(key == c.want_key, "case '" << c.action << "': got key '" << key << "', want '"
                                                        << c.want_key << "'");
    }
}

BOOST_AUTO_TEST_SUITE_END()
