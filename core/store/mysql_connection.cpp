#include "core/store/mysql_connection.hpp"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_driver.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/text.hpp"
#include "core/store/connect_hint.hpp"
#include "core/metrics/metrics.hpp"

namespace relay {

namespace {

// Error numbers we act on (MariaDB's include/mysqld_error.h and errmsg.h).
enum : int {
    kConCountError = 1040,         // too many connections
    kDbAccessDenied = 1044,        // access denied for user to database
    kAccessDenied = 1045,          // access denied for user (wrong password)
    kBadDb = 1049,                 // unknown database
    kUnknownCom = 1047,            // Galera: "WSREP has not yet prepared node for application use"
    kErrorDuringCommit = 1180,     // Galera: a commit while the node left the primary component
    kServerShutdown = 1053,
    kBadField = 1054,              // unknown column
    kDupEntry = 1062,
    kBadNull = 1048,               // column cannot be null
    kTableAccessDenied = 1142,
    kColumnAccessDenied = 1143,
    kNoSuchTable = 1146,
    kNetReadError = 1158,
    kNetReadInterrupted = 1159,
    kNetWriteError = 1160,
    kNetWriteInterrupted = 1161,
    kTooManyUserConnections = 1203,
    kLockWaitTimeout = 1205,
    kLockDeadlock = 1213,
    kRowIsReferenced = 1216,
    kNoReferencedRow = 1217,
    kTruncatedWrongValue = 1292,
    kQueryInterrupted = 1317,
    kNoDefaultForField = 1364,
    kTruncatedWrongValueForField = 1366,
    kDataTooLong = 1406,
    kRowIsReferenced2 = 1451,
    kNoReferencedRow2 = 1452,
    kDupEntryWithKeyName = 1586,
    kWarnDataOutOfRange = 1264,
    kWarnDataTruncated = 1265,
    kConnectionKilled = 1927,
    kStatementTimeout = 1969,
    kConstraintFailed = 4025,      // CHECK constraint
    kClientInteractionTimeout = 4031,
    kConnectionError = 2002,       // local socket
    kConnHostError = 2003,         // TCP
    kUnknownHost = 2005,
    kServerGone = 2006,
    kServerLost = 2013,
    kServerLostExtended = 2055,
};

sql::mysql::MySQL_Driver* driver() {
    // get_mysql_driver_instance() initialises the client library on first use and is not thread-safe.
    static std::once_flag once;
    static sql::mysql::MySQL_Driver* instance = nullptr;
    std::call_once(once, [] { instance = sql::mysql::get_mysql_driver_instance(); });
    return instance;
}

// The client library keeps per-thread state; register each thread that touches it once.
void ensure_thread_registered() {
    struct Registration {
        Registration() { driver()->threadInit(); }
        ~Registration() { driver()->threadEnd(); }
    };
    thread_local Registration registration;
    (void)registration;
}

std::string host_name_option(const DatabaseServer& server) {
    if (!server.socket.empty()) return "unix://" + server.socket;
    std::string host = server.host;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";  // IPv6 literal
    return "tcp://" + host + ":" + std::to_string(server.port);
}

// "Table 'relay_authority.smtp_authorities' doesn't exist" -> relay_authority.smtp_authorities
std::string quoted_name(const std::string& message) {
    auto open = message.find('\'');
    if (open == std::string::npos) return {};
    auto close = message.find('\'', open + 1);
    if (close == std::string::npos) return {};
    return message.substr(open + 1, close - open - 1);
}

metrics::DbErrorKind metrics_kind(SqlErrorClass c) {
    switch (c) {
        case SqlErrorClass::transient: return metrics::DbErrorKind::transient;
        case SqlErrorClass::permanent: return metrics::DbErrorKind::permanent;
        case SqlErrorClass::conflict: return metrics::DbErrorKind::conflict;
    }
    return metrics::DbErrorKind::permanent;
}

bool is_lost_connection(int code) {
    return code == kServerGone || code == kServerLost || code == kServerLostExtended ||
           code == kConnectionKilled || code == kClientInteractionTimeout || code == kServerShutdown;
}

}  // namespace

SqlErrorClass classify_sql_error(int code) {
    switch (code) {
        case kConnectionError:
        case kConnHostError:
        case kUnknownHost:  // a DNS failure may pass
        case kServerGone:
        case kServerLost:
        case kServerLostExtended:
        case kServerShutdown:
        case kConCountError:
        case kTooManyUserConnections:
        case kLockWaitTimeout:
        case kLockDeadlock:
        case kNetReadError:
        case kNetReadInterrupted:
        case kNetWriteError:
        case kNetWriteInterrupted:
        case kQueryInterrupted:
        case kConnectionKilled:
        case kStatementTimeout:
        case kClientInteractionTimeout:
        case kUnknownCom:          // a Galera node joining or cut off: another node, or later, will do
        case kErrorDuringCommit:
            return SqlErrorClass::transient;
        case kDupEntry:
        case kDupEntryWithKeyName:
        case kRowIsReferenced:
        case kNoReferencedRow:
        case kRowIsReferenced2:
        case kNoReferencedRow2:
        case kConstraintFailed:
        case kBadNull:
        case kNoDefaultForField:
        case kDataTooLong:
        case kWarnDataOutOfRange:
        case kWarnDataTruncated:
        case kTruncatedWrongValue:
        case kTruncatedWrongValueForField:
            return SqlErrorClass::conflict;
        default:
            // Access denied, unknown database/table/column, syntax: retrying will not help.
            return SqlErrorClass::permanent;
    }
}

bool sql_error_breaks_connection(int code) {
    // A constraint refusal or a deadlock leaves the session usable (the transaction helper rolled back);
    // anything else may have left it in an unknown state, and reconnecting is cheap.
    if (classify_sql_error(code) == SqlErrorClass::conflict) return false;
    return code != kLockDeadlock && code != kLockWaitTimeout;
}

std::optional<ServerState> server_failure_of(int code) {
    switch (code) {
        case kConnectionError:
        case kConnHostError:
        case kUnknownHost:
        case kServerGone:
        case kServerLost:
        case kServerLostExtended:
        case kServerShutdown:
        case kConCountError:
        case kTooManyUserConnections:
            return ServerState::down;
        case kUnknownCom:
            return ServerState::not_synced;
        case kAccessDenied:
        case kDbAccessDenied:
        case kBadDb:
            return ServerState::refused;
        default:
            return std::nullopt;
    }
}

std::string describe_endpoint(const DatabaseConfig& config) {
    std::string out;
    for (const DatabaseServer& server : database_servers(config)) out += (out.empty() ? "" : ", ") + server.name();
    return out;
}

namespace {

[[noreturn]] void throw_translated_at(const sql::SQLException& error, const DatabaseConfig& config,
                                      const std::string& where, std::string_view context) {
    const int code = error.getErrorCode();
    metrics::on_database_error(metrics_kind(classify_sql_error(code)));
    // The server's text never contains the password (only "using password: YES"); still printable-only.
    const std::string detail = printable(error.what(), 300);
    const std::string ctx(context);
    switch (code) {
        case kConnectionError:
        case kConnHostError:
        case kUnknownHost:
            throw StoreTransientError("cannot connect to MariaDB at " + where + ": " + detail + " (" +
                                      connect_hint(code, error.what()) + ")");
        case kAccessDenied:
            throw StorePermanentError("access denied for user '" + printable(config.user, 80) + "' at " + where +
                                      " (check [database] user/password): " + detail);
        case kDbAccessDenied:
            throw StorePermanentError("access denied for user '" + printable(config.user, 80) +
                                      "' to database '" + printable(config.name, 80) + "' at " + where +
                                      ": check [database] name (the database must exist, created with "
                                      "sql/migrations) and grant the user the privileges `relayctl db grants` prints, "
                                      "docs/sql.md \"Database accounts and grants\" (" +
                                      detail + ")");
        case kTableAccessDenied:
        case kColumnAccessDenied:
            throw StorePermanentError("user '" + printable(config.user, 80) + "' lacks a privilege while " +
                                      ctx + " (grant the privileges `relayctl db grants` prints, docs/sql.md "
                                      "\"Database accounts and grants\"): " + detail);
        case kBadDb:
            throw StorePermanentError("unknown database '" + printable(config.name, 80) + "' at " + where +
                                      " (check [database] name, or create it and apply sql/migrations)");
        case kNoSuchTable: {
            std::string table = printable(quoted_name(error.what()), 120);
            throw StorePermanentError("table " + (table.empty() ? std::string("?") : table) +
                                      " missing: apply sql/migrations (while " + ctx + ")");
        }
        case kBadField:
            throw StorePermanentError("the schema of database '" + printable(config.name, 80) +
                                      "' is older than this build (" + detail + ", while " + ctx +
                                      "): apply sql/migrations");
        default:
            break;
    }
    const std::string base = ctx + ": " + detail + " (MariaDB error " + std::to_string(code) + ")";
    switch (classify_sql_error(code)) {
        case SqlErrorClass::transient:
            if (is_lost_connection(code)) {
                throw StoreTransientError("lost the connection to MariaDB at " + where + " while " + base);
            }
            throw StoreTransientError("temporary database failure at " + where + " while " + base);
        case SqlErrorClass::conflict:
            throw StoreConflictError(base);
        case SqlErrorClass::permanent:
            break;
    }
    throw StorePermanentError("database error at " + where + " while " + base);
}

}  // namespace

[[noreturn]] void throw_translated(const sql::SQLException& error, const DatabaseConfig& config,
                                   std::string_view context) {
    throw_translated_at(error, config, describe_endpoint(config), context);
}

[[noreturn]] void throw_translated(const sql::SQLException& error, const DatabaseConfig& config,
                                   const DatabaseServer& server, std::string_view context) {
    throw_translated_at(error, config, server.name(), context);
}

// ---- MysqlConnection

MysqlConnection::MysqlConnection(const DatabaseConfig& config)
    : MysqlConnection(config, database_servers(config).front()) {}

MysqlConnection::MysqlConnection(const DatabaseConfig& config, const DatabaseServer& server, std::size_t index,
                                 std::optional<ServerState>* failure)
    : server_index_(index), server_name_(server.name()) {
    ensure_thread_registered();
    sql::ConnectOptionsMap options;
    options["hostName"] = sql::SQLString(host_name_option(server));
    options["userName"] = sql::SQLString(config.user);
    options["password"] = sql::SQLString(config.password);
    options["schema"] = sql::SQLString(config.name);
    options["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    options["OPT_RECONNECT"] = false;  // we reconnect ourselves (see the header)
    // 0 in the config means "the library's default"; the driver wants int.
    if (config.connect_timeout > 0) options["OPT_CONNECT_TIMEOUT"] = static_cast<int>(config.connect_timeout);
    if (config.read_timeout > 0) options["OPT_READ_TIMEOUT"] = static_cast<int>(config.read_timeout);
    if (config.write_timeout > 0) options["OPT_WRITE_TIMEOUT"] = static_cast<int>(config.write_timeout);
    try {
        connection_.reset(driver()->connect(options));
        connection_->setAutoCommit(true);
        connection_->setTransactionIsolation(sql::TRANSACTION_REPEATABLE_READ);
    } catch (const sql::SQLException& e) {
        connection_.reset();
        if (failure) *failure = server_failure_of(e.getErrorCode());
        throw_translated(e, config, server, "connecting");
    }
}

MysqlConnection::~MysqlConnection() {
    if (!connection_) return;
    try {
        // The statements first: closing one needs its connection.
        cache_index_.clear();
        cache_.clear();
        connection_->close();
    } catch (const sql::SQLException&) {
        // closing a connection whose server is gone: nothing to do
    }
}

std::unique_ptr<sql::PreparedStatement> MysqlConnection::prepare(const std::string& statement) {
    return std::unique_ptr<sql::PreparedStatement>(connection_->prepareStatement(statement));
}

sql::PreparedStatement& MysqlConnection::cached(const std::string& statement) {
    auto found = cache_index_.find(statement);
    if (found != cache_index_.end()) {
        cache_.splice(cache_.begin(), cache_, found->second);
        return *found->second->second;
    }
    auto prepared = prepare(statement);  // throws before the cache changes
    if (cache_.size() >= kMaxCachedStatements) {
        cache_index_.erase(cache_.back().first);
        cache_.pop_back();
    }
    cache_.emplace_front(statement, std::move(prepared));
    cache_index_.emplace(statement, cache_.begin());
    return *cache_.front().second;
}

std::unique_ptr<sql::ResultSet> MysqlConnection::query(const std::string& statement) {
    auto prepared = prepare(statement);
    return std::unique_ptr<sql::ResultSet>(prepared->executeQuery());
}

void MysqlConnection::execute(const std::string& statement) {
    cached(statement).execute();
}

void MysqlConnection::transaction(const std::function<void()>& fn, bool consistent_read) {
    execute(consistent_read ? "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY" : "START TRANSACTION");
    try {
        fn();
        execute("COMMIT");
    } catch (...) {
        try {
            execute("ROLLBACK");
        } catch (const sql::SQLException&) {
            mark_broken();  // the session is in an unknown state: never reuse it
        }
        throw;
    }
}

// ---- MysqlPool

MysqlPool::Lease::Lease(MysqlPool& pool, std::unique_ptr<MysqlConnection> connection)
    : pool_(&pool), connection_(std::move(connection)) {}

MysqlPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), fresh_(other.fresh_) {
    other.pool_ = nullptr;
}

MysqlPool::Lease::~Lease() {
    if (pool_) pool_->give_back(std::move(connection_));
}

MysqlPool::MysqlPool(DatabaseConfig config)
    : config_(std::move(config)), servers_(DatabaseServers::shared(config_)) {
    if (config_.pool_size == 0) config_.pool_size = 1;
}

MysqlPool::~MysqlPool() = default;

// A new connection to the server in use; when that server turns out unusable, the next one (each
// server at most once).
std::unique_ptr<MysqlConnection> MysqlPool::connect(Deadline deadline) {
    for (std::size_t attempt = 0;; ++attempt) {
        const std::size_t index = servers_->current();  // throws when none is usable
        std::optional<ServerState> failure;
        try {
            return std::make_unique<MysqlConnection>(config_, servers_->server(index), index, &failure);
        } catch (const std::exception& e) {
            if (!failure) throw;
            servers_->report_failure(index, *failure, e.what());
            if (servers_->size() == 1 || attempt + 1 >= servers_->size() ||
                std::chrono::steady_clock::now() >= deadline)
                throw;
        }
    }
}

MysqlPool::Lease MysqlPool::lease(Deadline deadline) {
    std::unique_ptr<MysqlConnection> reused;
    std::vector<std::unique_ptr<MysqlConnection>> elsewhere;  // idle connections to a server no longer in use
    const std::size_t index = servers_->current();  // throws when none is usable
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto wait = std::chrono::seconds(config_.connect_timeout > 0 ? config_.connect_timeout : 5);
        const Deadline until = std::min(deadline, std::chrono::steady_clock::now() + wait);
        if (!available_.wait_until(lock, until, [this] { return in_use_ < config_.pool_size; })) {
            throw StoreTransientError("all " + std::to_string(config_.pool_size) +
                                      " database connections are busy" +
                                      (until == deadline ? std::string(" until the operation's deadline")
                                                         : std::string(" (raise [database] pool_size?)")));
        }
        ++in_use_;
        while (!idle_.empty() && !reused) {
            std::unique_ptr<MysqlConnection> candidate = std::move(idle_.back());
            idle_.pop_back();
            if (candidate->server_index() == index) reused = std::move(candidate);
            else elsewhere.push_back(std::move(candidate));
        }
    }
    elsewhere.clear();  // closed outside the lock
    if (reused) return Lease(*this, std::move(reused));
    try {
        Lease lease(*this, connect(deadline));
        lease.set_fresh(true);
        if (lost_.exchange(false)) metrics::on_database_reconnect();
        return lease;
    } catch (...) {
        give_back(nullptr);  // free the slot
        throw;
    }
}

