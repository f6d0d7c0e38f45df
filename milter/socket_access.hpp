// The milter's unix socket is created by libmilter, not by us. So that root never changes owner or mode
// through a path someone else can swap (core/base/socket_file.hpp), libmilter is told to bind inside a private
// directory next to [milter] listen; hand_over_socket() then gives the socket its owner and mode there
// and moves it into place, all before privileges are dropped (core/base/process.hpp).
#pragma once

#include <memory>
#include <string>

#include "core/base/socket_file.hpp"

namespace relay {
struct MilterConfig;
}

namespace relay::milter {

struct MilterSocket {
    std::string libmilter_listen;          // what libmilter binds (smfi_setconn)
    std::unique_ptr<StagedSocket> staged;  // unix sockets only; kept until exit (see StagedSocket)
    std::string path;                      // unix sockets: [milter] listen's path
    SocketFileId file;                     // the socket file in place, once handed over
};

// Before libmilter binds. inet sockets: listen as given. unix sockets: removes a stale socket at the path
// (a live one, or any other file, is an error) and prepares the private directory. Throws
// std::runtime_error.
MilterSocket prepare_socket(const std::string& listen);

// After libmilter bound: the unix socket gets [milter] user/group (when running as root) and mode 0660,
// so the MTA (a member of that group) can connect, and moves to its path. Nothing to do for inet
// sockets. Throws std::runtime_error.
void hand_over_socket(MilterSocket& socket, const MilterConfig& config);

// At stop: removes the unix socket file if it is still ours and we may (see relay-milter(8)).
void release_socket(MilterSocket& socket);

}  // namespace relay::milter
