// MysqlRateGate against a real MariaDB (run.sh): exact counting under concurrency from two "processes"
// (two gates, two connection pools), all or nothing in one transaction, deadlock retry, the database going
// away, the abuse tables, cascades, and a schema without migration 003.
#include <boost/test/unit_test.hpp>

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_rate_gate.hpp"
#include "core/store/mysql_store.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;
using namespace std::chrono_literals;

namespace {

Config gate_config(const std::string& db = "") {
    Config c;
    c.database = it::config(db);
    c.database.pool_size = 8;
    c.general.node = "it";
    return c;
}

Request eom(const std::string& login, std::uint32_t recipients = 1, std::uint64_t size = 1000) {
    Request r;
    r.stage = Stage::end_of_message;
    r.client_address = "198.51.100.7";
    r.sasl_login = login;
    r.recipient_count = recipients;
    r.size = size;
    return r;
}

std::shared_ptr<Snapshot> load(const std::string& db = "") {
    MysqlStore store(it::config(db));
    return store.load_snapshot();
}

std::string q(MysqlPool& pool, const std::string& sql, std::initializer_list<SqlValue> values = {}) {
    return scalar(pool, sql, values).value_or("NULL");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_gate, *boost::unit_test::precondition(db_configured))

BOOST_AUTO_TEST_CASE(two_gates_many_threads_exactly_the_limit) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    exec(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds) VALUES ('authority', ?, "
                "'messages', 100, 3600)",
         {f.frank});
    const auto snapshot = load();
    const auto account = snapshot->find_account("frank@example.com");
    BOOST_REQUIRE(account);
    ManualClock clock(SystemClock::now());
    MysqlRateGate a(gate_config(), clock, nullptr), b(gate_config(), clock, nullptr);
    a.check_schema();
    std::atomic<int> accepted{0}, deferred{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&, t] {
            MysqlRateGate& gate = t % 2 ? a : b;
            for (int i = 0; i < 25; ++i) {
                const auto d = gate.charge(eom("frank@example.com"), *account, *snapshot, clock.now());
                if (!d) ++accepted;
                else if (d->verdict == Verdict::defer && d->reason == Reason::rate_limited) ++deferred;
                else ++other;
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_CHECK_EQUAL(accepted.load(), 100);
    BOOST_CHECK_EQUAL(deferred.load(), 300);
    BOOST_CHECK_EQUAL(other.load(), 0);
    BOOST_CHECK_EQUAL(q(admin, "SELECT refusals FROM rate_counters WHERE subject_id = ?", {f.frank}), "300");
    BOOST_CHECK_EQUAL(q(admin, "SELECT CONCAT(used, '/', remaining) FROM v_rate_usage WHERE login = ?",
                        {std::string("frank@example.com")}),
                      "100/0");
    BOOST_TEST_MESSAGE("deadlocks retried: " << a.counters().deadlocks_retried() + b.counters().deadlocks_retried());
}

BOOST_AUTO_TEST_CASE(all_or_nothing_in_one_transaction) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id hourly = insert(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds) VALUES "
                                    "('authority', ?, 'messages', 100, 3600)",
                             {f.frank});
    const Id daily = insert(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, calendar) "
                                   "VALUES ('authority', ?, 'recipients', 5, 86400, 'day')",
                            {f.frank});
    const auto snapshot = load();
    const auto account = snapshot->find_account("frank@example.com");
    ManualClock clock(SystemClock::now());
    MysqlRateGate gate(gate_config(), clock, nullptr);
    BOOST_CHECK(!gate.charge(eom("frank@example.com", 3), *account, *snapshot, clock.now()));
    const auto refused = gate.charge(eom("frank@example.com", 3), *account, *snapshot, clock.now());
    BOOST_REQUIRE(refused);
    BOOST_CHECK(refused->text.find("5 recipients per calendar day") != std::string::npos);
    const std::string usage = "SELECT CONCAT(used, ' used, ', refusals, ' refused') FROM v_rate_usage WHERE rate_limit_id = ?";
    BOOST_CHECK_EQUAL(q(admin, usage, {hourly}), "1 used, 0 refused");  // not charged for the refused message
    BOOST_CHECK_EQUAL(q(admin, usage, {daily}), "3 used, 1 refused");
    BOOST_CHECK(q(admin, "SELECT regained_at > NOW() FROM v_rate_usage WHERE rate_limit_id = ?", {daily}) == "1");
}

