// sanitize() keeps untrusted values printable and short; log levels read from the config words.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/base/log.hpp"

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

BOOST_AUTO_TEST_SUITE_END()
