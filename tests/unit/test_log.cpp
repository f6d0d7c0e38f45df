// sanitize() keeps untrusted values printable and short; log levels read from the config words.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "tests/unit/captured_stderr.hpp"

BOOST_AUTO_TEST_SUITE(logging)  // "log" would collide with ::log from <cmath>

BOOST_AUTO_TEST_CASE(sanitize_cases) {
    struct Case { const char* name; std::string input; std::size_t max; std::string want; };
    const std::vector<Case> cases = {
        {"plain", "alice@example.com", 200, "alice@example.com"},
        {"empty", "", 200, ""},
        {"CR LF", "a\r\nb", 200, "a??b"},
        {"NUL", std::string("a\0b", 3), 200, "a?b"},
        {"tab", "a\tb", 200, "a?b"},
        {"DEL", "a\x7f" "b", 200, "a?b"},
        {"UTF-8 bytes", "j\xc3\xb6rg", 200, "j??rg"},
        {"exactly max", "abcde", 5, "abcde"},
        {"over max", "abcdef", 5, "abcde..."},
        {"max zero", "abc", 0, "..."},
    };
    for (const auto& tc : cases) {
        const std::string got = relay::sanitize(tc.input, tc.max);
        BOOST_CHECK_MESSAGE(got == tc.want, "case " << tc.name << ": got '" << got << "', want '" << tc.want << "'");
    }
}

BOOST_AUTO_TEST_CASE(log_level_words) {
    struct Case { const char* word; bool valid; relay::LogLevel want; };
    const std::vector<Case> cases = {
        {"debug", true, relay::LogLevel::debug},     {"info", true, relay::LogLevel::info},
        {"notice", true, relay::LogLevel::notice},   {"warning", true, relay::LogLevel::warning},
        {"error", true, relay::LogLevel::error},     {"INFO", false, relay::LogLevel::info},
        {"", false, relay::LogLevel::info},          {"warn", false, relay::LogLevel::info},
    };
    for (const auto& tc : cases) {
        const auto got = relay::parse_log_level(tc.word);
        BOOST_CHECK_MESSAGE(got.has_value() == tc.valid,
                            "case '" << tc.word << "': got " << (got ? "valid" : "invalid") << ", want " << (tc.valid ? "valid" : "invalid"));
        if (got && tc.valid) {
            BOOST_CHECK_MESSAGE(*got == tc.want, "case '" << tc.word << "': got " << relay::to_string(*got) << ", want " << relay::to_string(tc.want));
            BOOST_CHECK_MESSAGE(std::string(relay::to_string(*got)) == tc.word, "case '" << tc.word << "': to_string got " << relay::to_string(*got));
        }
    }
}

// [general] refusal_summary through the log: the daemons ask log_refusal_in_full() before they format a
// refusal's line; what is counted is written as "refusal summary:" lines (here: at the stop).
BOOST_AUTO_TEST_CASE(refusal_summary_through_the_log) {
    relay::test::CapturedStderr captured;
    relay::LogOptions o;
    o.to_stderr = true;
    o.min_level = relay::LogLevel::info;
    o.refusal_summary = std::chrono::seconds(3600);
    relay::log_init(o);
    const bool first = relay::log_refusal_in_full(relay::LogLevel::info, "login=a@example.com", "sender_not_owned");
    const bool second = relay::log_refusal_in_full(relay::LogLevel::info, "login=a@example.com", "sender_not_owned");
    const bool third = relay::log_refusal_in_full(relay::LogLevel::info, "login=a@example.com", "sender_not_owned");
    const bool below = relay::log_refusal_in_full(relay::LogLevel::debug, "login=b@example.com", "sender_not_owned");
    relay::log_refusal_summaries_now();
    o.refusal_summary = std::chrono::seconds(0);
    relay::log_init(o);
    const bool off = relay::log_refusal_in_full(relay::LogLevel::info, "login=a@example.com", "sender_not_owned");
    const std::string got = captured.text();
    BOOST_TEST(first);
    BOOST_TEST(!second);
    BOOST_TEST(!third);
    BOOST_TEST(!below);  // a level not logged is not counted either
    BOOST_TEST(off);     // refusal_summary 0: every refusal in full again
    // One line for the two counted (the hour may have turned between them: then two lines adding up).
    const bool one = got.find("info: refusal summary: login=a@example.com reason=sender_not_owned more=2 interval=3600s") != std::string::npos;
    const bool two = got.find("more=1 interval=3600s") != std::string::npos;
    BOOST_TEST((one || two), "got '" << got << "'");
    BOOST_TEST(got.find("login=b@example.com") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
