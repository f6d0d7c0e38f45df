// policy-bench: sockets. Endpoints in Postfix's notation (inet:HOST:PORT, unix:/PATH), non-blocking
// connect and listen, and the file descriptor limit.
#pragma once

#include <sys/socket.h>

#include <string>

namespace relay::bench {

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    bool is_unix = false;
    std::string text;  // as given, for reports
    std::string path;  // unix sockets
};

// inet:HOST:PORT, inet:[IPV6]:PORT, unix:/PATH, or HOST:PORT. HOST may be a name (resolved once, here).
// Throws std::runtime_error naming the problem.
Endpoint parse_endpoint(const std::string& text);

// A non-blocking socket connecting to ep: returns the fd (the connect may still be in progress; wait for
// writability and check connect_result) or -1 with errno set.
int start_connect(const Endpoint& ep);

// After writability of a connecting socket: 0 when connected, else the error number.
int connect_result(int fd);

// A non-blocking listening socket (a unix socket path is replaced). Throws std::runtime_error.
int listen_on(const Endpoint& ep, int backlog);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
long raise_fd_limit();

// Writes all of buf on a non-blocking fd as far as possible: returns bytes written (may be short on
// EAGAIN), or -1 on an error (errno set).
long write_some(int fd, const char* buf, std::size_t len);

}  // namespace relay::bench
