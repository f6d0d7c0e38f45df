// What relayctl prints of stored text (tools/relayctl/terminal_text.cpp): UTF-8 as it is, anything that
// could drive the admin's terminal or is not UTF-8 as '?', widths in terminal columns.
#include <boost/test/unit_test.hpp>

#include <string>

#include "tools/relayctl/terminal_text.hpp"

using namespace relay::ctl;

BOOST_AUTO_TEST_SUITE(relayctl_terminal_text)

BOOST_AUTO_TEST_CASE(valid_utf8_is_shown_as_it_is) {
    BOOST_TEST(terminal_text("Caf\xC3\xA9 B\xC3\xBC" "cher") == "Caf\xC3\xA9 B\xC3\xBC" "cher");
    BOOST_TEST(terminal_text("\xE6\xBC\xA2\xE5\xAD\x97") == "\xE6\xBC\xA2\xE5\xAD\x97");        // CJK
    BOOST_TEST(terminal_text("mail \xF0\x9F\x93\xA7") == "mail \xF0\x9F\x93\xA7");            // U+1F4E7
    BOOST_TEST(terminal_text("plain ascii ~") == "plain ascii ~");
}

BOOST_AUTO_TEST_CASE(controls_that_drive_a_terminal_become_question_marks) {
    BOOST_TEST(terminal_text("a\x1b[2Jb") == "a?[2Jb");                 // ESC (clear screen)
    BOOST_TEST(terminal_text("tab\there\r\n") == "tab?here??");
    BOOST_TEST(terminal_text(std::string("nul\0x", 5)) == "nul?x");
    BOOST_TEST(terminal_text("del\x7f") == "del?");
    BOOST_TEST(terminal_text("c1\xC2\x9B" "2J") == "c1?2J");           // U+009B CSI, one '?' for the character
    BOOST_TEST(terminal_text("x\xE2\x80\xAEgpj.exe") == "x?gpj.exe");  // U+202E right-to-left override
    BOOST_TEST(terminal_text("\xE2\x81\xA6i\xE2\x81\xA9") == "?i?");    // U+2066 / U+2069 isolates
    BOOST_TEST(terminal_text("line\xE2\x80\xA8sep") == "line?sep");     // U+2028
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_one_question_mark_per_byte) {
    BOOST_TEST(terminal_text("latin1 caf\xE9!") == "latin1 caf?!");
    BOOST_TEST(terminal_text("\xC3") == "?");                          // cut short
    BOOST_TEST(terminal_text("\xC0\xAF") == "??");                     // overlong '/'
    BOOST_TEST(terminal_text("\xE0\x80\xAF") == "???");                // overlong, 3 bytes
    BOOST_TEST(terminal_text("\xED\xA0\x80") == "???");                // a surrogate
    BOOST_TEST(terminal_text("\xF4\x90\x80\x80") == "????");           // above U+10FFFF
    BOOST_TEST(terminal_text("\x80x") == "?x");                        // a lone continuation byte
}

BOOST_AUTO_TEST_CASE(truncation_counts_characters_and_never_splits_one) {
    BOOST_TEST(terminal_text("\xC3\xA9\xC3\xA9\xC3\xA9", 2) == "\xC3\xA9\xC3\xA9...");
    BOOST_TEST(terminal_text("abc", 3) == "abc");
    BOOST_TEST(terminal_text("abcd", 3) == "abc...");
}

BOOST_AUTO_TEST_CASE(width_is_counted_in_terminal_columns_not_bytes) {
    BOOST_TEST(display_width("abc") == 3u);
    BOOST_TEST(display_width("b\xC3\xBC" "cher.example") == 14u);      // bücher.example
    BOOST_TEST(display_width("e\xCC\x81") == 1u);                      // e + combining acute
    BOOST_TEST(display_width("\xE6\xBC\xA2\xE5\xAD\x97") == 4u);       // two wide CJK characters
    BOOST_TEST(display_width("") == 0u);
}

BOOST_AUTO_TEST_CASE(utf8_sequence_decodes_code_points) {
    char32_t c = 0;
    BOOST_TEST(utf8_sequence("\xC3\xA9", 0, &c) == 2u);
    BOOST_TEST(static_cast<unsigned>(c) == 0xE9u);
    BOOST_TEST(utf8_sequence("\xF0\x9F\x93\xA7", 0, &c) == 4u);
    BOOST_TEST(static_cast<unsigned>(c) == 0x1F4E7u);
    BOOST_TEST(utf8_sequence("\xE2\x82", 0, &c) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
