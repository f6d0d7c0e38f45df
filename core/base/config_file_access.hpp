// Who may change the configuration file. It holds the database password, can set notify_command (a
// program the daemon runs) and relay-policyd re-reads it on SIGHUP: whoever can write it, or replace it
// through a directory above it, controls the daemon. So, as OpenSSH's StrictModes does, the file and
// every directory above it must be owned by root or by the user running the program, and writable by
// nobody else (no group or world write bit). A directory writable by others is accepted only with the
// sticky bit (/tmp): there others cannot rename or remove what they do not own. A symbolic link is
// followed, and the directories above the link and above its target are both checked.
//
// "The user running the program" is the effective uid: root at start (so a file owned by the daemon's
// own user is refused: a compromised daemon must not rewrite its configuration), the daemon's user at a
// SIGHUP reload (a root-owned file is always fine), and whoever runs a test or relayctl.
#pragma once

#include <string>
#include <sys/stat.h>
#include <sys/types.h>

namespace relay {

// The problem with one file or directory, from its stat(2) result, naming `path` and the command that
// fixes it; "" when only root or `runner` can change it. `what` says what it is, for the message
// ("the configuration file", "the directory of the configuration file X").
std::string unsafe_ownership(const std::string& path, const struct stat& st, uid_t runner, const std::string& what);

// Checks the opened configuration file (fd) and the directories above `path` (and above its target when
// it is a symbolic link). Throws ConfigError naming the file and the fix.
void check_config_file_access(const std::string& path, int fd, uid_t runner);

// true when everybody may read the file (mode o+r): the caller warns when it holds a password.
bool world_readable(int fd);

}  // namespace relay
