// What an admin sees when the database set-up is wrong, and what the daemons do when the server goes away
// and comes back: driver errors classified (transient / permanent / conflict), messages that name the
// cause and never the password, reconnect without a new MysqlStore.
#include <boost/test/unit_test.hpp>

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <chrono>
#include <memory>
#include <functional>
#include <string>
#include <thread>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event_writer.hpp"
#include "core/store/mysql_store.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;

namespace {

enum class Kind { transient, permanent, conflict, none };

const char* name(Kind k) {
    switch (k) {
        case Kind::transient: return "StoreTransientError";
        case Kind::permanent: return "StorePermanentError";
        case Kind::conflict: return "StoreConflictError";
        case Kind::none: return "no error";
    }
    return "?";
}

// Runs fn and reports which of our error types came out, with its message.
Kind outcome(const std::function<void()>& fn, std::string& message) {
    try {
        fn();
        return Kind::none;
    } catch (const StoreTransientError& e) {
        message = e.what();
        return Kind::transient;
    } catch (const StorePermanentError& e) {
        message = e.what();
        return Kind::permanent;
    } catch (const StoreConflictError& e) {
        message = e.what();
        return Kind::conflict;
    }
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sql_errors)

BOOST_AUTO_TEST_CASE(error_numbers_are_classified) {
    struct Case {
        int code;
        SqlErrorClass want;
        const char* meaning;
    };
    const Case cases[] = {
        {2002, SqlErrorClass::transient, "cannot connect through the socket"},
        {2003, SqlErrorClass::transient, "cannot connect over TCP"},
        {2006, SqlErrorClass::transient, "server has gone away"},
        {2013, SqlErrorClass::transient, "lost connection during query"},
        {1053, SqlErrorClass::transient, "server shutdown in progress"},
        {1040, SqlErrorClass::transient, "too many connections"},
        {1205, SqlErrorClass::transient, "lock wait timeout"},
        {1213, SqlErrorClass::transient, "deadlock"},
        {1927, SqlErrorClass::transient, "connection killed"},
        {1969, SqlErrorClass::transient, "max_statement_time exceeded"},
        {1045, SqlErrorClass::permanent, "access denied (password)"},
        {1044, SqlErrorClass::permanent, "access denied to database"},
        {1049, SqlErrorClass::permanent, "unknown database"},
        {1146, SqlErrorClass::permanent, "no such table"},
        {1054, SqlErrorClass::permanent, "unknown column"},
        {1064, SqlErrorClass::permanent, "syntax error"},
        {1142, SqlErrorClass::permanent, "command denied on a table"},
        {1062, SqlErrorClass::conflict, "duplicate entry"},
        {1451, SqlErrorClass::conflict, "row is referenced"},
        {1452, SqlErrorClass::conflict, "no referenced row"},
        {4025, SqlErrorClass::conflict, "CHECK constraint failed"},
        {1048, SqlErrorClass::conflict, "column cannot be null"},
        {1406, SqlErrorClass::conflict, "data too long"},
    };
    auto str = [](SqlErrorClass c) {
        switch (c) {
            case SqlErrorClass::transient: return "transient";
            case SqlErrorClass::permanent: return "permanent";
            case SqlErrorClass::conflict: return "conflict";
        }
        return "?";
    };
    for (const Case& c : cases) {
        const SqlErrorClass got = classify_sql_error(c.code);
        BOOST_TEST((got == c.want), "case " << c.code << " (" << c.meaning << "): got " << str(got) << ", want "
                                            << str(c.want));
    }
}

BOOST_AUTO_TEST_CASE(endpoints_are_described_as_configured) {
    DatabaseConfig c;
    c.host = {"db.example.net"};
    c.port = 3307;
    BOOST_TEST(describe_endpoint(c) == "tcp:db.example.net:3307");
    c.socket = "/run/mysqld/mysqld.sock";
    BOOST_TEST(describe_endpoint(c) == "unix:/run/mysqld/mysqld.sock");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_errors, *boost::unit_test::precondition(db_configured))

BOOST_AUTO_TEST_CASE(bad_setups_give_clear_messages) {
    struct Case {
        const char* name;
        std::function<DatabaseConfig()> config;
        std::function<void(MysqlStore&)> call;
        Kind want;
        std::vector<std::string> says;
    };
    auto check = [](MysqlStore& s) { s.check_schema(); };
    auto generation = [](MysqlStore& s) { s.generation(); };
    const std::string password = env("RELAY_TEST_DB_PASSWORD");
    const Case cases[] = {
        {"wrong password",
         [&] {
             DatabaseConfig c = config();
             c.password = "wrong-" + password;
             return c;
         },
         check, Kind::permanent,
         {"access denied for user '" + env("RELAY_TEST_DB_USER") + "'", "check [database] user/password"}},
        {"unknown user",
         [] {
             DatabaseConfig c = config();
             c.user = "nosuchuser";
             return c;
         },
         check, Kind::permanent, {"access denied for user 'nosuchuser'"}},
        {"socket path that does not exist",
         [] {
             DatabaseConfig c = config();
             c.socket = "/nonexistent/relay-test.sock";
             return c;
         },
         check, Kind::transient, {"cannot connect to MariaDB at unix:/nonexistent/relay-test.sock"}},
        {"nothing listening on the TCP port",
         [] {
             DatabaseConfig c = config();
             c.socket.clear();
             c.host = {"127.0.0.1"};
             c.port = 1;
             return c;
         },
         generation, Kind::transient, {"cannot connect to MariaDB at tcp:127.0.0.1:1"}},
        {"unknown database",
         [] { return config("relay_it_does_not_exist"); },
         check, Kind::permanent, {"database 'relay_it_does_not_exist'", "sql/migrations"}},
        {"empty database (schema missing): check_schema",
         [] { return config(env("RELAY_TEST_DB_EMPTY_NAME")); },
         check, Kind::permanent, {"table " + env("RELAY_TEST_DB_EMPTY_NAME") + ".schema_version missing",
                                  "apply sql/migrations"}},
        {"empty database (schema missing): generation",
         [] { return config(env("RELAY_TEST_DB_EMPTY_NAME")); },
         generation, Kind::permanent, {".change_generation missing", "apply sql/migrations"}},
        {"schema too old",
         [] { return config(env("RELAY_TEST_DB_OLD_NAME")); },
         check, Kind::permanent,
         {"schema version 1", "needs version " + std::to_string(kRequiredSchemaVersion), "sql/migrations"}},
    };
    for (const Case& c : cases) {
        MysqlStore store(c.config());
        std::string message;
        const Kind got = outcome([&] { c.call(store); }, message);
        BOOST_TEST_MESSAGE("case " << c.name << ": " << message);
        BOOST_TEST((got == c.want), "case " << c.name << ": got " << name(got) << " (" << message << "), want "
                                            << name(c.want));
        for (const std::string& part : c.says) {
            BOOST_TEST(contains(message, part), "case " << c.name << ": message '" << message << "' lacks '" << part
                                                        << "'");
        }
        BOOST_TEST(!contains(message, password), "case " << c.name << ": the message shows the password");
    }
}

BOOST_AUTO_TEST_CASE(a_lock_wait_timeout_is_transient) {
    MysqlPool pool(config());
    MysqlConnection holder(config());
    auto id = scalar(pool, "SELECT MIN(id) FROM smtp_authorities");
    BOOST_REQUIRE(id.has_value());
    holder.execute("START TRANSACTION");
    auto lock = holder.prepare("SELECT id FROM smtp_authorities WHERE id = ? FOR UPDATE");
    lock->setInt64(1, std::stoll(*id));
    std::unique_ptr<sql::ResultSet> locked(lock->executeQuery());
    std::string message;
    const Kind got = outcome(
        [&] {
            pool.run("updating a locked row", [&](MysqlConnection& c) {
                c.execute("SET SESSION innodb_lock_wait_timeout = 1");
                auto st = c.prepare("UPDATE smtp_authorities SET note = 'x' WHERE id = ?");
                st->setInt64(1, std::stoll(*id));
                st->execute();
            });
        },
        message);
    holder.execute("ROLLBACK");
    BOOST_TEST((got == Kind::transient), "got " << name(got) << ": " << message);
    BOOST_TEST(contains(message, "updating a locked row"), message);
    // The connection stays usable after a lock wait timeout
    BOOST_CHECK_NO_THROW(scalar(pool, "SELECT 1"));
}

BOOST_AUTO_TEST_CASE(a_read_timeout_is_transient) {
    DatabaseConfig c = config();
    c.read_timeout = 1;
    MysqlPool pool(c);
    std::string message;
    const auto start = std::chrono::steady_clock::now();
    const Kind got = outcome(
        [&] {
            pool.run("a slow query", [&](MysqlConnection& conn) {
                auto rs = conn.query("SELECT SLEEP(8)");
                rs->next();
            }, false);
        },
        message);
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((got == Kind::transient), "got " << name(got) << ": " << message);
    BOOST_TEST((took < std::chrono::seconds(6)),
               "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    BOOST_CHECK_NO_THROW(scalar(pool, "SELECT 1"));  // a new connection replaces the timed-out one
}

BOOST_AUTO_TEST_CASE(reconnects_after_the_server_restarts) {
    MysqlPool sql(config());
    reset_fixture(sql);
    DatabaseConfig c = config();
    c.pool_size = 2;
    MysqlStore store(c);
    RealClock clock;
    SnapshotCache cache(store, CacheOptions{std::chrono::milliseconds(200), std::chrono::seconds(300)}, clock);
    EventWriter writer(store);

    BOOST_REQUIRE(cache.refresh());
    // Leave two idle pooled connections behind: both will be dead after the restart.
    std::thread other([&] { store.generation(); });
    store.load_snapshot();
    other.join();

    dbctl("stop");
    std::string message;
    Kind got = outcome([&] { store.generation(); }, message);
    BOOST_TEST((got == Kind::transient), "server stopped: got " << name(got) << ": " << message);
    BOOST_TEST(contains(message, "MariaDB at unix:"), message);
    BOOST_TEST(!cache.refresh());
    BOOST_TEST(cache.current() != nullptr, "the last good rules must keep serving within max_stale");
    Event e;
    e.at = SystemClock::now();
    e.queue_id = "DURING-OUTAGE";
    writer.submit(e);
    got = outcome([&] { writer.flush(); }, message);
    BOOST_TEST((got == Kind::transient), "writing events while stopped: got " << name(got));

    dbctl("start");
    BOOST_CHECK_NO_THROW(store.generation());
    BOOST_CHECK_NO_THROW(store.generation());  // the second idle connection was replaced too
    BOOST_TEST(cache.refresh());
    BOOST_CHECK_NO_THROW(writer.flush());
    BOOST_TEST(scalar(sql, "SELECT COUNT(*) FROM relay_events WHERE queue_id = 'DURING-OUTAGE'").value_or("") == "1");
}

BOOST_AUTO_TEST_CASE(a_dead_pooled_connection_is_replaced_without_an_error) {
    // The server closes an idle connection (as after wait_timeout or a restart between two polls): the next
    // operation notices and retries once on a new connection, the caller sees nothing.
    MysqlStore store(config());
    MysqlPool killer(config());
    std::string connection_id;
    store.pool().run("reading the connection id", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT CONNECTION_ID()");
        rs->next();
        connection_id = rs->getString(1);
    });
    exec(killer, "KILL CONNECTION ?", {std::int64_t(std::stoll(connection_id))});  // same user: allowed
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    BOOST_CHECK_NO_THROW(store.generation());
}

BOOST_AUTO_TEST_SUITE_END()
