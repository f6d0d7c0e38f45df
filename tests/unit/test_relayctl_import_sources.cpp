// relayctl import csv's reader (tools/relayctl/import_sources.cpp), the password_changed_at column: read
// when present, optional so that files written before it existed import as they did.
#include <boost/test/unit_test.hpp>

#include <string>

#include "tools/relayctl/import_sources.hpp"

using namespace relay::ctl;

namespace {
const char* kHash = "{SHA512-CRYPT}$6$abcdefghijklmnop$Dq3QH7x1mFkS0mZ3.7b9b0Cj6sXb0y1uVqZr0T0zq0o1p9aPz8u6YVnQ8Y5Gm0s9m5bL1x";
}

BOOST_AUTO_TEST_SUITE(relayctl_import_sources)

BOOST_AUTO_TEST_CASE(export_writes_password_changed_at_as_the_last_column) {
    BOOST_TEST(csv_columns().back() == "password_changed_at");
}

BOOST_AUTO_TEST_CASE(password_changed_at_is_read_as_unix_seconds_or_a_date) {
    const std::string text = std::string("login,password,note,password_changed_at\n") + "a@example.com," + kHash +
                             ",R\xC3\xA9" "ception,@1600000000\n" + "b@example.com," + kHash + ",,\n";
    const ImportSource s = parse_csv(text, "f.csv", 12);
    BOOST_TEST(s.errors.empty());
    BOOST_REQUIRE(s.accounts.size() == 2u);
    BOOST_TEST(s.accounts[0].password_changed_at.value_or(0) == 1600000000);
    BOOST_TEST(s.accounts[0].fields.note.value_or("") == "R\xC3\xA9" "ception");  // UTF-8 kept as it is
    BOOST_TEST(!s.accounts[1].password_changed_at);  // empty cell: not given
}

BOOST_AUTO_TEST_CASE(a_csv_without_the_column_still_imports) {
    const ImportSource s = parse_csv(std::string("login,password\na@example.com,") + kHash + "\n", "old.csv", 12);
    BOOST_TEST(s.errors.empty());
    BOOST_REQUIRE(s.accounts.size() == 1u);
    BOOST_TEST(!s.accounts[0].password_changed_at);
}

BOOST_AUTO_TEST_CASE(a_password_changed_at_that_is_no_time_is_refused_with_its_line) {
    const ImportSource s = parse_csv("login,password_changed_at\na@example.com,never\nb@example.com,soon\n", "f.csv", 12);
    BOOST_REQUIRE(s.errors.size() == 2u);
    BOOST_TEST(s.errors[0].find("f.csv:2: password_changed_at: cannot read 'never' as a past time") == 0u);
    BOOST_TEST(s.errors[1].find("f.csv:3: ") == 0u);
    BOOST_TEST(s.errors[1].find("password_changed_at") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
