#include "tests/bench/policy-bench/net.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace relay::bench {

namespace {

Endpoint unix_endpoint(const std::string& text, const std::string& path) {
    Endpoint ep;
    ep.text = text;
    ep.is_unix = true;
    ep.path = path;
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.empty() || path[0] != '/') throw std::runtime_error(text + ": a unix socket needs an absolute path");
    if (path.size() >= sizeof(sun.sun_path)) throw std::runtime_error(text + ": unix socket path too long");
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&ep.addr, &sun, sizeof(sun));
    ep.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return ep;
}

Endpoint inet_endpoint(const std::string& text, const std::string& hostport) {
    std::string host;
    std::string port;
    if (!hostport.empty() && hostport[0] == '[') {
        const auto close = hostport.find(']');
        if (close == std::string::npos || close + 1 >= hostport.size() || hostport[close + 1] != ':')
            throw std::runtime_error(text + ": expected inet:[IPV6]:PORT");
        host = hostport.substr(1, close - 1);
        port = hostport.substr(close + 2);
    } else {
        const auto colon = hostport.rfind(':');
        if (colon == std::string::npos) throw std::runtime_error(text + ": expected inet:HOST:PORT");
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
    }
    if (host.empty() || port.empty()) throw std::runtime_error(text + ": expected inet:HOST:PORT");
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) throw std::runtime_error(text + ": " + gai_strerror(rc));
    Endpoint ep;
    ep.text = text;
    std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
    ep.len = res->ai_addrlen;
    freeaddrinfo(res);
    return ep;
}

}  // namespace

Endpoint parse_endpoint(const std::string& text) {
    if (text.rfind("unix:", 0) == 0) return unix_endpoint(text, text.substr(5));
    if (text.rfind("inet:", 0) == 0) return inet_endpoint(text, text.substr(5));
    if (!text.empty() && text[0] == '/') return unix_endpoint(text, text);
    return inet_endpoint(text, text);
}

int start_connect(const Endpoint& ep) {
    const int fd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (!ep.is_unix) {
        // Requests and answers are small and strictly alternate: Nagle would only add delay.
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) < 0 && errno != EINPROGRESS) {
        const int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int connect_result(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

int listen_on(const Endpoint& ep, int backlog) {
    const int fd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(ep.text + ": socket: " + std::strerror(errno));
    const int one = 1;
    if (ep.is_unix) {
        struct stat st {};
        if (lstat(ep.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(ep.path.c_str());
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) < 0 || listen(fd, backlog) < 0) {
        const std::string why = std::strerror(errno);
        close(fd);
        throw std::runtime_error(ep.text + ": " + why);
    }
    return fd;
}

long raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return static_cast<long>(rl.rlim_cur);
}

long write_some(int fd, const char* buf, std::size_t len) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    return static_cast<long>(done);
}

}  // namespace relay::bench
