// The schema's CHECK, UNIQUE and enum constraints against a real MariaDB (run.sh's database, the application
// user): they refuse what the daemons could not read, and accept the forms docs/sql.md promises. Each
// table row is one statement and, for a refusal, the error it must raise (a regular expression over the
// message: the constraint's name where MariaDB names it).
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>
#include <vector>

#include "db.hpp"

using namespace relay;
using namespace relay::it;

namespace {

struct SchemaFixture {
    MysqlPool sql{config()};
    Fixture f = reset_fixture(sql);
};

// The error of statement (bound to id when it has a '?'), or "" when it succeeded.
std::string error_of(MysqlPool& pool, const std::string& statement, Id id) {
    try {
        if (statement.find('?') == std::string::npos) exec(pool, statement);
        else exec(pool, statement, {id});
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

struct Refusal {
    std::string what;
    std::string statement;
    std::string error;  // regular expression
};

void check_refused(MysqlPool& pool, Id id, const std::vector<Refusal>& cases) {
    for (const Refusal& c : cases) {
        BOOST_TEST_CONTEXT(c.what << ": " << c.statement) {
            const std::string error = error_of(pool, c.statement, id);
            BOOST_TEST(!error.empty(), "accepted, want an error matching /" << c.error << "/");
            BOOST_TEST(std::regex_search(error, std::regex(c.error)), "got: " << error << ", want /" << c.error << "/");
        }
    }
}

void check_accepted(MysqlPool& pool, Id id, const std::vector<std::string>& statements) {
    for (const std::string& statement : statements) {
        BOOST_TEST_CONTEXT(statement) { BOOST_TEST(error_of(pool, statement, id) == ""); }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schema_checks, *boost::unit_test::precondition(db_configured))

BOOST_FIXTURE_TEST_CASE(authority_columns_hold_only_what_the_engine_reads, SchemaFixture) {
    check_refused(sql, f.dan, {
        {"bad sender_policy", "UPDATE smtp_authorities SET sender_policy = 'anything' WHERE id = ?",
         "smtp_authorities_sender_policy_valid|truncated"},
        {"bad auth_mode", "UPDATE smtp_authorities SET auth_mode = 'password' WHERE id = ?", "auth_mode|truncated"},
        {"active = 2", "UPDATE smtp_authorities SET active = 2 WHERE id = ?", "smtp_authorities_active_is_boolean"},
        {"max_recipients_per_message = 0 (NULL means no cap)",
         "UPDATE smtp_authorities SET max_recipients_per_message = 0 WHERE id = ?",
         "smtp_authorities_max_recipients_positive"},
        {"max_message_bytes = 0", "UPDATE smtp_authorities SET max_message_bytes = 0 WHERE id = ?",
         "smtp_authorities_max_message_bytes_positive"},
    });
}

BOOST_FIXTURE_TEST_CASE(bad_sender_policy_is_refused_even_with_an_empty_sql_mode, SchemaFixture) {
    // One connection: the session's sql_mode is what is under test.
    std::string error;
    sql.run("sql_mode test", [&](MysqlConnection& c) {
        c.prepare("SET SESSION sql_mode = ''")->execute();
        try {
            auto st = c.prepare("UPDATE smtp_authorities SET sender_policy = 'anything' WHERE id = ?");
            st->setInt64(1, static_cast<std::int64_t>(f.dan));
            st->execute();
        } catch (const std::exception& e) {
            error = e.what();
        }
        c.prepare("SET SESSION sql_mode = DEFAULT")->execute();
    }, false);
    BOOST_TEST(std::regex_search(error, std::regex("smtp_authorities_sender_policy_valid")), "got: " << error);
}

BOOST_FIXTURE_TEST_CASE(sender_patterns_are_lower_case_addresses_or_at_domains, SchemaFixture) {
    std::vector<Refusal> bad;
    for (const char* pattern : {"foo", "foo@", "@", "Alice@example.com", "alice@Example.com", "a b@example.com",
                                "alice@example.com.", "alice@exa_mple.com"})
        bad.push_back({std::string("sender pattern '") + pattern + "'",
                       std::string("INSERT INTO authority_senders (authority_id, pattern) VALUES (?, '") + pattern + "')",
                       "authority_senders_pattern_valid"});
    check_refused(sql, f.dan, bad);
    check_accepted(sql, f.dan, {
        "INSERT INTO authority_senders (authority_id, pattern) VALUES (?, '@example.net')",
        "INSERT INTO authority_senders (authority_id, pattern) VALUES (?, 'alice+news@example.net')",
        "INSERT INTO authority_senders (authority_id, pattern) VALUES (?, 'x@xn--bckerei-5wa.example')",
    });
}

BOOST_FIXTURE_TEST_CASE(networks_are_canonical_cidrs_once_per_authority, SchemaFixture) {
    std::vector<Refusal> bad;
    for (const char* cidr : {"", "foo", "192.0.2.1/24", "192.0.2.0/33", "2001:db8::1/32", "2001:db8::/129", "1.2.3",
                             " 10.0.0.0/8", "10.0.0.0/8 "})
        bad.push_back({std::string("network '") + cidr + "'",
                       std::string("INSERT INTO authority_networks (authority_id, cidr) VALUES (?, '") + cidr + "')",
                       "authority_networks_cidr_valid"});
    check_refused(sql, f.dan, bad);
    std::vector<std::string> good;
    for (const char* cidr : {"192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "2001:db8:8000::/33", "::1", "0.0.0.0/0"})
        good.push_back(std::string("INSERT INTO authority_networks (authority_id, cidr) VALUES (?, '") + cidr + "')");
    check_accepted(sql, f.dan, good);
    check_refused(sql, f.dan, {{"the same network twice for one authority",
                                "INSERT INTO authority_networks (authority_id, cidr) VALUES (?, '192.0.2.0/24')",
                                "Duplicate entry"}});
}

BOOST_FIXTURE_TEST_CASE(names_are_stored_the_one_way_lookups_find_them, SchemaFixture) {
    check_refused(sql, f.acme, {
        {"upper-case domain name", "INSERT INTO domains (customer_id, name) VALUES (?, 'Example.NET')",
         "domains_name_lower_a_label"},
        {"U-label domain name (store the xn-- A-label)",
         "INSERT INTO domains (customer_id, name) VALUES (?, 'bäckerei.example')", "domains_name_lower_a_label"},
        {"customer names are unique ignoring case", "INSERT INTO customers (name) VALUES ('ACME GMBH')",
         "Duplicate entry"},
    });
    BOOST_TEST(scalar(sql, "SELECT COUNT(*) FROM domains WHERE name = 'EXAMPLE.com'").value_or("") == "1");
    check_refused(sql, f.example_com, {
        {"upper-case local part", "INSERT INTO users (domain_id, local_part) VALUES (?, 'Frank')",
         "users_local_part_lower_case"},
        {"local part with @", "INSERT INTO users (domain_id, local_part) VALUES (?, 'a@b')",
         "users_local_part_lower_case"},
        {"a password without {SCHEME} prefix",
         "INSERT INTO users (domain_id, local_part, password_hash) VALUES (?, 'gina', 'secret')",
         "users_password_hash_has_scheme"},
    });
    // utf8mb4_bin: local parts differing only by an accent are different users; the same one twice is not.
    check_accepted(sql, f.example_com, {"INSERT INTO users (domain_id, local_part) VALUES (?, 'jose')",
                                        "INSERT INTO users (domain_id, local_part) VALUES (?, 'josé')"});
    check_refused(sql, f.example_com, {{"the same login twice",
                                        "INSERT INTO users (domain_id, local_part) VALUES (?, 'jose')",
                                        "Duplicate entry"}});
}

BOOST_FIXTURE_TEST_CASE(rate_limits_hold_only_what_the_gate_can_apply, SchemaFixture) {
    const std::string rl =
        "INSERT INTO rate_limits (scope, scope_id, cidr, meter, amount, window_seconds, calendar, kind, action) VALUES ";
    check_refused(sql, 0, {
        {"bad scope", rl + "('planet', NULL, NULL, 'messages', 5, 60, NULL, 'each_account', 'defer')",
         "rate_limits_scope|truncated"},
        {"bad meter", rl + "('global', NULL, NULL, 'kilos', 5, 60, NULL, 'each_account', 'defer')",
         "rate_limits_meter_valid|truncated"},
        {"bad kind", rl + "('global', NULL, NULL, 'messages', 5, 60, NULL, 'pooled', 'defer')",
         "rate_limits_kind_valid|truncated"},
        {"bad action", rl + "('global', NULL, NULL, 'messages', 5, 60, NULL, 'each_account', 'drop')",
         "rate_limits_action_valid|truncated"},
        {"amount 0", rl + "('global', NULL, NULL, 'messages', 0, 60, NULL, 'each_account', 'defer')",
         "rate_limits_amount_positive"},
        {"window_seconds 0", rl + "('global', NULL, NULL, 'messages', 5, 0, NULL, 'each_account', 'defer')",
         "rate_limits_window_positive"},
        {"calendar day with a 1-hour window",
         rl + "('global', NULL, NULL, 'messages', 5, 3600, 'day', 'each_account', 'defer')",
         "rate_limits_calendar_matches_window"},
        {"global with a scope_id", rl + "('global', 1, NULL, 'messages', 5, 60, NULL, 'each_account', 'defer')",
         "rate_limits_scope_target"},
        {"domain without scope_id", rl + "('domain', NULL, NULL, 'messages', 5, 60, NULL, 'each_account', 'defer')",
         "rate_limits_scope_target"},
        {"client_network without cidr",
         rl + "('client_network', NULL, NULL, 'messages', 5, 60, NULL, 'shared_pool', 'defer')",
         "rate_limits_scope_target"},
        {"client_network with a bad cidr",
         rl + "('client_network', NULL, '10.1.0.0/8', 'messages', 5, 60, NULL, 'shared_pool', 'defer')",
         "rate_limits_cidr_valid"},
    });
    check_accepted(sql, f.example_com, {
        rl + "('client_network', NULL, '2001:db8::/48', 'messages', 5, 60, NULL, 'shared_pool', 'defer')",
        // contract columns only, defaults for the rest
        "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds) VALUES ('domain', ?, 'recipients', "
        "300, 3600)",
    });
}

BOOST_AUTO_TEST_SUITE_END()
