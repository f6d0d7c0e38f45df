#include "core/store/connect_hint.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace relay {

namespace {

constexpr int kUnknownHost = 2005;

// The trailing "(N)" of the client library's message; 0 when there is none.
int system_error(const std::string& message) {
    const auto close = message.find_last_not_of(' ');
    if (close == std::string::npos || message[close] != ')') return 0;
    const auto open = message.rfind('(', close);
    if (open == std::string::npos || close == open + 1) return 0;
    const std::string digits = message.substr(open + 1, close - open - 1);
    if (digits.find_first_not_of("-0123456789") != std::string::npos) return 0;
    return std::atoi(digits.c_str());
}

}  // namespace

std::string connect_hint(int error_code, const std::string& message) {
    if (error_code == kUnknownHost) return "unknown host: check [database] host";
    switch (system_error(message)) {
        case EACCES:
        case EPERM:
            return "permission denied for uid " + std::to_string(::geteuid()) +
                   ", the user the daemon runs as: it needs search (x) permission on every directory above "
                   "[database] socket and write permission on the socket itself";
        case ENOENT:
            return "no such socket: is the server running? check [database] socket";
        case ECONNREFUSED:
            return "connection refused: is the server running? check [database] socket/host/port";
        case ETIMEDOUT:
            return "no answer: check [database] host/port and the network, or raise [database] connect_timeout";
        case EHOSTUNREACH:
        case ENETUNREACH:
            return "host unreachable: check [database] host and the network";
        default:
            return "is the server running? check [database] socket/host/port";
    }
}

}  // namespace relay
