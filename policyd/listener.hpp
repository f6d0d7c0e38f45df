// [policyd] listen: "inet:HOST:PORT" (IPv6 in brackets: inet:[::1]:10040; every address: 0.0.0.0 or [::])
// or "unix:/absolute/path". Sockets are bound here with the plain socket API, before privileges are dropped
// and before any thread exists; the server then adopts the descriptors.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "core/base/socket_file.hpp"

namespace relay::policyd {

struct ListenSpec {
    enum class Kind { inet, unix_path };
    Kind kind = Kind::inet;
    std::string host;  // inet: numeric address (IPv6 without brackets) or host name
    std::string port;  // inet: 1..65535
    std::string path;  // unix
    std::string text;  // as written in the config, for messages
};

// nullopt and a sentence in *error when the text is not a valid listen address.
std::optional<ListenSpec> parse_listen_spec(std::string_view text, std::string* error = nullptr);

// Owner, group and mode of unix sockets, resolved to numbers. uid/gid -1: leave as created.
struct UnixSocketAccess {
    uid_t owner = static_cast<uid_t>(-1);
    gid_t group = static_cast<gid_t>(-1);
    unsigned mode = 0660;
};

// Parses "0660"-style octal modes (at most 0777). nullopt when invalid.
std::optional<unsigned> parse_socket_mode(std::string_view text);

struct BoundSocket {
    int fd = -1;
    int family = 0;           // AF_INET, AF_INET6, AF_UNIX
    std::string description;  // "127.0.0.1:10040", "[::1]:10040", "unix:/run/relay-policyd/policy.sock"
    std::string unix_path;    // set for unix sockets, so shutdown can remove them
    SocketFileId file;        // the socket file we created (never remove someone else's)
};

// Binds and listens. inet names can yield several addresses (localhost: 127.0.0.1 and ::1): all are
// bound. A unix path that exists is removed only if it is a socket nobody answers on (stale, left by a
// crash or by a stop without the right to remove it); a live socket or any other kind of file is an
// error. A unix socket gets access.owner/group/mode in a private directory before it appears at its
// path (core/base/socket_file.hpp): nothing is ever changed through a path someone else could swap. Throws std::runtime_error naming the
// address and the system error.
std::vector<BoundSocket> bind_listener(const ListenSpec& spec, const UnixSocketAccess& access, int backlog = 511);

// Closes the descriptor and removes the unix socket file if it is still the one we created.
void release_listener(BoundSocket& socket);

}  // namespace relay::policyd
