// relayctl --json string escaping (tools/relayctl/json.cpp): stored UTF-8 passes unchanged, controls are
// escaped, invalid bytes become U+FFFD, so the output is always valid JSON.
#include <boost/test/unit_test.hpp>

#include <string>

#include "tools/relayctl/json.hpp"

using namespace relay::ctl;

BOOST_AUTO_TEST_SUITE(relayctl_json)

BOOST_AUTO_TEST_CASE(utf8_passes_unchanged_and_controls_are_escaped) {
    BOOST_TEST(json_escape("R\xC3\xA9" "ception b\xC3\xBC" "cher \xF0\x9F\x93\xA7") ==
               "R\xC3\xA9" "ception b\xC3\xBC" "cher \xF0\x9F\x93\xA7");
    BOOST_TEST(json_escape("a\"b\\c\nd\x1b") == "a\\\"b\\\\c\\nd\\u001b");
    BOOST_TEST(json_escape("csi\xC2\x9B") == "csi\\u009b");          // a C1 control, same value escaped
    BOOST_TEST(json_escape("latin1 \xE9!") == "latin1 \\ufffd!");    // not UTF-8
    BOOST_TEST(json_escape("\xED\xA0\x80") == "\\ufffd\\ufffd\\ufffd");  // a surrogate is not UTF-8 either
}

BOOST_AUTO_TEST_SUITE_END()
