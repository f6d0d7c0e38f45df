// What an admin should check when connecting to MariaDB failed (client errors 2002 local socket, 2003
// TCP, 2005 unknown host), from the system error number the client library puts at the end of its
// message: "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (13)". A permission
// error says so and names the user the daemon runs as; only "no such socket" and "refused" ask whether
// the server runs.
#pragma once

#include <string>

namespace relay {

std::string connect_hint(int error_code, const std::string& message);

}  // namespace relay