BOOST_AUTO_TEST_CASE(a_deadlock_is_retried) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id first = insert(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount) VALUES ('authority', ?, "
                                   "'messages', 100)",
                            {f.frank});
    const Id second = insert(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount) VALUES ('authority', ?, "
                                    "'recipients', 100)",
                             {f.frank});
    const auto snapshot = load();
    const auto account = snapshot->find_account("frank@example.com");
    ManualClock clock(SystemClock::now());
    MysqlRateGate gate(gate_config(), clock, nullptr);
    BOOST_REQUIRE(!gate.charge(eom("frank@example.com"), *account, *snapshot, clock.now()));  // rows exist now

    // An admin transaction that locks the second counter, then (after the charge holds the first and waits for
    // the second) asks for the first: a deadlock. It has written many rows, so InnoDB picks the charge as victim.
    MysqlPool other(it::config());
    auto lease = other.lease();
    lease->execute("START TRANSACTION");
    for (int i = 0; i < 50; ++i) lease->execute("INSERT INTO relay_events (stage, reason) VALUES ('test', 'deadlock')");
    auto lock_second = lease->prepare("SELECT used FROM rate_counters WHERE rate_limit_id = ? AND subject_id = ? FOR UPDATE");
    lock_second->setInt64(1, second);
    lock_second->setInt64(2, f.frank);
    std::unique_ptr<sql::ResultSet>(lock_second->executeQuery());
    auto charged = std::async(std::launch::async, [&] {
        return gate.charge(eom("frank@example.com"), *account, *snapshot, clock.now());
    });
    std::this_thread::sleep_for(300ms);  // let the charge lock the first row and wait for the second
    auto lock_first = lease->prepare("SELECT used FROM rate_counters WHERE rate_limit_id = ? AND subject_id = ? FOR UPDATE");
    lock_first->setInt64(1, first);
    lock_first->setInt64(2, f.frank);
    bool admin_lost = false;
    try {
        std::unique_ptr<sql::ResultSet>(lock_first->executeQuery());
    } catch (const sql::SQLException&) {
        admin_lost = true;  // InnoDB chose the admin after all: the charge just goes on
    }
    lease->execute(admin_lost ? "ROLLBACK" : "COMMIT");
    BOOST_CHECK(!charged.get());
    BOOST_TEST_MESSAGE("admin transaction chosen as victim: " << admin_lost);
    if (!admin_lost) BOOST_CHECK_GE(gate.counters().deadlocks_retried(), 1u);
    BOOST_CHECK_EQUAL(q(admin, "SELECT used FROM v_rate_usage WHERE rate_limit_id = ?", {first}), "2");
}

BOOST_AUTO_TEST_CASE(database_away_then_back) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    exec(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount) VALUES ('authority', ?, 'messages', 100)",
         {f.frank});
    const auto snapshot = load();
    const auto account = snapshot->find_account("frank@example.com");
    ManualClock clock(SystemClock::now());
    Config c = gate_config();
    MysqlRateGate tempfail(c, clock, nullptr);
    c.rate_limits.on_rate_limits_unavailable = RateLimitsUnavailable::allow;
    c.rate_limits.unavailable_allowance = 2;
    MysqlRateGate allow(c, clock, nullptr);
    BOOST_REQUIRE(!tempfail.charge(eom("frank@example.com"), *account, *snapshot, clock.now()));
    admin.clear_idle();
    dbctl("stop");
    const auto d = tempfail.charge(eom("frank@example.com"), *account, *snapshot, clock.now());
    BOOST_REQUIRE(d);
    BOOST_CHECK_EQUAL(d->reply(), "451 4.3.0 Rate limits cannot be checked at the moment, try again later");
    int let_through = 0;
    for (int i = 0; i < 4; ++i) let_through += !allow.charge(eom("frank@example.com"), *account, *snapshot, clock.now());
    BOOST_CHECK_EQUAL(let_through, 2);
    dbctl("start");
    BOOST_CHECK(!tempfail.charge(eom("frank@example.com"), *account, *snapshot, clock.now()));
    BOOST_CHECK_EQUAL(q(admin, "SELECT used FROM v_rate_usage WHERE login = 'frank@example.com'"), "2");
}

