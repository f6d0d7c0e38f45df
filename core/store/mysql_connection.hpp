// A thin layer over MySQL Connector/C++ 1.1: one connection (RAII), a small pool of them, and the one
// place where driver errors (sql::SQLException) become our own exception types (core/base/errors.hpp).
//
// Connector/C++ 1.1 connections must not be shared between threads, so every database operation leases
// one connection from the pool for its duration. A connection that failed in a way that may have left it
// unusable (lost connection, server restart, timeout) is thrown away, and the next lease connects anew:
// that is our reconnect (the driver's own OPT_RECONNECT is off, because a silent reconnect in the middle
// of a transaction would lose its state without telling us).
//
// Several servers ([database] host given more than once, a Galera cluster): every pool of the process
// asks the shared DatabaseServers (core/database_servers.hpp) which server to use, per lease. An idle
// connection to another server is dropped, a failure that says the server is unusable (lost or refused
// connection, not ready, access denied) is reported there so that the next lease already goes to the next
// healthy server, and run() repeats an operation that is safe to repeat on that server. Code that runs
// its own retries (rate-limit charges) sees the server of each attempt through Lease::server_index() and
// reports with MysqlPool::report_failure() / the errors run() throws.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// Complete types: callers hold the unique_ptrs prepare()/query() return.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "core/config/config.hpp"
#include "core/store/database_servers.hpp"

namespace sql {
class Connection;
class SQLException;
}  // namespace sql

namespace relay {

// How a driver error is handled by callers (see translate()).
enum class SqlErrorClass {
    transient,  // StoreTransientError: the database may come back
    permanent,  // StorePermanentError: fix the set-up or the schema
    conflict,   // StoreConflictError: a constraint refused the admin's input
};

// Classifies a server (1xxx, 4xxx) or client library (2xxx) error number.
SqlErrorClass classify_sql_error(int error_code);

// Whether the connection that produced this error must be discarded rather than reused.
bool sql_error_breaks_connection(int error_code);

// Whether this error says the server itself is unusable (and how), rather than the statement or the
// transaction: can't connect, lost connection, shutting down, Galera node not ready (1047), access
// denied. nullopt: not the server's fault (deadlock, constraint, syntax...).
std::optional<ServerState> server_failure_of(int error_code);

// Where we connect, in the words of the config: "unix:/run/mysqld/mysqld.sock", "tcp:127.0.0.1:3306", or
// with several host entries the list "tcp:db1:3306, tcp:db2:3306".
std::string describe_endpoint(const DatabaseConfig& config);

// Turns a driver error into our exception with a message an admin can act on ("cannot connect to MariaDB
// at unix:/run/mysqld/mysqld.sock: ...", "access denied for user 'relay' (check [database] user/password)").
// context says what we were doing ("reading the change generation"). Never includes the password.
[[noreturn]] void throw_translated(const sql::SQLException& error, const DatabaseConfig& config,
                                   std::string_view context);
// The same for an error of one server (its name in the message instead of the configured list).
[[noreturn]] void throw_translated(const sql::SQLException& error, const DatabaseConfig& config,
                                   const DatabaseServer& server, std::string_view context);

// One open connection. Construction connects (throwing our exception types on failure).
class MysqlConnection {
public:
    // The first configured server (tests, tools).
    explicit MysqlConnection(const DatabaseConfig& config);
    // Server `index` of database_servers(config). When connecting fails and the error says the server is
    // unusable, *failure (if given) is set to how, before our translated exception is thrown.
    MysqlConnection(const DatabaseConfig& config, const DatabaseServer& server, std::size_t index = 0,
                    std::optional<ServerState>* failure = nullptr);
    ~MysqlConnection();
    MysqlConnection(const MysqlConnection&) = delete;
    MysqlConnection& operator=(const MysqlConnection&) = delete;

    // Prepared statements only: every value goes in through a '?' placeholder.
    std::unique_ptr<sql::PreparedStatement> prepare(const std::string& statement);
    // The same statement prepared once on this connection and kept (keyed by its SQL text, the least
    // recently used dropped beyond kMaxCachedStatements): the hot paths (charges, audit rows) then cost one
    // round trip (execute) instead of three (prepare, execute, close). The statement belongs to the
    // connection: use it only while holding the lease, set every parameter before each execution, and
    // let any result set go before executing it again. A reconnect is a new MysqlConnection, so the cache
    // never outlives its session.
    sql::PreparedStatement& cached(const std::string& statement);
    static constexpr std::size_t kMaxCachedStatements = 64;
    // Prepares, runs a statement without parameters, and returns its result set.
    std::unique_ptr<sql::ResultSet> query(const std::string& statement);
    // Runs a statement without parameters that returns no rows (cached: START TRANSACTION, COMMIT, ...).
    void execute(const std::string& statement);

