#include "db.hpp"

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdlib>
#include <memory>

namespace relay::it {

namespace {

void bind(sql::PreparedStatement& st, std::initializer_list<SqlValue> values) {
    unsigned i = 1;
    for (const SqlValue& v : values) {
        if (std::holds_alternative<std::nullptr_t>(v)) st.setNull(i, sql::DataType::VARCHAR);
        else if (const auto* n = std::get_if<std::int64_t>(&v)) st.setInt64(i, *n);
        else st.setString(i, std::get<std::string>(v));
        ++i;
    }
}

}  // namespace

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

boost::test_tools::assertion_result db_configured(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result ok(!env("RELAY_TEST_DB_SOCKET").empty());
    if (!ok) ok.message() << "RELAY_TEST_DB_SOCKET is not set: run through tests/integration/run.sh";
    return ok;
}

DatabaseConfig config(const std::string& name) {
    DatabaseConfig c;
    c.socket = env("RELAY_TEST_DB_SOCKET");
    c.user = env("RELAY_TEST_DB_USER");
    c.password = env("RELAY_TEST_DB_PASSWORD");
    c.name = name.empty() ? env("RELAY_TEST_DB_NAME") : name;
    c.connect_timeout = 2;
    c.read_timeout = 5;
    c.write_timeout = 5;
    c.pool_size = 4;
    return c;
}

void exec(MysqlPool& pool, const std::string& statement, std::initializer_list<SqlValue> values) {
    pool.run("test fixture", [&](MysqlConnection& c) {
        auto st = c.prepare(statement);
        bind(*st, values);
        st->execute();
    }, false);
}

Id insert(MysqlPool& pool, const std::string& statement, std::initializer_list<SqlValue> values) {
    Id id = 0;
    pool.run("test fixture", [&](MysqlConnection& c) {
        auto st = c.prepare(statement);
        bind(*st, values);
        st->execute();
        auto rs = c.query("SELECT LAST_INSERT_ID()");
        rs->next();
        id = rs->getInt64(1);
    }, false);
    return id;
}

std::optional<std::string> scalar(MysqlPool& pool, const std::string& statement,
                                  std::initializer_list<SqlValue> values) {
    std::optional<std::string> out;
    pool.run("test query", [&](MysqlConnection& c) {
        auto st = c.prepare(statement);
        bind(*st, values);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (rs->next() && !rs->isNull(1)) out = std::string(rs->getString(1));
    });
    return out;
}

// What each row is for:
//   alice   everything set: TLS required, null sender, caps, valid_until within UNIX_TIMESTAMP range,
//           extra senders; may relay anywhere
//   bob     own_domain, local recipients only, suspended until 2099 (beyond UNIX_TIMESTAMP's range)
//   carol   user inactive (account_disabled)
//   printer auth_mode ip, listed_only, IPv4 and IPv6 networks, in a non-local relay domain
//   erin    sasl_and_ip in an IDN domain, valid_until 1960 (before the epoch: expired)
//   dan     customer inactive (customer_disabled)
//   frank   plain account, deleted by the propagation test
//   nobody  a user without authority
Fixture reset_fixture(MysqlPool& pool) {
    for (const char* table : {"relay_events", "rate_limits", "domains", "customers"}) {
        exec(pool, std::string("DELETE FROM ") + table);  // domains cascade to users, authorities, ...
    }
    Fixture f;
    f.acme = insert(pool, "INSERT INTO customers (name, active) VALUES (?, 1)", {std::string("Acme GmbH")});
    f.dormant = insert(pool, "INSERT INTO customers (name, active) VALUES (?, 0)", {std::string("Dormant Ltd")});
    const std::string add_domain = "INSERT INTO domains (customer_id, name, active, is_local) VALUES (?, ?, 1, ?)";
    f.example_com = insert(pool, add_domain, {f.acme, std::string("example.com"), std::int64_t(1)});
    f.buecher = insert(pool, add_domain, {f.acme, std::string("xn--bcher-kva.example"), std::int64_t(1)});
    f.relay_net = insert(pool, add_domain, {f.acme, std::string("relay.example.net"), std::int64_t(0)});
    f.dormant_example = insert(pool, add_domain, {f.dormant, std::string("dormant.example"), std::int64_t(1)});

    const std::string add_user = "INSERT INTO users (domain_id, local_part, active) VALUES (?, ?, ?)";
    auto user = [&](Id domain, const char* local, bool active = true) {
        return insert(pool, add_user, {domain, std::string(local), std::int64_t(active ? 1 : 0)});
    };
    f.alice_user = user(f.example_com, "alice");
    f.bob_user = user(f.example_com, "bob");
    const Id carol_user = user(f.example_com, "carol", false);
    const Id printer_user = user(f.relay_net, "printer1");
    const Id erin_user = user(f.buecher, "erin");
    const Id dan_user = user(f.dormant_example, "dan");
    f.frank_user = user(f.example_com, "frank");
    user(f.example_com, "nobody");

    f.alice = insert(pool,
                     "INSERT INTO smtp_authorities (user_id, customer_id, sender_policy, may_relay_external, "
                     "require_tls, allow_null_sender, max_recipients_per_message, max_message_bytes, valid_until) "
                     "VALUES (?, ?, 'own_address', 1, 1, 1, 50, 10485760, FROM_UNIXTIME(2000000000))",
                     {f.alice_user, f.acme});
    f.bob = insert(pool,
                   "INSERT INTO smtp_authorities (user_id, sender_policy, may_relay_external, suspended_until, "
                   "suspend_reason) VALUES (?, 'own_domain', 0, '2099-12-31 00:00:00', ?)",
                   {f.bob_user, std::string("abuse ticket 42")});
    f.carol = insert(pool, "INSERT INTO smtp_authorities (user_id, sender_policy) VALUES (?, 'customer_domains')",
                     {carol_user});
    f.printer = insert(pool,
                       "INSERT INTO smtp_authorities (user_id, sender_policy, auth_mode) VALUES (?, 'listed_only', 'ip')",
                       {printer_user});
    f.erin = insert(pool,
                    "INSERT INTO smtp_authorities (user_id, auth_mode, valid_until) VALUES (?, 'sasl_and_ip', "
                    "'1960-01-01 00:00:00')",
                    {erin_user});
    f.dan = insert(pool, "INSERT INTO smtp_authorities (user_id) VALUES (?)", {dan_user});
    f.frank = insert(pool, "INSERT INTO smtp_authorities (user_id) VALUES (?)", {f.frank_user});

    const std::string add_sender = "INSERT INTO authority_senders (authority_id, pattern) VALUES (?, ?)";
    exec(pool, add_sender, {f.alice, std::string("alice.alias@example.com")});
    exec(pool, add_sender, {f.alice, std::string("@xn--bcher-kva.example")});
    exec(pool, add_sender, {f.printer, std::string("@relay.example.net")});
    const std::string add_network = "INSERT INTO authority_networks (authority_id, cidr) VALUES (?, ?)";
    exec(pool, add_network, {f.printer, std::string("192.0.2.0/28")});
    exec(pool, add_network, {f.printer, std::string("2001:db8:1::/48")});
    exec(pool, add_network, {f.erin, std::string("198.51.100.7")});

    exec(pool, "INSERT INTO rate_limits (scope, meter, amount, window_seconds) VALUES ('global', 'messages', 100, 3600)");
    exec(pool,
         "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, calendar, action, shadow) "
         "VALUES ('authority', ?, 'recipients', 1000, 86400, 'day', 'reject', 1)",
         {f.alice});
    exec(pool,
         "INSERT INTO rate_limits (scope, cidr, meter, amount, window_seconds, kind, action, active) "
         "VALUES ('client_network', '203.0.113.0/24', 'bytes', 1000000000, 3600, 'shared_pool', 'hold', 0)");
    return f;
}

void dbctl(const std::string& action) {
    const std::string command = env("RELAY_TEST_DBCTL");
    BOOST_REQUIRE_MESSAGE(!command.empty(), "RELAY_TEST_DBCTL is not set");
    const int status = std::system((command + " " + action + " >/dev/null 2>&1").c_str());
    BOOST_REQUIRE_MESSAGE(status == 0, "dbctl " << action << " failed with status " << status);
}

}  // namespace relay::it
