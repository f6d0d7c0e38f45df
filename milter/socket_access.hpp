// The milter's unix socket is created by libmilter, not by us, so its owner and mode are set after the
// fact, before privileges are dropped (core/process.hpp).
#pragma once

#include <string>

namespace relay {
struct MilterConfig;
}

namespace relay::milter {

// A unix: listen socket is created by libmilter with the process umask; give it to [milter] user/group,
// mode 0660, so the MTA (a member of that group) can connect. Does nothing for inet sockets or when not
// root. Throws std::runtime_error.
void hand_over_socket(const std::string& listen, const MilterConfig& config);

}  // namespace relay::milter