    // Runs fn inside START TRANSACTION ... COMMIT; rolls back (best effort) if fn throws, then rethrows.
    // consistent_read: START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY (every SELECT inside sees the
    // same committed state, under REPEATABLE READ which every connection is set to).
    void transaction(const std::function<void()>& fn, bool consistent_read = false);

    sql::Connection& raw() { return *connection_; }
    bool broken() const { return broken_; }
    void mark_broken() { broken_ = true; }
    // The server this connection goes to: its index in database_servers() and its name ("tcp:db1:3306").
    std::size_t server_index() const { return server_index_; }
    const std::string& server_name() const { return server_name_; }

private:
    using CacheList = std::list<std::pair<std::string, std::unique_ptr<sql::PreparedStatement>>>;

    std::size_t server_index_ = 0;
    std::string server_name_;
    std::unique_ptr<sql::Connection> connection_;
    bool broken_ = false;
    CacheList cache_;  // most recently used first
    std::unordered_map<std::string, CacheList::iterator> cache_index_;
};

// A bounded pool of connections for one DatabaseConfig. Thread-safe. Reusable by any store class (the
// rules store, the rate-limit counters, relayctl).
class MysqlPool {
public:
    explicit MysqlPool(DatabaseConfig config);
    ~MysqlPool();
    MysqlPool(const MysqlPool&) = delete;
    MysqlPool& operator=(const MysqlPool&) = delete;

    // A connection for the duration of one operation; returned to the pool when the Lease is destroyed,
    // or discarded if it was marked broken.
    class Lease {
    public:
        Lease(MysqlPool& pool, std::unique_ptr<MysqlConnection> connection);
        ~Lease();
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        MysqlConnection& operator*() { return *connection_; }
        MysqlConnection* operator->() { return connection_.get(); }
        bool fresh() const { return fresh_; }  // connected for this lease (not reused)
        void set_fresh(bool fresh) { fresh_ = fresh; }
        std::size_t server_index() const { return connection_->server_index(); }

    private:
        MysqlPool* pool_;
        std::unique_ptr<MysqlConnection> connection_;
        bool fresh_ = false;
    };

    using Deadline = std::chrono::steady_clock::time_point;
    static constexpr Deadline kNoDeadline = Deadline::max();

    // Waits up to connect_timeout (and not past deadline) for a free slot (all pool_size connections
    // busy → StoreTransientError), then reuses an idle connection to the server in use or opens a new one.
    // With several servers: when connecting fails because the server is unusable, it is reported and the
    // next healthy server is tried (each at most once, not past deadline); none usable →
    // StoreTransientError naming every server's problem.
    Lease lease(Deadline deadline = kNoDeadline);

    // Leases a connection, runs fn(connection) and translates driver errors (context names the operation
    // in messages). A broken connection is discarded. If retry_on_lost is set and a REUSED connection
    // turns out to be dead (the server restarted since it was last used), fn runs once more on a new
    // connection; with several servers, an error that makes its server unusable is reported and fn runs
    // again on the next healthy server (each server at most once): set it only for operations that are
    // safe to repeat. The retry is skipped once deadline
    // has passed: a caller with a bound (a charge) never waits for a second round of timeouts. Each
    // statement is bounded by [database] read_timeout/write_timeout, which the client library applies
    // once per read or write (MariaDB Connector/C does not repeat a timed-out read).
    void run(std::string_view context, const std::function<void(MysqlConnection&)>& fn,
             bool retry_on_lost = true, Deadline deadline = kNoDeadline);

    const DatabaseConfig& config() const { return config_; }
    // Drops every idle connection (tests; after a fork).
    void clear_idle();

    // The servers this pool chooses from (shared with every pool of the process with the same settings).
    DatabaseServers& servers() { return *servers_; }
    // For callers that run their own retries: an error of a leased connection. When it makes the server
    // unusable, the server is reported (the next lease goes elsewhere) and true is returned.
    bool report_failure(const MysqlConnection& connection, int error_code, const std::string& cause);

private:
    void give_back(std::unique_ptr<MysqlConnection> connection);
    std::unique_ptr<MysqlConnection> connect(Deadline deadline);

    DatabaseConfig config_;
    std::shared_ptr<DatabaseServers> servers_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<MysqlConnection>> idle_;
    unsigned in_use_ = 0;
    std::atomic<bool> lost_{false};  // the next new connection is a reconnect (metrics)
};

}  // namespace relay
