// Our own exception types. Driver errors (sql::SQLException) never leave the store: they are translated
// at its boundary into one of these, with context, so callers decide by type and not by error number.
#pragma once

#include <stdexcept>
#include <string>

namespace relay {

// The database may come back: lost connection, timeout, server restarting, deadlock.
// Policy answers rules_unavailable or rate_limits_unavailable (a temporary failure) and the cache keeps its last good snapshot.
class StoreTransientError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A write lost to conflicting writers (deadlock, lock wait timeout, a Galera certification conflict) for
// its whole retry time, although the database answered: a temporary failure of that one operation, not an
// outage (no "database unavailable" state is entered for it).
class StoreContentionError : public StoreTransientError {
public:
    using StoreTransientError::StoreTransientError;
};

// Retrying will not help: wrong credentials, unknown database, schema missing or too old, broken data.
// A daemon refuses to start with this message; at run time it is logged and treated as unavailable.
class StorePermanentError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A constraint said no (duplicate authority for a user, unknown foreign key, CHECK failed): the admin's
// input was wrong. relayctl prints it and exits non-zero.
class StoreConflictError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Invalid configuration: the message names the file, the key and what is wrong.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace relay
