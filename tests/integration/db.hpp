// Helpers for the integration tests: the database run.sh started (RELAY_TEST_DB_* environment), SQL with
// prepared statements for fixtures and checks, the standard fixture rows, and stopping / starting the
// server (RELAY_TEST_DBCTL).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <variant>

#include "core/config/config.hpp"
#include "core/rules/model.hpp"
#include "core/store/mysql_connection.hpp"

namespace relay::it {

// Suite precondition: skipped (with the reason) unless run.sh set the environment.
boost::test_tools::assertion_result db_configured(boost::unit_test::test_unit_id);

std::string env(const char* name);
// The application user's config for database name (default: RELAY_TEST_DB_NAME).
DatabaseConfig config(const std::string& name = "");

using SqlValue = std::variant<std::nullptr_t, std::int64_t, std::string>;

// Statement with '?' placeholders, values bound in order. Errors come out as our Store*Error types.
void exec(MysqlPool& pool, const std::string& statement, std::initializer_list<SqlValue> values = {});
// INSERT ...; returns LAST_INSERT_ID() of the same connection.
Id insert(MysqlPool& pool, const std::string& statement, std::initializer_list<SqlValue> values = {});
// First column of the first row; nullopt for no row or NULL.
std::optional<std::string> scalar(MysqlPool& pool, const std::string& statement,
                                  std::initializer_list<SqlValue> values = {});

// The ids of the standard fixture rows (see db.cpp for what each one is for).
struct Fixture {
    Id acme = 0, dormant = 0;
    Id example_com = 0, buecher = 0, relay_net = 0, dormant_example = 0;
    Id alice_user = 0, bob_user = 0, frank_user = 0;
    Id alice = 0, bob = 0, carol = 0, printer = 0, erin = 0, dan = 0, frank = 0;
};

// Empties every rule table and relay_events, then inserts the standard fixture.
Fixture reset_fixture(MysqlPool& pool);

// RELAY_TEST_DBCTL stop|start; fails the test when the command fails.
void dbctl(const std::string& action);

}  // namespace relay::it