BOOST_AUTO_TEST_CASE(abuse_tables_and_suspension) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    MysqlPool pool(it::config());
    MysqlAbuseStore store(pool);
    const TimePoint now = from_unix(std::stoll(q(admin, "SELECT UNIX_TIMESTAMP()")));
    BOOST_CHECK_EQUAL(store.record_networks(f.frank, {"192.0.2.0/24", "198.51.100.0/24"}, now - 7200s, now - 10800s), 2u);
    BOOST_CHECK_EQUAL(store.record_networks(f.frank, {"192.0.2.0/24", "2001:db8:1::/48"}, now, now - 3600s), 2u);
    BOOST_CHECK_EQUAL(store.record_refusals(f.frank, 3, now, now - 600s), 3u);
    BOOST_CHECK_EQUAL(store.record_refusals(f.frank, 4, now, now - 600s), 7u);
    const std::string generation = q(admin, "SELECT generation FROM change_generation");
    BOOST_CHECK(store.suspend(f.frank, now + 3600s, "automatic: test", now));
    BOOST_CHECK(!store.suspend(f.frank, now + 7200s, "automatic: again", now));  // already suspended
    BOOST_CHECK_EQUAL(q(admin, "SELECT CONCAT(UNIX_TIMESTAMP(suspended_until), ' ', suspend_reason) "
                               "FROM smtp_authorities WHERE id = ?",
                        {f.frank}),
                      std::to_string(to_unix(now) + 3600) + " automatic: test");
    BOOST_CHECK(q(admin, "SELECT generation FROM change_generation") != generation);  // daemons reload
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM abuse_client_networks WHERE authority_id = ?", {f.frank}), "0");
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM abuse_rate_refusals WHERE authority_id = ?", {f.frank}), "0");
    // An account deleted meanwhile: nothing to record, no error.
    BOOST_CHECK_EQUAL(store.record_networks(999999, {"192.0.2.0/24"}, now, now - 60s), 0u);
    // Charge keys older than the cutoff go, newer ones stay (a charge may still run again).
    exec(admin, "INSERT INTO rate_charge_keys (charge_key, charged_at) VALUES "
                "(UNHEX('00000000000000000000000000000001'), FROM_UNIXTIME(?)), "
                "(UNHEX('00000000000000000000000000000002'), FROM_UNIXTIME(?))",
         {to_unix(now - 7200s), to_unix(now - 60s)});
    store.purge(now, now, now - 3600s);
    BOOST_CHECK_EQUAL(q(admin, "SELECT GROUP_CONCAT(HEX(charge_key)) FROM rate_charge_keys WHERE charge_key IN "
                               "(UNHEX('00000000000000000000000000000001'), UNHEX('00000000000000000000000000000002'))"),
                      "00000000000000000000000000000002");
}

BOOST_AUTO_TEST_CASE(counters_go_with_their_limit_and_account) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id pool_limit = insert(admin, "INSERT INTO rate_limits (scope, scope_id, meter, amount, kind) VALUES "
                                        "('customer', ?, 'messages', 100, 'shared_pool')",
                                 {f.acme});
    const auto snapshot = load();
    ManualClock clock(SystemClock::now());
    MysqlRateGate gate(gate_config(), clock, nullptr);
    BOOST_CHECK(!gate.charge(eom("frank@example.com"), *snapshot->find_account("frank@example.com"), *snapshot,
                             clock.now()));
    BOOST_CHECK_EQUAL(q(admin, "SELECT subject FROM v_rate_usage WHERE rate_limit_id = ?", {pool_limit}),
                      "pool of customer Acme GmbH");
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM rate_counters WHERE subject_id = ?", {f.frank}), "1");  // global
    exec(admin, "DELETE FROM smtp_authorities WHERE id = ?", {f.frank});
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM rate_counters WHERE subject_id = ?", {f.frank}), "0");
    exec(admin, "DELETE FROM rate_limits WHERE id = ?", {pool_limit});
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM rate_counters"), "0");
}

BOOST_AUTO_TEST_CASE(schema_without_migration_003_is_refused) {
    ManualClock clock;
    MysqlRateGate gate(gate_config(env("RELAY_TEST_DB_OLD_NAME")), clock, nullptr);
    try {
        gate.check_schema();
        BOOST_ERROR("check_schema accepted a schema without rate_counters");
    } catch (const StorePermanentError& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find("rate_counters missing: apply sql/migrations") != std::string::npos,
                            e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
