// Dropping root after the socket is bound, in one function and in the order that cannot be undone by
// mistake (as Postfix's chroot_uid does): look everything up first, then supplementary groups, group,
// user, and verify that root cannot be regained.
#pragma once

#include <string>

namespace relay {
struct MilterConfig;
}

namespace relay::milter {

// Becomes [milter] user/group. Refuses (std::runtime_error) to keep running as root unless allow_root,
// and refuses unknown names. Not started as root: nothing to drop, the identity stays. Returns a sentence
// for the start-up log.
std::string drop_privileges(const MilterConfig& config);

// A unix: listen socket is created by libmilter with the process umask; give it to [milter] user/group,
// mode 0660, so the MTA (a member of that group) can connect. Does nothing for inet sockets or when not
// root. Throws std::runtime_error.
void hand_over_socket(const std::string& listen, const MilterConfig& config);

}  // namespace relay::milter
