// relayctl db grants (tools/relayctl/cmd_grants.cpp): the statements it prints for each role, and the
// names it refuses before printing anything. It connects to nothing; integration_grants runs the
// printed statements against a real MariaDB.
#include <boost/test/unit_test.hpp>

#include <iostream>
#include <sstream>
#include <string>

#include "tools/relayctl/cli.hpp"

using namespace relay::ctl;

namespace {

// Runs cmd_db_grants with args; returns what it printed on stdout, or "UsageError: ..." when it refused.
std::string grants(const Args& args) {
    Context ctx;
    std::ostringstream out;
    std::streambuf* saved = std::cout.rdbuf(out.rdbuf());
    std::string result;
    try {
        cmd_db_grants(ctx, args);
        result = out.str();
    } catch (const UsageError& e) {
        result = std::string("UsageError: ") + e.what();
    }
    std::cout.rdbuf(saved);
    return result;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(relayctl_cmd_grants)

BOOST_AUTO_TEST_CASE(daemon_role_reads_the_rules_and_writes_only_its_own_tables) {
    const std::string out = grants({"--user", "relay", "--host", "10.0.0.%", "--database", "relay_authority"});
    BOOST_TEST(contains(out, "-- relay-authority daemon account (relay-policyd and relay-milter), database relay_authority"));
    BOOST_TEST(contains(out, "CREATE USER 'relay'@'10.0.0.%' IDENTIFIED BY '...';"));
    BOOST_TEST(contains(out, "GRANT SELECT ON `relay_authority`.`authority_senders` TO 'relay'@'10.0.0.%';"));
    BOOST_TEST(contains(out, "GRANT INSERT ON `relay_authority`.`relay_events` TO 'relay'@'10.0.0.%';"));
    BOOST_TEST(contains(out, "GRANT SELECT, INSERT, UPDATE ON `relay_authority`.`rate_counters` TO 'relay'@'10.0.0.%';"));
    // Never a rule edited, never a password hash read, never a whole database.
    for (const char* table : {"customers", "domains", "authority_senders", "authority_networks", "rate_limits"}) {
        BOOST_TEST_CONTEXT(table) {
            BOOST_TEST(contains(out, "GRANT SELECT ON `relay_authority`.`" + std::string(table) + "` TO"));
        }
    }
    BOOST_TEST(contains(out, "GRANT SELECT (id, domain_id, local_part, active) ON `relay_authority`.`users`"));
    BOOST_TEST(!contains(out, "password_hash"));
    BOOST_TEST(!contains(out, "`relay_authority`.*"));
    BOOST_TEST(!contains(out, "ALL PRIVILEGES"));
}

BOOST_AUTO_TEST_CASE(dovecot_role_reads_users_and_domains_only) {
    const std::string out = grants({"--user", "dovecot", "--role", "dovecot", "--database", "mail"});
    BOOST_TEST(out ==
               "-- relay-authority dovecot account (Dovecot's password lookup), database mail\n"
               "-- Create it first: CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '...';\n"
               "GRANT SELECT (id, domain_id, local_part, password_hash, active) ON `mail`.`users` TO "
               "'dovecot'@'localhost';\n"
               "GRANT SELECT (id, name, active) ON `mail`.`domains` TO 'dovecot'@'localhost';\n");
    BOOST_TEST(!contains(out, "`mail`.*"));
    BOOST_TEST(!contains(out, "INSERT"));
    BOOST_TEST(!contains(out, "UPDATE"));
}

BOOST_AUTO_TEST_CASE(quotes_in_names_cannot_break_out_of_the_statement) {
    const std::string out = grants({"--user", "o'brien", "--database", "relay_authority"});
    BOOST_TEST(contains(out, "TO 'o\\'brien'@'localhost';"));
    BOOST_TEST(!contains(out, "'o'brien'"));
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_refused_before_anything_is_printed) {
    BOOST_TEST(grants({"--database", "relay_authority"}) == "UsageError: db grants: --user NAME is required");
    BOOST_TEST(grants({"--user", "relay", "--role", "root", "--database", "relay_authority"}) ==
               "UsageError: --role root: want daemon, admin or dovecot");
    BOOST_TEST(contains(grants({"--user", "", "--database", "relay_authority"}), "--user must not be empty"));
    BOOST_TEST(contains(grants({"--user", "re\nlay", "--database", "relay_authority"}), "control character"));
    BOOST_TEST(contains(grants({"--user", "relay", "--database", "relay`authority"}), "UsageError: --database"));
}

BOOST_AUTO_TEST_SUITE_END()
