// The database servers of one [database] section and the one this process uses now.
//
// With one server (one host entry, or a socket) this is trivial: it is always used, as before. With
// several host entries (a Galera cluster), every MysqlPool of the process with the same [database]
// settings shares one DatabaseServers (shared()), so rules, rate-limit counters, the audit trail and the
// heartbeat all go to the same server. It:
//   - hands out the server to use (current(): one mutex, no I/O: nothing on the request path waits for a
//     health check);
//   - checks every server from a background thread of its own, every [database] health_interval_ms, on a
//     connection of its own: healthy = answers and, when the server has wsrep status variables (Galera),
//     wsrep_ready = ON and wsrep_local_state = 4 (Synced); a plain MariaDB/MySQL is healthy when it answers;
//   - takes failures found by operations (report_failure()): the next operation already uses the next
//     healthy server, without waiting for the next check;
//   - follows ServerSelection's rule (core/server_selection.hpp) and logs every change of the server in
//     use and of a server's state, with its cause (wrong credentials are logged as such, not as "down").
// When no server is usable, current() throws StoreTransientError naming each server's problem: callers
// fail closed exactly as with one unreachable server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.hpp"
#include "core/store/server_selection.hpp"

namespace relay {

// One server: TCP host and port, or a unix socket.
struct DatabaseServer {
    std::string host;
    unsigned port = 0;
    std::string socket;  // set: the unix socket ([database] socket)

    // As logs, the nodes table and metrics show it: "tcp:10.0.0.5:3306", "tcp:[2001:db8::5]:3306",
    // "unix:/run/mysqld/mysqld.sock".
    std::string name() const;
};

// The configured servers in order of preference: the socket alone when it is set, else one per host
// entry (the entry's port, or [database] port). The entries were checked when the file was read.
std::vector<DatabaseServer> database_servers(const DatabaseConfig& config);

class DatabaseServers {
public:
    using Clock = std::chrono::steady_clock;

    // The instance every pool of this process with the same servers, user and database shares (created on
    // first use, its checks end when the last pool lets go).
    static std::shared_ptr<DatabaseServers> shared(const DatabaseConfig& config);

    explicit DatabaseServers(const DatabaseConfig& config);
    ~DatabaseServers();  // ends the checks
    DatabaseServers(const DatabaseServers&) = delete;
    DatabaseServers& operator=(const DatabaseServers&) = delete;

    std::size_t size() const { return servers_.size(); }
    const DatabaseServer& server(std::size_t index) const { return servers_.at(index); }

    // The index of the server to use now. Throws StoreTransientError ("no database server is usable:
    // tcp:a:3306 down (...); tcp:b:3306 not Synced (...)") when there is none.
    std::size_t current();
    // The name of the server in use, or "" when none is usable (heartbeat, relayctl status).
    std::string current_name();

    // An operation on server `index` failed in a way that says the server is not usable (lost connection,
    // cannot connect, not ready, access denied); `cause` is our translated message. The server counts as
    // `state` until a check finds it healthy again. No effect with one server.
    void report_failure(std::size_t index, ServerState state, const std::string& cause);
    // An operation lost its connection to server `index` in the middle of a query: the server may be gone
    // (killed) or only slow (a query that ran into read_timeout while a Galera cluster evicts a dead node
    // stalls every node alike). Checks it now instead of at the next interval; a killed server then
    // refuses the check's connection and counts as down at once. No effect with one server.
    void check_soon(std::size_t index);

    // Checks server `index` now, on the caller's thread (a connection of its own per call). Tests and the
    // first choice at start use it; the background checks do the same.
    struct Check {
        ServerState state = ServerState::unknown;
        std::string cause;  // why it is not healthy; "" when it is
    };
    Check check(std::size_t index) const;

private:
    void record(std::size_t index, const Check& found);  // under no lock; takes mutex_
    void monitor(std::size_t index);                    // one thread per server
    std::string problems_locked() const;

    DatabaseConfig config_;
    std::vector<DatabaseServer> servers_;
    std::mutex mutex_;
    ServerSelection selection_;
    std::vector<std::string> causes_;  // per server: the last problem found ("" when healthy)
    std::vector<bool> check_now_;      // per server: check_soon() was called
    std::condition_variable wake_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace relay