void MysqlPool::give_back(std::unique_ptr<MysqlConnection> connection) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --in_use_;
        if (!connection || connection->broken()) lost_ = true;  // a failed connect, or a connection thrown away
        if (connection && !connection->broken()) idle_.push_back(std::move(connection));
    }
    available_.notify_one();
}

void MysqlPool::clear_idle() {
    std::vector<std::unique_ptr<MysqlConnection>> doomed;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        doomed.swap(idle_);
    }
    // closed outside the lock: closing a dead connection may wait on the network
}

bool MysqlPool::report_failure(const MysqlConnection& connection, int error_code, const std::string& cause) {
    if (is_lost_connection(error_code)) {
        servers_->check_soon(connection.server_index());  // gone, or only slow: the check tells
        return true;
    }
    const std::optional<ServerState> failure = server_failure_of(error_code);
    if (!failure) return false;
    servers_->report_failure(connection.server_index(), *failure, cause);
    return true;
}

void MysqlPool::run(std::string_view context, const std::function<void(MysqlConnection&)>& fn,
                    bool retry_on_lost, Deadline deadline) {
    const std::size_t servers = servers_->size();
    for (std::size_t attempt = 0;; ++attempt) {
        Lease lease = this->lease(deadline);
        try {
            fn(*lease);
            return;
        } catch (const sql::SQLException& e) {
            const int code = e.getErrorCode();
            const DatabaseServer& server = servers_->server(lease.server_index());
            if (sql_error_breaks_connection(code)) lease->mark_broken();
            const bool in_time = retry_on_lost && std::chrono::steady_clock::now() < deadline;
            if (is_lost_connection(code)) {
                // Probably a server restart or a killed server: it cut every idle connection too. The
                // reconnect of the retry finds out which (a refused connection moves to the next server).
                clear_idle();
                servers_->check_soon(lease.server_index());
                if (in_time && attempt == 0 && !lease.fresh()) {
                    log_debug("database connection was lost (" + printable(e.what(), 200) + "), reconnecting");
                    continue;
                }
            } else if (servers > 1 && server_failure_of(code)) {
                // Several servers: this one is unusable (a Galera node not ready); the next lease goes to
                // the next healthy one.
                try {
                    throw_translated(e, config_, server, context);
                } catch (const std::exception& translated) {
                    report_failure(*lease, code, translated.what());
                    if (!in_time || attempt + 1 >= servers) throw;
                    log_debug(std::string("retrying on the next database server: ") + translated.what());
                    continue;
                }
            }
            throw_translated(e, config_, server, context);
        }
    }
}

}  // namespace relay
