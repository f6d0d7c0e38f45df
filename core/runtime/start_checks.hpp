// What makes a daemon's start fail, checked by --check-config (and --check-db) before the start, in the
// words the daemon itself uses: the account it drops to, the listeners, the unix socket directories, the
// [database] socket the dropped user must reach, and with --check-db the database itself.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace relay {

// The documented exit codes of --check-config / --check-db (relay-policyd(8), relay-milter(8)).
enum StartCheckExit : int {
    kCheckOk = 0,
    kCheckConfigInvalid = 2,   // a key is wrong (reported by the config loader)
    kCheckAccount = 3,         // the daemon user/group, a socket owner/group or a socket directory
    kCheckListen = 4,          // a listener cannot be bound (address in use, privileged port, no such address)
    kCheckDbUnreachable = 5,   // --check-db: no answer from the database server
    kCheckDbAccess = 6,        // --check-db: credentials, database name or a missing privilege
    kCheckDbSchema = 7,        // --check-db: schema missing, too old or incomplete
};


// Runs every check for the daemon; prints each problem as "relay-X: problem" to err. Returns the exit
// code of the first problem found (kCheckOk when there is none). The database is contacted only when
// check_db is set.
int run_start_checks(const Config& config, DaemonKind kind, bool check_db, std::ostream& err);

// The single checks, each returning the problem with cause and fix, or "" (exposed for the tests).
std::string check_run_account(const std::string& section, const std::string& user, const std::string& group);
std::string check_can_bind(const std::string& listen, DaemonKind kind);
std::string check_db_socket_reachable(const std::string& socket, const std::string& user, const std::string& group);

}  // namespace relay
