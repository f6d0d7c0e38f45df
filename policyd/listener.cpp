#include "policyd/listener.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config_checks.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

namespace relay {

namespace {

std::optional<ListenSpec> fail(std::string* error, std::string message) {
    if (error) *error = std::move(message);
    return std::nullopt;
}

std::string system_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// RAII for a descriptor until it is handed over.
struct Fd {
    int fd = -1;
    ~Fd() { if (fd >= 0) ::close(fd); }
    int release() { int f = fd; fd = -1; return f; }
};

std::string describe(const sockaddr* sa) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

BoundSocket bind_one(const ListenSpec& spec, const addrinfo* ai, int backlog) {
    const std::string where = "listen " + spec.text + " (" + describe(ai->ai_addr) + ")";
    Fd fd{::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw std::runtime_error(system_error(where + ": socket"));
    int on = 1;
    setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // An IPv6 socket serves IPv6 only, so inet:[::]:PORT and inet:0.0.0.0:PORT can both be bound.
    if (ai->ai_family == AF_INET6) setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (::bind(fd.fd, ai->ai_addr, ai->ai_addrlen) != 0) throw std::runtime_error(system_error(where + ": bind"));
    if (::listen(fd.fd, backlog) != 0) throw std::runtime_error(system_error(where + ": listen"));
    BoundSocket s;
    s.family = ai->ai_family;
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    // the address really bound (port 0 in tests means "any free port")
    s.description = ::getsockname(fd.fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0
                        ? describe(reinterpret_cast<const sockaddr*>(&bound))
                        : describe(ai->ai_addr);
    s.fd = fd.release();
    return s;
}

std::vector<BoundSocket> bind_inet(const ListenSpec& spec, int backlog) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(spec.host.c_str(), spec.port.c_str(), &hints, &found); rc != 0)
        throw std::runtime_error("listen " + spec.text + ": cannot resolve " + spec.host + ": " + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
    std::vector<BoundSocket> out;
    try {
        for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
            // /etc/hosts may list one address twice for a name
            const std::string address = describe(ai->ai_addr);
            bool seen = false;
            for (const auto& s : out) seen = seen || s.description == address;
            if (!seen) out.push_back(bind_one(spec, ai, backlog));
        }
    } catch (...) {
        for (auto& s : out) ::close(s.fd);
        throw;
    }
    return out;
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// A socket file left by a crashed daemon refuses connections: remove it. Anything else stays.
void remove_stale_socket(const ListenSpec& spec) {
    struct stat st {};
    if (::lstat(spec.path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw std::runtime_error(system_error("listen " + spec.text + ": lstat"));
    }
    if (!S_ISSOCK(st.st_mode))
        throw std::runtime_error("listen " + spec.text + ": the path exists and is not a socket; not removing it");
    Fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (probe.fd < 0) throw std::runtime_error(system_error("listen " + spec.text + ": socket"));
    const sockaddr_un addr = unix_address(spec.path);
    if (::connect(probe.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
        throw std::runtime_error("listen " + spec.text + ": another process is listening on this socket");
    if (errno != ECONNREFUSED) throw std::runtime_error(system_error("listen " + spec.text + ": probing the existing socket"));
    if (::unlink(spec.path.c_str()) != 0 && errno != ENOENT)
        throw std::runtime_error(system_error("listen " + spec.text + ": removing the stale socket"));
    log_info("removed stale socket " + spec.path);
}

BoundSocket bind_unix(const ListenSpec& spec, const UnixSocketAccess& access, int backlog) {
    remove_stale_socket(spec);
    Fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw std::runtime_error(system_error("listen " + spec.text + ": socket"));
    const sockaddr_un addr = unix_address(spec.path);
    // Created with no permissions for anyone else, opened up by chmod once owner and group are right:
    // no moment in which a stranger can connect.
    const mode_t old_mask = ::umask(0177);
    const int rc = ::bind(fd.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    ::umask(old_mask);
    if (rc != 0) throw std::runtime_error(system_error("listen " + spec.text + ": bind"));
    BoundSocket s;
    s.family = AF_UNIX;
    s.description = spec.text;
    s.unix_path = spec.path;
    struct stat st {};
    ::stat(spec.path.c_str(), &st);
    const bool change_owner = (access.owner != static_cast<uid_t>(-1) && access.owner != st.st_uid) ||
                              (access.group != static_cast<gid_t>(-1) && access.group != st.st_gid);
    if (change_owner && ::chown(spec.path.c_str(), access.owner, access.group) != 0) {
        const std::string message = system_error("listen " + spec.text + ": chown");
        ::unlink(spec.path.c_str());
        throw std::runtime_error(message);
    }
    if (::chmod(spec.path.c_str(), access.mode) != 0) {
        const std::string message = system_error("listen " + spec.text + ": chmod");
        ::unlink(spec.path.c_str());
        throw std::runtime_error(message);
    }
    if (::listen(fd.fd, backlog) != 0) {
        const std::string message = system_error("listen " + spec.text + ": listen");
        ::unlink(spec.path.c_str());
        throw std::runtime_error(message);
    }
    if (::stat(spec.path.c_str(), &st) == 0) {  // after chown/chmod, which change ctime
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.ctime = st.st_ctim;
    }
    s.fd = fd.release();
    return s;
}

}  // namespace

std::optional<ListenSpec> parse_listen_spec(std::string_view text, std::string* error) {
    // The config checked the value with the same parser: one reading of the syntax everywhere.
    ListenSpec spec;
    spec.text = std::string(text);
    ListenAddress address;
    try {
        address = parse_policyd_listen(spec.text);
    } catch (const ConfigError& e) {
        return fail(error, "listen " + spec.text + ": " + e.what());
    }
    switch (address.family) {
        case ListenAddress::Family::unix_path:
            spec.kind = ListenSpec::Kind::unix_path;
            spec.path = address.path;
            break;
        case ListenAddress::Family::inet:
        case ListenAddress::Family::inet6:
            spec.kind = ListenSpec::Kind::inet;
            spec.host = address.host;
            spec.port = std::to_string(address.port);
            break;
    }
    return spec;
}

std::optional<unsigned> parse_socket_mode(std::string_view text) {
    if (text.empty() || text.size() > 4) return std::nullopt;
    unsigned mode = 0;
    for (char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        mode = mode * 8 + static_cast<unsigned>(c - '0');
    }
    if (mode > 0777) return std::nullopt;
    return mode;
}

std::vector<BoundSocket> bind_listener(const ListenSpec& spec, const UnixSocketAccess& access, int backlog) {
    switch (spec.kind) {
        case ListenSpec::Kind::inet: return bind_inet(spec, backlog);
        case ListenSpec::Kind::unix_path: return {bind_unix(spec, access, backlog)};
    }
    return {};
}

void release_listener(BoundSocket& socket) {
    if (socket.fd >= 0) {
        ::close(socket.fd);
        socket.fd = -1;
    }
    if (socket.unix_path.empty()) return;
    struct stat st {};
    if (::lstat(socket.unix_path.c_str(), &st) == 0 && st.st_dev == socket.dev && st.st_ino == socket.ino &&
        st.st_ctim.tv_sec == socket.ctime.tv_sec && st.st_ctim.tv_nsec == socket.ctime.tv_nsec)
        ::unlink(socket.unix_path.c_str());
    socket.unix_path.clear();
}

}  // namespace relay
